import type { CommandTable } from '../../server/router.js';
import type { Session } from '../../session/session.js';
import type { AuthService } from './auth-service.js';

/** `auth.challenge`, `auth.proof`, `auth.password` (docs/protocol.md §3.2). */
export function authCommands(auth: AuthService, onLogin: (session: Session) => void): CommandTable {
  return {
    'auth.challenge': async (ctx) => {
      await ctx.reply({ ...auth.challenge(ctx.session, ctx.fields.user) });
    },
    'auth.proof': async (ctx) => {
      const identity = auth.proof(ctx.session, ctx.fields.proof);
      onLogin(ctx.session);
      await ctx.reply({ user: identity.name, role: identity.role });
    },
    'auth.password': async (ctx) => {
      const identity = await auth.password(ctx.session, ctx.fields.user, ctx.fields.password);
      onLogin(ctx.session);
      await ctx.reply({ user: identity.name, role: identity.role });
    },
  };
}

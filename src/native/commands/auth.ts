import type { Identity } from '../../accounts/actor.js';
import type { AuthService } from '../../services/auth/auth-service.js';
import type { CommandTable } from '../router.js';
import type { Session } from '../session.js';

/** `auth.challenge`, `auth.proof`, `auth.password` (docs/protocol.md §3.2). */
export function authCommands(auth: AuthService, onLogin: (session: Session) => void): CommandTable {
  const login = (session: Session, identity: Identity): { user: string; role: Identity['role'] } => {
    session.identity = identity;
    onLogin(session);
    return { user: identity.name, role: identity.role };
  };
  return {
    'auth.challenge': async (ctx) => {
      await ctx.reply({ ...auth.challenge(ctx.session, ctx.fields.user) });
    },
    'auth.proof': async (ctx) => {
      await ctx.reply(login(ctx.session, auth.proof(ctx.session, ctx.fields.proof)));
    },
    'auth.password': async (ctx) => {
      await ctx.reply(login(ctx.session, await auth.verifyPassword(ctx.session, ctx.fields.user, ctx.fields.password)));
    },
  };
}

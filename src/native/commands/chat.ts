import { encodeHeader } from '../../codec/index.js';
import { GridlinkError } from '../../errors/index.js';
import type { ChatEvent } from '../../protocol/v1.js';
import type { CommandTable } from '../router.js';
import type { Session } from '../session.js';
import type { ChatRooms, Membership } from '../../services/chat/chat-rooms.js';

/**
 * Native chat (docs/protocol.md §3.4; docs/protocol.md §3.5): `chat.join`, `chat.leave`,
 * `chat.say`, `chat.msg`, `chat.who`. Room events reach the member as frames
 * `{"v":1,"cmd":"chat.event",…}` without an `id`, written with backpressure:
 * a member that stops reading fills its bounded queue and is disconnected.
 */
export function chatCommands(rooms: ChatRooms, allowAnonymous: boolean): CommandTable {
  const memberships = new WeakMap<Session, Map<string, Membership>>();
  // One event object reaches every member of a room: encode its frame once.
  const encoded = new WeakMap<ChatEvent, Buffer>();
  const frameOf = (event: ChatEvent): Buffer => {
    let frame = encoded.get(event);
    if (frame === undefined) {
      frame = encodeHeader({ v: 1, cmd: 'chat.event', ...event });
      encoded.set(event, frame);
    }
    return frame;
  };

  const of = (session: Session): Map<string, Membership> => {
    if (session.identity === null && !allowAnonymous) throw new GridlinkError('GL_ERR_AUTH_REQUIRED');
    let joined = memberships.get(session);
    if (joined === undefined) {
      const created = new Map<string, Membership>();
      joined = created;
      memberships.set(session, created);
      session.onClose(() => {
        for (const membership of created.values()) membership.leave();
      });
    }
    return joined;
  };
  const member = (session: Session, room: string): Membership => {
    const membership = of(session).get(room);
    if (membership === undefined || !membership.active) throw new GridlinkError('GL_ERR_CHAT_NOT_MEMBER', room);
    return membership;
  };

  return {
    'chat.join': async (ctx) => {
      const joined = of(ctx.session);
      const { room, nick } = ctx.fields;
      if (joined.get(room)?.active === true) throw new GridlinkError('GL_ERR_CHAT_NICK_TAKEN', `you are already in ${room}`);
      const session = ctx.session;
      // Asynchronous: in a cluster the name is claimed on every node first (docs/cluster.md).
      const membership = await rooms.join(room, nick, {
        deliver: (event) => session.sendEncoded(frameOf(event)),
        drop: (reason) => session.close(new GridlinkError(reason === 'kicked' ? 'GL_ERR_CHAT_KICKED' : 'GL_ERR_CHAT_TOO_SLOW')),
      });
      if (session.closed) {
        membership.leave();
        return;
      }
      joined.set(room, membership);
      await ctx.reply({ room, nick, members: rooms.members(room) });
    },
    'chat.leave': async (ctx) => {
      member(ctx.session, ctx.fields.room).leave();
      of(ctx.session).delete(ctx.fields.room);
      await ctx.reply({});
    },
    'chat.say': async (ctx) => {
      member(ctx.session, ctx.fields.room).say(ctx.fields.text);
      await ctx.reply({});
    },
    'chat.msg': async (ctx) => {
      member(ctx.session, ctx.fields.room).whisper(ctx.fields.to, ctx.fields.text);
      await ctx.reply({});
    },
    'chat.who': async (ctx) => {
      of(ctx.session);
      await ctx.reply({ room: ctx.fields.room, members: rooms.members(ctx.fields.room) });
    },
  };
}

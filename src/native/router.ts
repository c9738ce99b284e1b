import type { Readable } from 'node:stream';
import type { OutgoingBody } from '../transport/frame-writer.js';
import type { Frame, FrameHeader } from '../codec/index.js';
import { GridlinkError } from '../errors/index.js';
import { commands, isCommandName, requestId, type CommandFields, type CommandName, type ReplyOf, type RequestId } from '../protocol/v1.js';
import type { Session } from './session.js';

/** What a versioned command handler gets (docs/protocol.md §3). */
export interface RequestContext<C extends CommandName> {
  readonly session: Session;
  readonly id: RequestId;
  readonly fields: CommandFields<C>;
  /** The data of commands that carry a body; null otherwise. */
  readonly body: Readable | null;
  readonly bodySize: number;
  /** Sends the command's reply (docs/protocol.md §3), with this request's id and `cmd`; `size` when a body follows. */
  reply(fields: ReplyOf<C> & { size?: number }, body?: OutgoingBody): Promise<void>;
}

export type CommandHandler<C extends CommandName> = (ctx: RequestContext<C>) => Promise<void>;
export type CommandTable = { [C in CommandName]?: CommandHandler<C> };

/** Handles a legacy frame (a header without "v", docs/protocol.md §2). */
export type LegacyHandler = (session: Session, frame: Frame) => Promise<void>;

/**
 * Routes each frame to its service: headers without "v" to the legacy
 * handler, "v":1 to the command table after validating the fields against the
 * command's schema. Errors a handler throws become error frames carrying the
 * request id; fatal ones close the connection.
 */
export function createRouter(table: CommandTable, legacy: LegacyHandler) {
  return async (session: Session, frame: Frame): Promise<void> => {
    const { header } = frame;
    if (!Object.hasOwn(header, 'v')) {
      await legacy(session, frame);
      return;
    }
    if (header['v'] !== 1) {
      session.close(new GridlinkError('GL_ERR_PROTO_BAD_VERSION', `got ${JSON.stringify(header['v'])}`));
      return;
    }
    const parsedId = requestId.safeParse(header['id']);
    const id = parsedId.success ? parsedId.data : undefined;
    try {
      if (id === undefined) throw new GridlinkError('GL_ERR_PROTO_BAD_FIELD', '"id" must be a non-negative integer or a string of 1..64 characters');
      await dispatch(session, table, header, frame, id);
    } catch (err) {
      if (!(err instanceof GridlinkError)) throw err;
      if (err.fatal) {
        session.close(err, id);
        return;
      }
      await session.send({ v: 1, id: id ?? null, cmd: 'error', code: err.code, message: err.message });
    }
  };
}

async function dispatch(session: Session, table: CommandTable, header: FrameHeader, frame: Frame, id: RequestId): Promise<void> {
  const cmd = header.cmd;
  if (!isCommandName(cmd) || table[cmd] === undefined) {
    throw new GridlinkError('GL_ERR_PROTO_UNKNOWN_CMD', JSON.stringify(cmd.slice(0, 64)));
  }
  const spec = commands[cmd];
  if (frame.body !== null && !spec.body) throw new GridlinkError('GL_ERR_PROTO_UNEXPECTED_BODY', cmd);
  if (frame.body === null && spec.body) throw new GridlinkError('GL_ERR_PROTO_BAD_FIELD', `${cmd} needs "size" and a body`);
  const parsed = spec.fields.safeParse(header);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') ?? '';
    throw new GridlinkError('GL_ERR_PROTO_BAD_FIELD', `${cmd}: ${where === '' ? '' : `"${where}" `}${issue?.message ?? 'invalid'}`);
  }
  const handler = table[cmd] as CommandHandler<typeof cmd>;
  await handler({
    session,
    id,
    fields: parsed.data,
    body: frame.body,
    bodySize: frame.bodySize,
    reply: (fields, body) => session.send({ v: 1, id, cmd, ...fields }, body),
  });
}

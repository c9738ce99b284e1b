import type { Readable } from 'node:stream';
import type { z } from 'zod';
import type { Frame, FrameHeader } from '../codec/index.js';
import { GridlinkError } from '../errors/index.js';
import { pushSchemas, replySchema, type CommandName, type FieldsOf, type PushName, type PushOf, type ReplyOf, type RequestId } from '../protocol/v1.js';
import type { OutgoingBody } from '../transport/frame-writer.js';
import type { FrameConnection } from './frame-connection.js';

/**
 * Commands that move file bytes: `put.data` sends a body and `get` receives
 * one, then a `get.end` frame. They are pipelined by hand (files-client.ts)
 * with {@link NativeChannel.post} and {@link NativeChannel.reply}.
 */
type TransferCommand = 'put.data' | 'get';
/** Commands of one request and one reply header, neither with a body. */
export type PlainCommand = Exclude<CommandName, TransferCommand>;

/**
 * The typed side of a native connection (docs/protocol.md §3): requests are
 * built from the fields the command table in src/protocol/v1.ts declares, and
 * every reply and pushed frame is checked against that table's schema before
 * anyone sees it. A reply that does not match is a GL_ERR_CLIENT_PROTOCOL
 * thrown to the caller; a pushed frame that does not match ends the
 * connection with it (no caller is waiting for it).
 */
export class NativeChannel {
  readonly #conn: FrameConnection;

  constructor(conn: FrameConnection) {
    this.#conn = conn;
  }

  /** Sends `cmd` with `fields` and returns its reply, checked. */
  async request<C extends PlainCommand>(cmd: C, fields: FieldsOf<C>): Promise<ReplyOf<C>> {
    const id = this.#conn.open();
    try {
      await this.post(id, cmd, fields);
      return (await this.reply(id, cmd, false)).reply;
    } finally {
      this.#conn.done(id);
    }
  }

  /** Allocates a request id for {@link post} and {@link reply}; give it back with {@link done}. */
  open(): RequestId {
    return this.#conn.open();
  }

  done(id: RequestId): void {
    this.#conn.done(id);
  }

  /** Sends request `id` without waiting for its reply (pipelining); `body` goes with `put.data`. */
  post<C extends CommandName>(id: RequestId, cmd: C, fields: FieldsOf<C>, body?: { readonly size: number; readonly data: OutgoingBody }): Promise<void> {
    if (body === undefined) return this.#conn.send({ v: 1, id, cmd, ...fields });
    return this.#conn.send({ v: 1, id, cmd, ...fields, size: body.size }, body.data);
  }

  /**
   * The next reply to request `id`, checked as `cmd`'s. `withBody` says
   * whether it must carry a body (the reply to `get`) or must not.
   */
  async reply<C extends CommandName>(id: RequestId, cmd: C, withBody: boolean): Promise<{ reply: ReplyOf<C>; body: Readable | null }> {
    const frame = await this.#conn.receive(id);
    return { reply: checkFrame(frame, cmd, replySchema(cmd), withBody), body: frame.body };
  }

  /**
   * The next frame of request `id` that is not its reply (the `get.end`
   * after a download), checked against `schema`.
   */
  async follow<T>(id: RequestId, cmd: string, schema: z.ZodType<T>): Promise<T> {
    return checkFrame(await this.#conn.receive(id), cmd, schema, false);
  }

  /**
   * Calls `listener` with every frame the server pushes as `cmd` (frames
   * without an id: docs/protocol.md §3.4, §3.6), checked. Other pushed frames
   * are left to their own listeners.
   */
  onPush<P extends PushName>(cmd: P, listener: (push: PushOf<P>) => void): void {
    const schema = pushSchemas[cmd];
    this.#conn.onPush((header) => {
      if (header.cmd !== cmd) return;
      if (passes(schema, header)) listener(header);
      else this.#conn.abort(new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `malformed ${cmd} frame: ${issueOf(schema, header)}`));
    });
  }

  /**
   * Collects a paged listing (docs/protocol.md §3.6 "Pages"): `page` asks
   * for the items from `offset` (undefined for the first page) and says
   * where the next page starts, null after the last.
   */
  async pages<T>(cmd: PlainCommand, page: (offset: number | undefined) => Promise<{ items: T[]; next: number | null }>): Promise<T[]> {
    const out: T[] = [];
    for (let offset = 0; ; ) {
      const { items, next } = await page(offset === 0 ? undefined : offset);
      out.push(...items);
      if (next === null) return out;
      if (next <= offset) throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `${cmd}: the server's next page (${next}) does not advance`);
      offset = next;
    }
  }
}

/** The header of `frame`, checked: the expected `cmd`, the schema's fields, a body exactly when expected. */
function checkFrame<T>(frame: Frame, cmd: string, schema: z.ZodType<T>, withBody: boolean): T {
  const { header, body } = frame;
  let problem: string;
  if (header.cmd !== cmd) problem = `expected ${cmd}, got ${shown(header)}`;
  else if ((body !== null) !== withBody) problem = withBody ? 'no data' : 'unexpected data';
  else if (passes(schema, header)) return header;
  else problem = issueOf(schema, header);
  body?.resume(); // nobody will read it: let the frames behind it through
  throw new GridlinkError('GL_ERR_CLIENT_PROTOCOL', `malformed ${cmd} reply: ${problem}`);
}

/**
 * True when `value` passes `schema`. It is then handed on as it came
 * (envelope and unknown fields included: docs/protocol.md §1 has them
 * ignored, not removed), and it already is a `T` because every reply and
 * push schema gives the type it accepts (proved at the end of
 * src/protocol/v1.ts).
 */
function passes<T>(schema: z.ZodType<T>, value: unknown): value is T {
  return schema.safeParse(value).success;
}

/** What is wrong with `value`, e.g. `"entry.length": Invalid input: expected number, received string` (the failure path only). */
function issueOf(schema: z.ZodType, value: unknown): string {
  const issue = schema.safeParse(value).error?.issues[0];
  if (issue === undefined) return 'invalid';
  const where = issue.path.map(String).join('.');
  return where === '' ? issue.message : `"${where}": ${issue.message}`;
}

/** A peer's `cmd`, quoted and cut short for a message. */
function shown(header: FrameHeader): string {
  return JSON.stringify(header.cmd.slice(0, 64));
}

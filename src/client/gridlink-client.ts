import type { GridlinkError } from '../errors/index.js';
import type { Alarm, DeviceStatus, HistorySample, OperateResult, PointEvent, PointSnapshot, SelectLease } from '../protocol/replies.js';
import type { ChatEvent, EntryInfo, ReplyOf } from '../protocol/v1.js';
import { ChatClient } from './chat-client.js';
import { FilesClient, type TransferOptions } from './files-client.js';
import { FrameConnection, type ConnectOptions } from './frame-connection.js';
import { NativeChannel } from './native-channel.js';
import { ScadaClient, type WatchListeners } from './scada-client.js';
import { SessionClient } from './session-client.js';
import type { TransferResult } from './transfer-progress.js';

export type { TransferOptions };

/**
 * The client of gridlink's native protocol (docs/protocol.md §3), used by the
 * CLI, the tests and the benchmarks: one connection, its commands by area
 * (session-client.ts, files-client.ts, chat-client.ts, scada-client.ts), every
 * request typed and every reply checked by the command table of
 * src/protocol/v1.ts (native-channel.ts). Transfers resume where an earlier
 * attempt stopped and end with a SHA-256 check of the whole file.
 */
export class GridlinkClient {
  readonly #conn: FrameConnection;
  readonly #session: SessionClient;
  readonly #files: FilesClient;
  readonly #chat: ChatClient;
  readonly #scada: ScadaClient;

  private constructor(conn: FrameConnection) {
    const channel = new NativeChannel(conn);
    this.#conn = conn;
    this.#session = new SessionClient(channel);
    this.#files = new FilesClient(channel);
    this.#chat = new ChatClient(channel);
    this.#scada = new ScadaClient(channel);
  }

  static async connect(options: ConnectOptions): Promise<GridlinkClient> {
    return new GridlinkClient(await FrameConnection.connect(options));
  }

  // --- session (docs/protocol.md §3.1, §3.2) ---

  hello(): Promise<ReplyOf<'hello'>> {
    return this.#session.hello();
  }

  ping(): Promise<void> {
    return this.#session.ping();
  }

  /** Logs in with the challenge–response: the password never leaves this process, so this is safe on any connection. */
  login(user: string, password: string): Promise<ReplyOf<'auth.proof'>> {
    return this.#session.login(user, password);
  }

  /** Logs in by sending the password (the server accepts it only over TLS or loopback). */
  loginWithPassword(user: string, password: string): Promise<ReplyOf<'auth.password'>> {
    return this.#session.loginWithPassword(user, password);
  }

  // --- files (docs/protocol.md §3.3) ---

  stat(path: string): Promise<EntryInfo> {
    return this.#files.stat(path);
  }

  pwd(): Promise<string> {
    return this.#files.pwd();
  }

  cd(path: string): Promise<string> {
    return this.#files.cd(path);
  }

  ls(path?: string): Promise<ReplyOf<'ls'>> {
    return this.#files.ls(path);
  }

  mkdir(path: string, parents = false): Promise<string> {
    return this.#files.mkdir(path, parents);
  }

  rm(path: string): Promise<string> {
    return this.#files.rm(path);
  }

  rmdir(path: string): Promise<string> {
    return this.#files.rmdir(path);
  }

  mv(from: string, to: string): Promise<ReplyOf<'mv'>> {
    return this.#files.mv(from, to);
  }

  /**
   * Uploads `local` to `remote`: asks where a previous attempt stopped, sends
   * the rest, and commits with the SHA-256 of the whole file; the server renames
   * it into place only if its own checksum agrees.
   */
  put(local: string, remote: string, options: TransferOptions = {}): Promise<TransferResult> {
    return this.#files.put(local, remote, options);
  }

  /**
   * Downloads `remote` to `local`: bytes go to `<local>.gridlink-part`, which a
   * rerun continues; the file is renamed to `local` only after the SHA-256 of
   * the whole file matches the server's.
   */
  get(remote: string, local: string, options: TransferOptions = {}): Promise<TransferResult> {
    return this.#files.get(remote, local, options);
  }

  // --- chat (docs/protocol.md §3.4) ---

  /**
   * Joins a chat room; room events (others joining, leaving, messages,
   * private messages, announcements) arrive at `onEvent`.
   */
  joinChat(room: string, nick: string, onEvent: (event: ChatEvent) => void): Promise<ReplyOf<'chat.join'>> {
    return this.#chat.join(room, nick, onEvent);
  }

  say(room: string, text: string): Promise<void> {
    return this.#chat.say(room, text);
  }

  whisper(room: string, to: string, text: string): Promise<void> {
    return this.#chat.whisper(room, to, text);
  }

  who(room: string): Promise<string[]> {
    return this.#chat.who(room);
  }

  leaveChat(room: string): Promise<void> {
    return this.#chat.leave(room);
  }

  // --- SCADA data plane (docs/protocol.md §3.6) ---

  points(pattern?: string): Promise<PointSnapshot[]> {
    return this.#scada.points(pattern);
  }

  devices(): Promise<DeviceStatus[]> {
    return this.#scada.devices();
  }

  history(point: string, since: number, until?: number, limit?: number): Promise<HistorySample[]> {
    return this.#scada.history(point, since, until, limit);
  }

  events(since: number, options: { until?: number; limit?: number; pattern?: string } = {}): Promise<PointEvent[]> {
    return this.#scada.events(since, options);
  }

  alarms(all = false): Promise<Alarm[]> {
    return this.#scada.alarms(all);
  }

  acknowledge(alarm: number): Promise<Alarm> {
    return this.#scada.acknowledge(alarm);
  }

  /** Takes the exclusive selection of a control point (held by this connection until used, released or expired). */
  select(point: string): Promise<SelectLease> {
    return this.#scada.select(point);
  }

  deselect(point: string): Promise<void> {
    return this.#scada.deselect(point);
  }

  /** Operates a point this connection selected; resolves once the status feedback confirms it. */
  operate(point: string, value: number): Promise<OperateResult> {
    return this.#scada.operate(point, value);
  }

  /** Shows `value` in place of the device's (quality substituted), or releases it with null. */
  substitute(point: string, value: number | null): Promise<PointSnapshot> {
    return this.#scada.substitute(point, value);
  }

  /**
   * Watches points: resolves with their current snapshot; then every event
   * of a matching point (and, with `onAlarm`, every alarm change) arrives at
   * the listeners, in order.
   */
  watch(pattern: string | undefined, listeners: WatchListeners): Promise<PointSnapshot[]> {
    return this.#scada.watch(pattern, listeners);
  }

  unwatch(): Promise<void> {
    return this.#scada.unwatch();
  }

  // --- the connection ---

  /** Calls `listener` once when the connection fails (kicked, too slow, closed); returns a stop function. */
  onFailure(listener: (err: GridlinkError) => void): () => void {
    return this.#conn.onFailure(listener);
  }

  /** A connection-level failure (e.g. disconnected as a too-slow chat reader), once it happened. */
  get failure(): GridlinkError | null {
    return this.#conn.failure;
  }

  /** Closes the connection politely. */
  async close(): Promise<void> {
    await this.#conn.end();
  }

  /** Cuts the connection at once. */
  destroy(): void {
    this.#conn.destroy();
  }
}

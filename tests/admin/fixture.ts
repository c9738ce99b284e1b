import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { LocalBus } from '../../src/bus/local-bus.js';
import { ChatRooms } from '../../src/services/chat/chat-rooms.js';
import type { DestinationStream } from 'pino';
import { AuditLog } from '../../src/accounts/audit-log.js';
import { openDatabase, type GridlinkDatabase } from '../../src/accounts/database.js';
import { UserStore } from '../../src/accounts/user-store.js';
import { AdminServer, type AdminServerOptions } from '../../src/admin/admin-server.js';
import { FrameDecoder, type FrameHeader } from '../../src/codec/index.js';
import { createLogger } from '../../src/log/logger.js';
import { makeTempDir } from '../helpers/temp-dir.js';

/** A real database, user store, audit log and admin server in a temp dir; every log line is kept. */
export interface AdminFixture {
  readonly dir: string;
  readonly socketPath: string;
  readonly db: GridlinkDatabase;
  readonly users: UserStore;
  readonly audit: AuditLog;
  /** Real chat rooms on an in-process bus, for announce and kick. */
  readonly chat: ChatRooms;
  readonly server: AdminServer;
  /** Raw JSON log lines written so far (debug level). */
  readonly logLines: string[];
  /** Another admin server on the same socket and stores. */
  makeServer(overrides?: Partial<AdminServerOptions>): AdminServer;
  stop(): Promise<void>;
}

export async function startAdminFixture(overrides: Partial<AdminServerOptions> = {}): Promise<AdminFixture> {
  const temp = await makeTempDir('gl-admin-');
  const logLines: string[] = [];
  const destination: DestinationStream = { write: (line: string) => void logLines.push(line) };
  const logger = createLogger('debug', destination);
  const db = openDatabase(join(temp.path, 'gridlink.db'));
  const users = new UserStore(db);
  const audit = new AuditLog(db, logger);
  const socketPath = join(temp.path, 'admin.sock');
  const chat = new ChatRooms(new LocalBus());
  const makeServer = (more: Partial<AdminServerOptions> = {}): AdminServer =>
    new AdminServer({ socketPath, users, audit, logger, chat, status: () => ({ uptimeMs: 3_723_000, connections: 2, server: 'test' }), ...overrides, ...more });
  const server = makeServer();
  await server.listen();
  return {
    dir: temp.path,
    socketPath,
    db,
    users,
    audit,
    chat,
    server,
    logLines,
    makeServer,
    stop: async () => {
      await server.close();
      db.close();
      await temp.cleanup();
    },
  };
}

/** A raw peer on a Unix socket: sends bytes, collects reply headers, notices the close. */
export class RawAdminPeer {
  readonly frames: FrameHeader[] = [];
  readonly #socket: Socket;
  #closed = false;
  #wakeup: (() => void) | null = null;

  private constructor(socket: Socket) {
    this.#socket = socket;
    const decoder = new FrameDecoder((frame) => {
      this.frames.push(frame.header);
      frame.body?.resume();
      this.#wake();
    }, undefined, true);
    decoder.on('error', () => undefined);
    socket.on('error', () => undefined);
    // The server ends its side (FIN); with allowHalfOpen that is 'end', not 'close'.
    for (const event of ['end', 'close']) {
      socket.once(event, () => {
        this.#closed = true;
        this.#wake();
      });
    }
    socket.pipe(decoder);
  }

  static open(path: string): Promise<RawAdminPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ path, allowHalfOpen: true });
      socket.once('connect', () => resolve(new RawAdminPeer(socket)));
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  /** Waits until `count` frames have arrived (or the socket closed, or 5 s passed). */
  async waitFrames(count: number): Promise<FrameHeader[]> {
    const deadline = Date.now() + 5_000;
    while (this.frames.length < count && !this.#closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.#wakeup = resolve;
        setTimeout(resolve, 100);
      });
    }
    return this.frames;
  }

  /** Waits for the server to close the connection; true if it did within 5 s. */
  async waitClosed(): Promise<boolean> {
    const deadline = Date.now() + 5_000;
    while (!this.#closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return this.#closed;
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #wake(): void {
    const wake = this.#wakeup;
    this.#wakeup = null;
    wake?.();
  }
}

import { isIPv4, isIPv6, type Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { Actor, Identity } from '../accounts/actor.js';
import { GridlinkError } from '../errors/index.js';
import type { AuthService, LoginPeer } from '../services/auth/auth-service.js';
import type { Download } from '../services/files/download.js';
import type { FileService } from '../services/files/file-service.js';
import { FileSession } from '../services/files/file-session.js';
import { printable } from '../services/files/path-rules.js';
import type { StreamStart, StreamUpload } from '../services/files/stream-upload.js';
import { waitForDrain } from '../transport/wait-drain.js';
import { DirectReads, type ReadSink } from '../transport/direct-reads.js';
import { CommandLineReader, MAX_LINE_BYTES, parseCommand, type CommandLine } from './command-lines.js';
import { ActiveEndpoint, endedCleanly, isLoopback, PassiveEndpoint, pasvAddress, plainAddress, startReading, type DataEndpoint, type PassivePorts } from './data-connections.js';
import type { LoginGate } from './login-gate.js';
import { listable, listLine, MLST_FACTS, mlstLine, timeVal, type MlstFact } from './listing.js';
import { formatReply, FtpReply, quotePath, replyFor } from './replies.js';

export interface FtpSessionOptions {
  readonly files: FileService;
  readonly auth: AuthService;
  readonly logger: Logger;
  readonly passivePorts: PassivePorts;
  /** Paces password checks per address (login-gate.ts). */
  readonly logins: LoginGate;
  /** Set when `ftp.tls` is configured: AUTH TLS and PROT P are offered. */
  readonly tls: SecureContext | null;
  readonly idleTimeoutMs: number;
  readonly dataTimeoutMs: number;
}

/** Commands a client may send before it has logged in. */
const BEFORE_LOGIN = new Set(['USER', 'PASS', 'AUTH', 'PBSZ', 'PROT', 'FEAT', 'SYST', 'NOOP', 'QUIT', 'HELP', 'OPTS', 'TYPE', 'MODE', 'STRU', 'STAT', 'ABOR', 'ACCT', 'ALLO']);

/** Every command this front answers (HELP lists them). */
const COMMANDS = [
  'ABOR', 'ACCT', 'ALLO', 'APPE', 'AUTH', 'CDUP', 'CWD', 'DELE', 'EPRT', 'EPSV', 'FEAT', 'HELP', 'LIST', 'MDTM', 'MKD', 'MLSD', 'MLST', 'MODE', 'NLST', 'NOOP', 'OPTS',
  'PASS', 'PASV', 'PBSZ', 'PORT', 'PROT', 'PWD', 'QUIT', 'REST', 'RETR', 'RMD', 'RNFR', 'RNTO', 'SIZE', 'STAT', 'STOR', 'STRU', 'SYST', 'TYPE', 'USER',
  'XCUP', 'XCWD', 'XMKD', 'XPWD', 'XRMD',
];

/** Commands known from the RFCs that this front does not implement: 502, not 500. */
const NOT_IMPLEMENTED = new Set(['SITE', 'STOU', 'REIN', 'SMNT', 'MFMT', 'MFCT', 'MFF', 'CCC', 'ADAT', 'MIC', 'CONF', 'ENC', 'LANG', 'HOST', 'LPRT', 'LPSV']);

/** Commands read ahead of the one running before the connection stops being read. */
const MAX_QUEUED = 16;

/** Failed passwords one control connection may send before it is closed. */
const MAX_FAILED_LOGINS = 5;

/**
 * After the data of a STOR ends, how long to wait for the control
 * connection's end before committing (docs/ftp.md "Resuming"): a client
 * that dies mid-upload closes both connections at once, and its data must
 * then be kept as a partial file, not stored as if it were whole. Its
 * kernel sends the two FINs microseconds apart; the wait covers their
 * reordering on the way, and {@link cutGrace} a server too busy to read.
 */
const CUT_GRACE_MS = 10;

/**
 * The grace after a STOR's data ended: {@link CUT_GRACE_MS}, then one more
 * turn of the event loop's poll phase, so that a control connection's end
 * that arrived while the loop was busy elsewhere is read before the commit,
 * however late the timer ran.
 */
async function cutGrace(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, CUT_GRACE_MS));
  await new Promise((resolve) => setImmediate(resolve));
}

/** A transfer command in progress (RETR, STOR, APPE, LIST, NLST, MLSD). */
class Transfer {
  readonly verb: string;
  readonly path: string;
  readonly controller = new AbortController();
  socket: Socket | null = null;
  bytes = 0;
  aborted = false;
  readonly done: Promise<void>;
  readonly finish: () => void;

  constructor(verb: string, path: string) {
    this.verb = verb;
    this.path = path;
    let finish = (): void => undefined;
    this.done = new Promise<void>((resolve) => (finish = resolve));
    this.finish = finish;
  }

  abort(): void {
    this.aborted = true;
    this.controller.abort();
    this.socket?.destroy();
  }
}

/**
 * One FTP control connection (docs/ftp.md): RFC 959 with RFC 2428
 * (EPSV/EPRT), RFC 3659 (SIZE, MDTM, MLSD, MLST, REST STREAM) and RFC 4217
 * (AUTH TLS). Every file operation is one call of the connection's
 * {@link FileSession}, which confines, counts, limits and audits in the
 * actor's name; this class only maps commands to calls and back.
 * Commands run one at a time in arrival order; ABOR and STAT are answered
 * at once while a transfer runs.
 */
export class FtpSession {
  readonly id: number;
  readonly #options: FtpSessionOptions;
  readonly #remoteAddress: string;
  readonly #localAddress: string;
  readonly #onClose: (session: FtpSession) => void;
  #socket: Socket;
  readonly #reader = new CommandLineReader();
  readonly #queue: CommandLine[] = [];
  #running = false;
  #closed = false;
  #gone = false;
  #secure = false;
  #protP = false;
  #pbsz = false;
  #pendingUser: string | null = null;
  #files: FileSession | null = null;
  #failedLogins = 0;
  #ascii = false;
  #rest = 0;
  #renameFrom: string | null = null;
  #data: DataEndpoint | null = null;
  #epsvOnly = false;
  #transfer: Transfer | null = null;
  #facts: ReadonlySet<MlstFact> = new Set(MLST_FACTS);

  constructor(socket: Socket, id: number, options: FtpSessionOptions, onClose: (session: FtpSession) => void) {
    this.id = id;
    this.#options = options;
    this.#socket = socket;
    this.#remoteAddress = plainAddress(socket.remoteAddress);
    this.#localAddress = plainAddress(socket.localAddress);
    this.#onClose = onClose;
    this.#attach(socket);
    this.#reply(220, 'gridlink FTP ready; log in with USER and PASS (send AUTH TLS first unless you are on this machine)');
  }

  /** True while a transfer command runs. */
  get transferring(): boolean {
    return this.#transfer !== null;
  }

  /**
   * The server stops: an idle connection is told 421 and closed at once; a
   * transfer gets `graceMs` to finish, then it is cut and the connection closed.
   */
  async shutdown(graceMs: number): Promise<void> {
    const transfer = this.#transfer;
    if (transfer !== null) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([transfer.done, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    // Past the grace period a transfer is cut (a STOR keeps its partial file).
    this.#transfer?.abort();
    await this.#transfer?.done;
    if (this.#closed) return;
    this.#reply(421, 'the server is stopping; reconnect later');
    this.#socket.end();
    this.#socket.destroySoon();
    setTimeout(() => this.#socket.destroy(), 1_000).unref();
  }

  // ---------------------------------------------------------------------------
  // The control connection

  #attach(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.#closedByPeer());
    socket.on('timeout', () => this.#onIdle());
    socket.setTimeout(this.#options.idleTimeoutMs);
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    const lines = this.#reader.push(chunk);
    if (lines === 'overflow') {
      // Refused without buffering the rest: the connection ends here.
      this.#reply(500, `command line longer than ${MAX_LINE_BYTES} bytes; send shorter commands`);
      this.#options.logger.warn({ event: 'ftp.line_too_long', address: this.#remoteAddress }, 'FTP command line too long: connection closed');
      this.#socket.pause();
      this.#socket.end();
      setTimeout(() => this.#socket.destroy(), 1_000).unref();
      this.#closed = true;
      return;
    }
    for (const raw of lines) {
      let command: CommandLine | null;
      try {
        command = parseCommand(raw);
      } catch {
        command = { verb: '', arg: '' };
      }
      if (command === null) continue;
      // Answered at once while a transfer runs (RFC 959 §4.1.3).
      if (this.#transfer !== null && command.verb === 'ABOR') {
        void this.#abort();
        continue;
      }
      if (this.#transfer !== null && command.verb === 'STAT' && command.arg.trim() === '') {
        const t = this.#transfer;
        this.#reply(213, `${t.verb} ${t.path === '' ? '' : `${t.path} `}in progress: ${t.bytes} bytes so far`);
        continue;
      }
      this.#queue.push(command);
    }
    if (this.#queue.length >= MAX_QUEUED) this.#socket.pause();
    void this.#runQueue();
  }

  async #runQueue(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (let command = this.#queue.shift(); command !== undefined && !this.#closed; command = this.#queue.shift()) {
        if (this.#queue.length < MAX_QUEUED / 2 && this.#socket.isPaused()) this.#socket.resume();
        await this.#run(command);
      }
    } finally {
      this.#running = false;
    }
  }

  async #run({ verb, arg }: CommandLine): Promise<void> {
    if (verb === '') {
      this.#reply(501, 'the command is not valid UTF-8; send names in UTF-8');
      return;
    }
    if (verb !== 'RNTO' && verb !== 'RNFR') this.#renameFrom = null;
    try {
      if (this.#files === null && !BEFORE_LOGIN.has(verb) && (COMMANDS.includes(verb) || NOT_IMPLEMENTED.has(verb))) {
        throw new FtpReply(530, 'log in first with USER and PASS');
      }
      await this.#dispatch(verb, arg);
    } catch (err) {
      if (err instanceof GridlinkError && err.code === 'GL_ERR_AUTH_REQUIRED' && this.#files !== null) this.#logout();
      const reply = replyFor(err);
      if (!(err instanceof FtpReply) && !(err instanceof GridlinkError)) {
        this.#options.logger.error({ event: 'ftp.command_failed', verb, err }, 'FTP command failed');
      }
      this.#reply(reply.code, reply.message);
    }
  }

  #reply(code: number, text: string | readonly string[]): void {
    if (this.#socket.destroyed || this.#socket.writableEnded) return;
    this.#socket.write(formatReply(code, text));
  }

  #onIdle(): void {
    if (this.#transfer !== null || this.#closed) return;
    this.#reply(421, `no command for ${Math.round(this.#options.idleTimeoutMs / 1000)} s: closing; reconnect to go on`);
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), 1_000).unref();
  }

  /** The control connection closed: a running transfer is aborted (a STOR keeps its partial file). */
  #closedByPeer(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#closed = true;
    this.#queue.length = 0;
    const transfer = this.#transfer;
    transfer?.abort();
    this.#setData(null);
    void (async () => {
      await transfer?.done;
      const files = this.#files;
      this.#files = null;
      await files?.close();
      this.#onClose(this);
    })();
  }

  /** AUTH TLS: the control connection becomes TLS; whatever was sent with the command in clear is dropped. */
  #startTls(tls: SecureContext): void {
    const raw = this.#socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.removeAllListeners('timeout');
    raw.setTimeout(0);
    this.#reader.reset();
    this.#queue.length = 0;
    this.#reply(234, 'AUTH TLS ok; start the TLS handshake');
    const secure = new TLSSocket(raw, { isServer: true, secureContext: tls });
    this.#socket = secure;
    this.#attach(secure);
    secure.once('secure', () => {
      this.#secure = true;
    });
  }

  // ---------------------------------------------------------------------------
  // Commands

  async #dispatch(verb: string, arg: string): Promise<void> {
    switch (verb) {
      case 'USER':
        return this.#user(arg);
      case 'PASS':
        return this.#pass(arg);
      case 'AUTH':
        return this.#auth(arg);
      case 'PBSZ':
        return this.#pbszCommand(arg);
      case 'PROT':
        return this.#prot(arg);
      case 'QUIT':
        this.#reply(221, 'goodbye');
        // Commands sent after QUIT are not run.
        this.#closed = true;
        this.#socket.end();
        return;
      case 'NOOP':
        return this.#reply(200, 'NOOP ok');
      case 'SYST':
        return this.#reply(215, 'UNIX Type: L8');
      case 'FEAT':
        return this.#feat();
      case 'HELP':
        return this.#help(arg);
      case 'OPTS':
        return this.#opts(arg);
      case 'TYPE':
        return this.#type(arg);
      case 'MODE':
        if (arg.trim().toUpperCase() !== 'S') throw new FtpReply(504, 'only MODE S (stream) is supported; send MODE S');
        return this.#reply(200, 'mode set to S');
      case 'STRU':
        if (arg.trim().toUpperCase() !== 'F') throw new FtpReply(504, 'only STRU F (file) is supported; send STRU F');
        return this.#reply(200, 'structure set to F');
      case 'ALLO':
      case 'ACCT':
        return this.#reply(202, `${verb} is not needed on this server; go on`);
      case 'STAT':
        return this.#stat(arg);
      case 'ABOR':
        return this.#abort();
      case 'PWD':
      case 'XPWD':
        return this.#reply(257, `${quotePath(`/${this.#session().cwd}`)} is the current directory`);
      case 'CWD':
      case 'XCWD': {
        const path = await this.#session().cd(this.#need(verb, arg, 'a directory'));
        return this.#reply(250, `directory changed to ${quotePath(`/${path}`)}`);
      }
      case 'CDUP':
      case 'XCUP': {
        const files = this.#session();
        if (files.cwd === '') throw new FtpReply(550, 'already at the root of your area ("/"); CWD into a directory first');
        const path = await files.cd('..');
        return this.#reply(250, `directory changed to ${quotePath(`/${path}`)}`);
      }
      case 'MKD':
      case 'XMKD': {
        const path = await this.#session().mkdir(this.#need(verb, arg, 'a directory name'), false);
        return this.#reply(257, `${quotePath(`/${path}`)} created`);
      }
      case 'RMD':
      case 'XRMD': {
        const path = await this.#session().removeDirectory(this.#need(verb, arg, 'a directory name'));
        return this.#reply(250, `directory ${quotePath(`/${path}`)} removed`);
      }
      case 'DELE': {
        const path = await this.#session().remove(this.#need(verb, arg, 'a file name'));
        return this.#reply(250, `file ${quotePath(`/${path}`)} deleted`);
      }
      case 'RNFR': {
        const entry = await this.#session().stat(this.#need(verb, arg, 'the name to rename'));
        if (entry.path === '') throw new FtpReply(550, 'the root of your area cannot be renamed; name a file or directory in it');
        this.#renameFrom = `/${entry.path}`;
        return this.#reply(350, `${quotePath(`/${entry.path}`)} exists; send RNTO with the new name`);
      }
      case 'RNTO': {
        const from = this.#renameFrom;
        this.#renameFrom = null;
        if (from === null) throw new FtpReply(503, 'send RNFR with the old name first, then RNTO');
        const moved = await this.#session().move(from, this.#need(verb, arg, 'the new name'));
        return this.#reply(250, `renamed to ${quotePath(`/${moved.to}`)}`);
      }
      case 'SIZE':
        return this.#size(arg);
      case 'MDTM':
        return this.#mdtm(arg);
      case 'MLST':
        return this.#mlst(arg);
      case 'REST':
        return this.#restCommand(arg);
      case 'PASV':
        return this.#pasv();
      case 'EPSV':
        return this.#epsv(arg);
      case 'PORT':
        return this.#port(arg);
      case 'EPRT':
        return this.#eprt(arg);
      case 'RETR':
        return this.#retr(arg);
      case 'STOR':
        return this.#store(arg, false);
      case 'APPE':
        return this.#store(arg, true);
      case 'LIST':
      case 'NLST':
      case 'MLSD':
        return this.#listing(verb, arg);
      default:
        if (NOT_IMPLEMENTED.has(verb)) throw new FtpReply(502, `${verb} is not implemented here; HELP lists the commands this server supports`);
        throw new FtpReply(500, `unknown command ${printable(verb.slice(0, 16))}; HELP lists the commands this server supports`);
    }
  }

  /** The file session of a logged-in client. */
  #session(): FileSession {
    if (this.#files === null) throw new FtpReply(530, 'log in first with USER and PASS');
    return this.#files;
  }

  #need(verb: string, arg: string, what: string): string {
    if (arg === '') throw new FtpReply(501, `${verb} needs ${what}: ${verb} <name>`);
    return arg;
  }

  // --- accounts

  #user(arg: string): void {
    const name = arg.trim();
    if (name === '') throw new FtpReply(501, 'USER needs a name: USER <name>, or USER anonymous');
    if (this.#files !== null) this.#logout();
    this.#pendingUser = null;
    if (name.toLowerCase() === 'anonymous') {
      if (this.#options.files.anonymous === null) throw new FtpReply(530, 'anonymous access is off on this server; log in with your own user name');
      this.#pendingUser = 'anonymous';
      this.#reply(331, 'anonymous login: send any password (by custom your e-mail address)');
      return;
    }
    if (!this.#secure && !isLoopback(this.#remoteAddress)) {
      throw new FtpReply(530, 'a password may only be sent over TLS or from this machine; send AUTH TLS first (lftp: set ftp:ssl-force true; curl: --ssl-reqd)');
    }
    this.#pendingUser = name;
    this.#reply(331, `password required for ${printable(name.slice(0, 64))}; send PASS`);
  }

  async #pass(arg: string): Promise<void> {
    const user = this.#pendingUser;
    this.#pendingUser = null;
    if (user === null) throw new FtpReply(503, 'send USER with your name first, then PASS');
    if (user === 'anonymous') {
      this.#login(null);
      const writable = this.#options.files.anonymous?.writable === true;
      this.#reply(230, `anonymous access granted to the ${writable ? 'writable' : 'read-only'} anonymous area; its root is "/"`);
      return;
    }
    const peer: LoginPeer = { remoteAddress: this.#remoteAddress, secure: this.#secure, fromLoopback: isLoopback(this.#remoteAddress), via: 'ftp' };
    let identity: Identity;
    try {
      identity = await this.#options.logins.run(this.#remoteAddress, () => {
        // Gone while it waited its turn: no check for nobody.
        if (this.#closed) throw new FtpReply(421, 'the connection closed');
        return this.#options.auth.verifyPassword(peer, user, arg);
      });
    } catch (err) {
      this.#failedLogins += 1;
      if (this.#failedLogins >= MAX_FAILED_LOGINS) {
        this.#reply(421, `${MAX_FAILED_LOGINS} failed logins on this connection: closing; check the name and password, then reconnect`);
        this.#socket.end();
        return;
      }
      throw err;
    }
    this.#login(identity);
    this.#reply(230, `user ${identity.name} logged in; your home is "/"`);
  }

  #login(identity: Identity | null): void {
    const actor: Actor = { identity, address: this.#remoteAddress, front: 'ftp', connection: `ftp:${this.id}` };
    this.#files = new FileSession(this.#options.files, actor, () => this.#logout());
    this.#options.logger.info({ event: 'ftp.login', user: identity?.name ?? 'anonymous', address: this.#remoteAddress, tls: this.#secure });
  }

  #logout(): void {
    const files = this.#files;
    this.#files = null;
    this.#renameFrom = null;
    if (files !== null) void files.close();
  }

  #auth(arg: string): void {
    const mechanism = arg.trim().toUpperCase();
    const tls = this.#options.tls;
    if (tls === null) throw new FtpReply(502, 'TLS is not configured on this server (ftp.tls); connect from this machine to log in with a password');
    if (mechanism !== 'TLS' && mechanism !== 'SSL' && mechanism !== 'TLS-C' && mechanism !== 'TLS-P') throw new FtpReply(504, 'only AUTH TLS is supported; send AUTH TLS');
    if (this.#secure || this.#socket instanceof TLSSocket) throw new FtpReply(503, 'the connection already speaks TLS; go on with USER');
    if (this.#files !== null) this.#logout();
    this.#pendingUser = null;
    this.#startTls(tls);
  }

  #pbszCommand(arg: string): void {
    if (!this.#secure) throw new FtpReply(503, 'send AUTH TLS first, then PBSZ 0');
    if (!/^\d{1,10}$/u.test(arg.trim())) throw new FtpReply(501, 'PBSZ needs a number; send PBSZ 0');
    // TLS needs no buffer size: whatever was asked, it is 0 (RFC 4217 §8).
    this.#pbsz = true;
    this.#reply(200, 'PBSZ=0');
  }

  #prot(arg: string): void {
    if (!this.#secure) throw new FtpReply(503, 'send AUTH TLS and PBSZ 0 first, then PROT');
    if (!this.#pbsz) throw new FtpReply(503, 'send PBSZ 0 first, then PROT');
    const level = arg.trim().toUpperCase();
    if (level === 'P') this.#protP = true;
    else if (level === 'C') this.#protP = false;
    else throw new FtpReply(536, `protection level ${printable(level.slice(0, 8))} is not supported; send PROT P (private) or PROT C (clear)`);
    this.#reply(200, `protection level set to ${level}`);
  }

  // --- information

  #feat(): void {
    const tls = this.#options.tls !== null;
    const facts = MLST_FACTS.map((fact) => `${fact}${this.#facts.has(fact) ? '*' : ''};`).join('');
    this.#reply(211, [
      'Features:',
      ...(tls ? ['AUTH TLS'] : []),
      'EPRT',
      'EPSV',
      'MDTM',
      `MLST ${facts}`,
      'PASV',
      ...(tls ? ['PBSZ', 'PROT'] : []),
      'REST STREAM',
      'SIZE',
      'TVFS',
      'UTF8',
      'End',
    ]);
  }

  #help(arg: string): void {
    const verb = arg.trim().toUpperCase();
    if (verb !== '') {
      if (COMMANDS.includes(verb)) this.#reply(214, `${verb} is supported; docs/ftp.md describes it`);
      else throw new FtpReply(502, `${printable(verb.slice(0, 16))} is not supported; HELP lists the commands this server supports`);
      return;
    }
    const rows: string[] = [];
    for (let i = 0; i < COMMANDS.length; i += 12) rows.push(COMMANDS.slice(i, i + 12).join(' '));
    this.#reply(214, ['The following commands are recognized:', ...rows, 'Help OK; docs/ftp.md describes each']);
  }

  #opts(arg: string): void {
    const [option = '', ...rest] = arg.trim().split(/\s+/u);
    const value = rest.join(' ');
    switch (option.toUpperCase()) {
      case 'UTF8':
      case 'UTF-8':
        this.#reply(200, 'names are always UTF-8 here');
        return;
      case 'MLST': {
        const wanted = new Set(
          value
            .split(';')
            .map((f) => f.trim().toLowerCase())
            .filter((f): f is MlstFact => (MLST_FACTS as readonly string[]).includes(f)),
        );
        this.#facts = wanted;
        this.#reply(200, `MLST OPTS ${[...wanted].map((f) => `${f};`).join('')}`);
        return;
      }
      default:
        throw new FtpReply(501, `option ${printable(option.slice(0, 16))} is not supported; OPTS UTF8 ON and OPTS MLST are`);
    }
  }

  #type(arg: string): void {
    const type = arg.trim().toUpperCase().replace(/\s+/gu, ' ');
    if (type === 'I' || type === 'L 8' || type === 'L8') {
      this.#ascii = false;
      this.#reply(200, 'switching to binary mode');
    } else if (type === 'A' || type === 'A N') {
      this.#ascii = true;
      this.#reply(200, 'switching to ASCII mode (files are sent unchanged, byte for byte)');
    } else {
      throw new FtpReply(504, 'TYPE I (binary) and TYPE A are supported; send TYPE I');
    }
  }

  async #stat(arg: string): Promise<void> {
    const path = arg.trim();
    if (path === '') {
      const who = this.#files === null ? 'not logged in' : `logged in as ${this.#files.actor.identity?.name ?? 'anonymous'}`;
      this.#reply(211, [
        'gridlink FTP status:',
        `connected from ${this.#remoteAddress}, ${who}`,
        `TYPE ${this.#ascii ? 'A (files are sent unchanged)' : 'I (binary)'}, MODE S, STRU F`,
        `control connection ${this.#secure ? 'TLS' : 'in clear'}, data connections ${this.#protP ? 'TLS (PROT P)' : 'in clear (PROT C)'}`,
        'End of status',
      ]);
      return;
    }
    const lines = await this.#listLines('LIST', path);
    this.#reply(213, [`status of ${printable(path)}:`, ...lines, 'End of status']);
  }

  async #size(arg: string): Promise<void> {
    const found = await this.#session().sizeForResume(this.#need('SIZE', arg, 'a file name'));
    this.#reply(213, String(found.length));
  }

  async #mdtm(arg: string): Promise<void> {
    const entry = await this.#session().stat(this.#need('MDTM', arg, 'a file name'));
    if (entry.type === 'dir') throw new FtpReply(550, `${printable(arg)} is a directory; MDTM takes a file name`);
    this.#reply(213, timeVal(entry.mtimeMs));
  }

  async #mlst(arg: string): Promise<void> {
    const files = this.#session();
    const entry = await files.stat(arg === '' ? '.' : arg);
    const writable = (await files.area()).writable;
    this.#reply(250, [`listing ${quotePath(`/${entry.path}`)}`, mlstLine(entry, this.#facts, writable, `/${entry.path}`), 'End']);
  }

  #restCommand(arg: string): void {
    const text = arg.trim();
    if (!/^\d{1,16}$/u.test(text) || !Number.isSafeInteger(Number(text))) throw new FtpReply(501, 'REST needs a byte offset: REST <n>, n >= 0');
    this.#rest = Number(text);
    this.#reply(350, `restarting at ${this.#rest}; send RETR, STOR or APPE`);
  }

  // --- data connections (docs/ftp.md "Data connections")

  #setData(endpoint: DataEndpoint | null): void {
    this.#data?.close();
    this.#data = endpoint;
  }

  async #pasv(): Promise<void> {
    this.#session();
    if (this.#epsvOnly) throw new FtpReply(503, 'EPSV ALL was sent: use EPSV');
    const host = pasvAddress(this.#localAddress);
    if (host === null) throw new FtpReply(425, 'PASV cannot give an IPv6 address; use EPSV');
    this.#setData(null);
    const endpoint = await PassiveEndpoint.listen(this.#options.passivePorts, host, this.#remoteAddress, this.#options.logger);
    this.#setData(endpoint);
    const p = endpoint.port;
    this.#reply(227, `entering passive mode (${host.replaceAll('.', ',')},${p >> 8},${p & 0xff})`);
  }

  async #epsv(arg: string): Promise<void> {
    this.#session();
    const value = arg.trim().toUpperCase();
    if (value === 'ALL') {
      this.#epsvOnly = true;
      this.#reply(200, 'EPSV ALL ok: only EPSV from now on');
      return;
    }
    const family = isIPv4(this.#localAddress) ? '1' : '2';
    if (value !== '' && value !== family) throw new FtpReply(522, `network protocol not supported, use (${family})`);
    this.#setData(null);
    const endpoint = await PassiveEndpoint.listen(this.#options.passivePorts, this.#localAddress, this.#remoteAddress, this.#options.logger);
    this.#setData(endpoint);
    this.#reply(229, `entering extended passive mode (|||${endpoint.port}|)`);
  }

  #port(arg: string): void {
    this.#session();
    if (this.#epsvOnly) throw new FtpReply(503, 'EPSV ALL was sent: use EPSV');
    const parts = arg.trim().split(',');
    const numbers = parts.map(Number);
    if (parts.length !== 6 || numbers.some((n, i) => !/^\d{1,3}$/u.test(parts[i]!.trim()) || n > 255)) {
      throw new FtpReply(501, 'PORT needs h1,h2,h3,h4,p1,p2 (your address and port); or use PASV');
    }
    const host = numbers.slice(0, 4).join('.');
    this.#active(host, numbers[4]! * 256 + numbers[5]!, 'PORT');
  }

  #eprt(arg: string): void {
    this.#session();
    if (this.#epsvOnly) throw new FtpReply(503, 'EPSV ALL was sent: use EPSV');
    const text = arg.trim();
    const delimiter = text[0];
    const fields = delimiter === undefined ? [] : text.split(delimiter);
    // "|1|1.2.3.4|5000|" splits into ['', '1', '1.2.3.4', '5000', ''].
    if (fields.length !== 5 || !/^\d{1,5}$/u.test(fields[3]!)) throw new FtpReply(501, 'EPRT needs |1|<IPv4>|<port>| or |2|<IPv6>|<port>|; or use EPSV');
    const [, protocol, host = '', port] = fields;
    if (protocol === '1' ? !isIPv4(host) : protocol === '2' ? !isIPv6(host) : true) {
      throw new FtpReply(522, `network protocol not supported, use (${isIPv4(this.#remoteAddress) ? '1' : '2'})`);
    }
    this.#active(host, Number(port), 'EPRT');
  }

  /** PORT/EPRT: only to the control connection's own address, to a port of 1024 or more (no FTP bounce, RFC 2577). */
  #active(host: string, port: number, verb: string): void {
    if (plainAddress(host) !== this.#remoteAddress) {
      this.#options.logger.warn({ event: 'ftp.bounce_refused', address: this.#remoteAddress, target: printable(host) }, 'FTP active connection to another address refused');
      throw new FtpReply(504, `${verb} to an address other than your own (${this.#remoteAddress}) is refused; give your own address, or use PASV/EPSV`);
    }
    if (port < 1024 || port > 65_535) throw new FtpReply(504, `${verb} to port ${port} is refused; give a port from 1024 to 65535`);
    this.#setData(new ActiveEndpoint(host, port, this.#localAddress));
    this.#reply(200, `${verb} ok; now send the transfer command`);
  }

  /**
   * Runs one transfer: 150, the data connection (TLS when PROT P), `work`,
   * then 226 with what `work` returns. Failures answer 425 (no data
   * connection), 426 (it broke or ABOR), or the file service's error.
   */
  async #withData(
    verb: string,
    path: string,
    opening: string,
    work: (socket: Socket, transfer: Transfer, direct: DirectReads | null) => Promise<string>,
    sink: ReadSink | null = null,
  ): Promise<void> {
    const endpoint = this.#data;
    this.#data = null;
    if (endpoint === null) throw new FtpReply(425, 'no data connection set up; send PASV or EPSV (or PORT/EPRT) first');
    const transfer = new Transfer(verb, path);
    this.#transfer = transfer;
    let socket: Socket | null = null;
    let ok = false;
    try {
      this.#reply(150, opening);
      socket = await endpoint.open({ tls: this.#protP ? this.#options.tls : null, timeoutMs: this.#options.dataTimeoutMs, signal: transfer.controller.signal });
      // An upload reads straight into its own buffers when the socket allows (plain TCP, accepted paused).
      const direct = sink === null ? null : DirectReads.adopt(socket, sink);
      if (direct !== null) socket = direct.socket;
      else startReading(socket);
      transfer.socket = socket;
      if (transfer.aborted) throw new FtpReply(426, 'transfer aborted (ABOR); the data connection is closed');
      const data = socket;
      data.setTimeout(this.#options.dataTimeoutMs, () => data.destroy(new Error('data connection timed out')));
      const done = await work(data, transfer, direct);
      ok = true;
      this.#reply(226, done);
    } catch (err) {
      const reply = replyFor(err);
      this.#reply(reply.code, reply.message);
    } finally {
      // A failed transfer's connection is cut (an upload past the quota must stop sending); a finished one closes in order.
      if (socket !== null && ok) closeData(socket, this.#options.dataTimeoutMs);
      else socket?.destroy();
      endpoint.close();
      this.#transfer = null;
      transfer.finish();
    }
  }

  async #abort(): Promise<void> {
    const transfer = this.#transfer;
    if (transfer === null) {
      this.#setData(null);
      this.#reply(225, 'no transfer to abort; the data connection is closed');
      return;
    }
    transfer.abort();
    await transfer.done;
    this.#reply(226, 'ABOR ok; the data connection is closed');
  }

  // --- transfers

  async #retr(arg: string): Promise<void> {
    const files = this.#session();
    const offset = this.#rest;
    this.#rest = 0;
    const name = this.#need('RETR', arg, 'a file name');
    await files.download(name, { offset }, async (download) => {
      const shown = `/${download.path}`;
      const from = offset > 0 ? ` from byte ${offset}` : '';
      await this.#withData('RETR', shown, `opening ${this.#ascii ? 'ASCII' : 'BINARY'} mode data connection for ${printable(shown)} (${download.length} bytes)${from}`, async (socket, transfer) => {
        await sendFile(download, socket, transfer);
        return `transfer complete: ${transfer.bytes} bytes sent`;
      });
    });
  }

  async #store(arg: string, append: boolean): Promise<void> {
    const files = this.#session();
    const verb = append ? 'APPE' : 'STOR';
    const offset = this.#rest;
    this.#rest = 0;
    const name = this.#need(verb, arg, 'a file name');
    const start: StreamStart = append ? { kind: 'append' } : offset > 0 ? { kind: 'resume', offset } : { kind: 'fresh' };
    const stream = await files.openStream(name, start);
    const shown = `/${stream.path}`;
    let committed = false;
    try {
      const from = stream.offset > 0 ? ` after byte ${stream.offset}` : '';
      const opening = `ok to send data for ${printable(shown)}${from}`;
      await this.#withData(verb, shown, opening, async (socket, transfer, direct) => {
        await this.#receive(files, stream, socket, direct, transfer);
        // A client that died closes its control connection along with the data one.
        await cutGrace();
        if (this.#closed || transfer.aborted) throw cutReply(stream, transfer);
        committed = true;
        const stored = await files.commitStream(stream);
        return `transfer complete: ${quotePath(shown)} stored, ${stored.length} bytes`;
      }, stream.sink);
    } finally {
      if (!committed) await files.closeStream(stream, false);
    }
  }

  async #receive(files: FileSession, stream: StreamUpload, socket: Socket, direct: DirectReads | null, transfer: Transfer): Promise<void> {
    const progress = setInterval(() => (transfer.bytes = stream.received - stream.offset), 250);
    try {
      await files.receiveStream(stream, direct ?? socket);
    } catch (err) {
      // The file service's own failures (quota, disk) are its errors; anything else is the data connection's.
      if (err instanceof GridlinkError && err.code !== 'GL_ERR_PROTO_BAD_STATE') throw err;
      throw cutReply(stream, transfer);
    } finally {
      clearInterval(progress);
      transfer.bytes = stream.received - stream.offset;
    }
    if (!(await endedCleanly(socket))) throw cutReply(stream, transfer);
  }

  async #listing(verb: 'LIST' | 'NLST' | 'MLSD', arg: string): Promise<void> {
    const lines = await this.#listLines(verb, arg);
    const body = lines.length === 0 ? '' : `${lines.join('\r\n')}\r\n`;
    await this.#withData(verb, '', verb === 'MLSD' ? 'here comes the machine listing' : 'here comes the directory listing', async (socket, transfer) => {
      await writeAll(socket, Buffer.from(body, 'utf8'));
      transfer.bytes = body.length;
      return `directory send ok (${lines.length} ${lines.length === 1 ? 'entry' : 'entries'})`;
    });
  }

  /** The lines of a listing of `arg` (a directory, or one file); LIST options such as `-la` are skipped. */
  async #listLines(verb: 'LIST' | 'NLST' | 'MLSD', arg: string): Promise<string[]> {
    const files = this.#session();
    let path = arg;
    if (verb !== 'MLSD') {
      // "LIST -la dir": ls options, which clients send by habit.
      while (/^-[a-zA-Z]+(\s|$)/u.test(path)) path = path.replace(/^-[a-zA-Z]+\s*/u, '');
    }
    if (path.trim() === '') path = '.';
    const area = await files.area();
    const owner = files.actor.identity?.name ?? 'ftp';
    const entry = await files.stat(path);
    if (entry.type !== 'dir') {
      if (verb === 'MLSD') throw new FtpReply(501, `${printable(arg)} is not a directory; MLSD lists directories (MLST shows one file)`);
      return [verb === 'NLST' ? entry.name : listLine(entry, owner, area.writable)];
    }
    const listing = await files.list(path);
    const now = Date.now();
    const out: string[] = [];
    for (const e of listing.entries) {
      if (!listable(e.name) || e.type === 'other') continue;
      if (verb === 'NLST') out.push(e.name);
      else if (verb === 'MLSD') out.push(mlstLine(e, this.#facts, area.writable, e.name));
      else out.push(listLine(e, owner, area.writable, now));
    }
    return out;
  }
}

/** 426 for a STOR that did not end normally: what is kept and how to resume. */
function cutReply(stream: StreamUpload, transfer: Transfer): FtpReply {
  const why = transfer.aborted ? 'transfer aborted (ABOR)' : 'the data connection broke before its normal end';
  const kept = stream.received;
  return new FtpReply(426, `${why}; nothing was stored, ${kept} bytes are kept: resume with REST ${kept} then STOR, or with APPE`);
}

/** Sends a download's bytes, each buffer given back once the socket has taken it. */
async function sendFile(download: Download, socket: Socket, transfer: Transfer): Promise<void> {
  const body = download.body();
  const closed = (): Error => new FtpReply(426, `${transfer.aborted ? 'transfer aborted (ABOR)' : 'the data connection broke'}; to continue, send REST with the bytes you have, then RETR`);
  try {
    for await (const chunk of body) {
      if (socket.destroyed) throw closed();
      const written = socket.write(chunk, (err) => {
        if (err === undefined || err === null) body.release(chunk);
      });
      transfer.bytes += chunk.length;
      if (!written) await waitForDrain(socket, closed);
    }
    if (transfer.bytes !== download.size) throw new FtpReply(451, 'the file shrank while it was sent; send RETR again');
  } finally {
    body.destroy();
  }
  await endData(socket, closed);
}

async function writeAll(socket: Socket, bytes: Buffer): Promise<void> {
  const closed = (): Error => new FtpReply(426, 'the data connection broke; send the command again');
  if (bytes.length > 0 && !socket.write(bytes)) await waitForDrain(socket, closed);
  await endData(socket, closed);
}

/** Ends the data connection's sending side once every byte is handed to the socket (TLS: close_notify). */
function endData(socket: Socket, closed: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      reject(closed());
      return;
    }
    const onClose = (): void => reject(closed());
    socket.once('close', onClose);
    socket.end(() => {
      socket.off('close', onClose);
      resolve();
    });
  });
}

/**
 * Lets a data connection close on its own: what the peer still sends
 * (its FIN, a TLS close_notify) is read so the close is orderly, never a
 * reset that could drop bytes it has not read yet; cut after `timeoutMs`.
 */
function closeData(socket: Socket, timeoutMs: number): void {
  if (socket.destroyed) return;
  socket.resume();
  if (!socket.writableEnded) socket.end();
  const timer = setTimeout(() => socket.destroy(), Math.min(timeoutMs, 5_000));
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

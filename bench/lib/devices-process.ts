import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { REPO_ROOT } from './peers.js';
import { isTagged, type FromDevices, type ToDevices } from './scada-protocol.js';

const DEVICES_SCRIPT = join(REPO_ROOT, 'bench', 'lib', 'scada-devices.ts');

export type DevicesReply<T extends FromDevices['type']> = Extract<FromDevices, { type: T }>;

/** bench/lib/scada-devices.ts, forked, spoken to over IPC (bench/scada-poll.ts and bench/iec104-station.ts). */
export class DevicesProcess {
  readonly #child: ChildProcess;
  readonly pid: number;
  readonly #unregister: () => void;
  readonly #waiters = new Map<string, { resolve: (reply: FromDevices) => void; reject: (err: Error) => void }>();
  #failure: Error | null = null;
  onChanged: (reply: DevicesReply<'changed'>) => void = () => undefined;

  constructor() {
    this.#child = fork(DEVICES_SCRIPT, [], { cwd: REPO_ROOT, serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    if (this.#child.pid === undefined) throw new Error(`could not start ${DEVICES_SCRIPT}`);
    this.pid = this.#child.pid;
    this.#unregister = onCleanup(() => {
      this.#child.kill('SIGKILL');
    });
    this.#child.on('message', (message: unknown) => {
      if (!isTagged(message)) return this.#fail(new Error('devices process: unexpected IPC message'));
      const reply = message as FromDevices;
      if (reply.type === 'changed') return this.onChanged(reply);
      if (reply.type === 'failed') return this.#fail(new Error(`devices process: ${reply.message}`));
      const waiter = this.#waiters.get(reply.type);
      this.#waiters.delete(reply.type);
      waiter?.resolve(reply);
    });
    this.#child.once('error', (err) => this.#fail(new Error(`devices process: ${err.message}`)));
    this.#child.once('exit', (code, signal) => this.#fail(new Error(`devices process exited (${String(code ?? signal)})`)));
  }

  get failure(): Error | null {
    return this.#failure;
  }

  command(command: ToDevices): void {
    if (this.#failure !== null) throw this.#failure;
    this.#child.send(command);
  }

  /** Sends `command` and waits for the reply of `type`. */
  request<T extends FromDevices['type']>(command: ToDevices, type: T, timeoutMs: number): Promise<DevicesReply<T>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} from the devices process within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.set(type, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply as DevicesReply<T>);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      try {
        this.command(command);
      } catch (err) {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  async close(): Promise<void> {
    if (this.#failure === null) await this.request({ type: 'close' }, 'closed', 10_000).catch(() => undefined);
    this.#child.kill('SIGKILL');
    this.#unregister();
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const waiter of this.#waiters.values()) waiter.reject(err);
    this.#waiters.clear();
  }
}

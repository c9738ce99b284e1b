import type { Logger } from 'pino';

type Closer = (graceMs: number) => Promise<void> | void;

/**
 * The server's resources, closed in the reverse order they were opened.
 * One stack, unwound the same way by a start that fails half-way, by
 * SIGINT/SIGTERM and by `stop()`: each part registers its closer as soon as
 * it exists, so nothing opened is ever left behind and nothing is closed
 * before what depends on it.
 */
export class Closers {
  readonly #stack: { readonly name: string; readonly close: Closer }[] = [];
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Registers what closes `name`. */
  push(name: string, close: Closer): void {
    this.#stack.push({ name, close });
  }

  /**
   * Closes everything, newest first. A closer that fails is logged and the
   * rest still run; `graceMs` is how long listeners let running work finish.
   */
  async closeAll(graceMs: number): Promise<void> {
    for (let entry = this.#stack.pop(); entry !== undefined; entry = this.#stack.pop()) {
      try {
        await entry.close(graceMs);
      } catch (err) {
        this.#logger.warn({ event: 'server.close_failed', part: entry.name, err }, `closing ${entry.name} failed`);
      }
    }
  }
}

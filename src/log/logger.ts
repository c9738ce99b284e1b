import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

/** Keys whose values must never reach a log line (docs/protocol.md §3.2; secrets stay secret). */
const REDACTED_KEYS = ['password', 'newPassword', 'secret', 'key', 'hmac', 'answer', 'token', 'cookie', 'authorization'];

/** Loggers (children included) whose own bindings already name their `service`. */
const bindsService = new WeakMap<object, boolean>();

/**
 * Structured logs: one JSON line per event with an `event` field naming it
 * (e.g. `files.put_commit`). Secret-bearing keys are censored at any depth
 * up to two levels. Every line names its `service` once: "gridlink", or the
 * one a child logger binds (`logger.child({ service: 'scada' })`), which
 * replaces it rather than repeating the key.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const paths = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);
  return pino(
    {
      level,
      // No pid/hostname: one process per host in the embedded default.
      base: {},
      mixin: (_merge, _level, logger) => {
        let bound = bindsService.get(logger);
        if (bound === undefined) {
          bound = Object.hasOwn(logger.bindings(), 'service');
          bindsService.set(logger, bound);
        }
        return bound ? {} : { service: 'gridlink' };
      },
      redact: { paths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A log destination that holds its lines until `release()` (then passes them on as they come). */
export interface HeldDestination extends DestinationStream {
  release(): void;
}

/** At most this many lines wait for `release()`; later ones are dropped and counted. */
const MAX_HELD_LINES = 1_000;

/**
 * Log lines for a person at a terminal (`gridlink serve` on a TTY, README.md
 * "Running the server"): time, level, the event and its message on one
 * line, then the other fields, without colours when NO_COLOR is set. The
 * lines are held until `release()`, so the startup summary prints before
 * them.
 */
export function createTerminalDestination(stream: NodeJS.WritableStream = process.stdout): HeldDestination {
  const prettified = pretty({
    destination: stream,
    colorize: process.env['NO_COLOR'] === undefined,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'service,event',
    messageFormat: (log, messageKey) => {
      const service = log['service'] === 'gridlink' || typeof log['service'] !== 'string' ? '' : `[${log['service']}] `;
      const event = typeof log['event'] === 'string' ? log['event'] : '';
      const message = typeof log[messageKey] === 'string' ? log[messageKey] : '';
      return `${service}${event}${event !== '' && message !== '' ? ' ' : ''}${message}`;
    },
  });
  let held: string[] | null = [];
  let dropped = 0;
  return {
    write(line: string): void {
      if (held === null) prettified.write(line);
      else if (held.length < MAX_HELD_LINES) held.push(line);
      else dropped += 1;
    },
    release(): void {
      if (held === null) return;
      const lines = held;
      held = null;
      for (const line of lines) prettified.write(line);
      if (dropped > 0) stream.write(`(${dropped} log lines from the start were not shown)\n`);
    },
  };
}

export type { Logger };

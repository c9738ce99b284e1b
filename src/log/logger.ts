import { pino, type DestinationStream, type Logger } from 'pino';

/** Keys whose values must never reach a log line (docs/protocol.md §3.2; secrets stay secret). */
const REDACTED_KEYS = ['password', 'newPassword', 'secret', 'key', 'hmac', 'answer', 'token', 'cookie', 'authorization'];

/**
 * Structured logs: one JSON line per event with an `event` field naming it
 * (e.g. `files.put_commit`). Secret-bearing keys are censored at any depth
 * up to two levels.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const paths = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);
  return pino(
    {
      level,
      base: { service: 'gridlink' },
      redact: { paths, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export type { Logger };

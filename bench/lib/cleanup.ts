import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One place that knows everything a benchmark must undo (child processes,
 * temp dirs), so a normal end, a thrown error and Ctrl-C all leave the machine
 * as it was. Actions run newest first: processes started inside a temp dir
 * are stopped before the dir is removed.
 */
type CleanupAction = () => Promise<void> | void;

const actions: CleanupAction[] = [];
let cleaning: Promise<void> | null = null;

/** Registers an action; the returned function unregisters it (when the resource was released normally). */
export function onCleanup(action: CleanupAction): () => void {
  actions.push(action);
  return () => {
    const index = actions.indexOf(action);
    if (index >= 0) actions.splice(index, 1);
  };
}

/** Runs every registered action once, newest first; a failing action does not stop the others. */
export function runCleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (actions.length > 0) {
      const action = actions.pop();
      try {
        await action?.();
      } catch (err) {
        process.stderr.write(`bench: cleanup failed: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  })();
  return cleaning;
}

/**
 * Runs a benchmark's main function with cleanup guaranteed: on return, on
 * error and on SIGINT/SIGTERM/SIGHUP (which would otherwise kill this process
 * and orphan its detached children).
 */
export async function runBenchmark(main: () => Promise<void>): Promise<void> {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const exitCodes: Record<(typeof signals)[number], number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
  let interrupted = false;
  for (const signal of signals) {
    process.once(signal, () => {
      interrupted = true;
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      void runCleanup().finally(() => process.exit(exitCodes[signal]));
    });
  }
  try {
    await main();
  } catch (err) {
    // After a signal, failures are the cleanup killing what main was using.
    if (interrupted) return;
    process.stderr.write(`bench: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  } finally {
    await runCleanup();
  }
}

/** Creates a fresh directory under the system temp dir, removed at cleanup. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The child side of a benchmark process started with child_process.fork:
 * typed messages to the parent, a command loop, and no life beyond the
 * parent's (a child whose parent is gone exits at once).
 */

/** Sends one message to the parent; resolves once it is handed over. */
export function sendToParent(message: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.send === undefined) {
      reject(new Error('this script must be started with child_process.fork'));
      return;
    }
    process.send(message, undefined, {}, (err: Error | null) => (err === null ? resolve() : reject(err)));
  });
}

/** Runs `handle` for each command from the parent; a failure is reported as `{type: 'failed', message}` and ends the child. */
export function serveParent(handle: (message: unknown) => Promise<void>): void {
  process.on('message', (message) => {
    handle(message).catch(async (err: unknown) => {
      const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
      await sendToParent({ type: 'failed', message: text }).catch(() => undefined);
      process.exit(1);
    });
  });
  // The bench process is gone (it ended or was killed): do not outlive it.
  process.on('disconnect', () => process.exit(0));
}

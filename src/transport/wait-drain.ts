import type { Writable } from 'node:stream';

/**
 * Resolves on the stream's next 'drain'; rejects if it closes or errors first,
 * so a writer blocked on a peer that went away never hangs.
 */
export function waitForDrain(stream: Writable, onClosed: () => Error): Promise<void> {
  if (stream.destroyed || stream.writableEnded) return Promise.reject(onClosed());
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      stream.off('error', onError);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onClose = (): void => {
      cleanup();
      reject(onClosed());
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    stream.on('error', onError);
  });
}

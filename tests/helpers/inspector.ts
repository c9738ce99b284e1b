import WebSocket from 'ws';

/**
 * A client of a Node process's inspector (started with
 * `--inspect=127.0.0.1:0`), for what a test can only ask from inside the
 * process: how much memory is live after a full garbage collection. A
 * server's RSS also holds garbage not yet collected and pages the heap has
 * freed but kept, which move with the collector's timing under load; the
 * live size does not.
 */
export class Inspector {
  readonly #socket: WebSocket;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (result: unknown) => void; reject: (err: Error) => void }>();

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as { id?: number; result?: unknown; error?: { message: string } };
      if (message.id === undefined) return; // a notification
      const waiting = this.#pending.get(message.id);
      if (waiting === undefined) return;
      this.#pending.delete(message.id);
      if (message.error !== undefined) waiting.reject(new Error(`inspector: ${message.error.message}`));
      else waiting.resolve(message.result);
    });
    const failAll = (reason: string): void => {
      for (const waiting of this.#pending.values()) waiting.reject(new Error(`inspector: ${reason}`));
      this.#pending.clear();
    };
    socket.on('error', (err) => failAll(err.message));
    socket.on('close', () => failAll('the connection closed'));
  }

  /** Connects to the `ws://` address the process printed ("Debugger listening on ..."). */
  static connect(url: string, timeoutMs = 10_000): Promise<Inspector> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      const timer = setTimeout(() => {
        socket.terminate();
        reject(new Error(`inspector: no connection to ${url} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('open', () => {
        clearTimeout(timer);
        resolve(new Inspector(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** One inspector protocol call; rejects after `timeoutMs`. */
  call(method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`inspector: ${method} not answered within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (result) => {
          clearTimeout(timer);
          resolve(result);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.#socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Bytes the process holds live after a full collection: its JS heap in use and the memory outside it (Buffers). */
  async liveBytes(): Promise<number> {
    await this.call('HeapProfiler.collectGarbage');
    const answer = (await this.call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
    const usage = JSON.parse(answer.result.value) as NodeJS.MemoryUsage;
    return usage.heapUsed + usage.external;
  }

  close(): void {
    this.#socket.close();
  }
}

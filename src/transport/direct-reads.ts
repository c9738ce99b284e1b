import { Socket, type OnReadOpts } from 'node:net';
import { TLSSocket } from 'node:tls';

/**
 * Where the reads of a {@link DirectReads} socket land: space the reader
 * lends, filled by the kernel in place. No buffer is allocated per read, so
 * an upload of a gigabyte leaves no gigabyte of socket buffers for the
 * garbage collector to find (docs/architecture.md "Memory").
 */
export interface ReadSink {
  /** Where the next read may put its bytes (never empty). Asked before the first read and after each. */
  space(): Uint8Array;
  /** The last read put `n` bytes at the start of the last {@link space}; false stops reading until the socket's `resume()`. */
  filled(n: number): boolean;
}

/** The field of Node's net.Socket this module relies on (not in its typed API). */
interface SocketInternals {
  _handle?: { readStart?: unknown } | null;
}

/**
 * An accepted TCP socket whose reads go straight into a {@link ReadSink}'s
 * memory (Node's `onread`) instead of a fresh 64 KiB buffer per read.
 *
 * Node offers `onread` only to sockets it creates with `connect()` or
 * `new Socket()`; a server's accepted socket always reads into fresh
 * buffers, which the garbage collector frees only when a full collection
 * comes round (about every 64 MB of them). So an accepted socket that has
 * not read yet (its server was created with `pauseOnConnect`) is taken
 * over: its handle moves to a new Socket made with `onread`, the way
 * net.Server itself wraps an accepted handle, and the old object is closed
 * without its handle. Measured on a 1 GiB upload to a file: half the CPU
 * time and a flat RSS (docs/ftp.md "Performance").
 *
 * {@link adopt} returns null when the socket cannot be taken over (TLS, a
 * socket that has read already, or a Node without these internals); the
 * caller then reads the socket as a stream, as before. The new socket does
 * not read until its `resume()`, and has the old one's 'error' listeners.
 */
export class DirectReads {
  readonly socket: Socket;
  readonly sink: ReadSink;

  private constructor(handle: unknown, allowHalfOpen: boolean, sink: ReadSink) {
    this.sink = sink;
    const onread: OnReadOpts = { buffer: () => sink.space(), callback: (n) => sink.filled(n) };
    // `handle` and `pauseOnCreate` are how net.Server wraps an accepted connection.
    const options = { handle, allowHalfOpen, pauseOnCreate: true, onread };
    this.socket = new Socket(options);
  }

  /** Takes over `socket` (plain TCP, nothing read yet) for `sink`; null when it cannot be, and `socket` is then untouched. */
  static adopt(socket: Socket, sink: ReadSink): DirectReads | null {
    if (socket instanceof TLSSocket || socket.destroyed || socket.readableFlowing !== false || socket.readableLength > 0) return null;
    const internals = socket as Socket & SocketInternals;
    const handle = internals._handle;
    if (handle === null || handle === undefined || typeof handle.readStart !== 'function') return null;
    const direct = new DirectReads(handle, socket.allowHalfOpen, sink);
    // Whoever listened for the old object's errors hears the new one's.
    for (const listener of socket.listeners('error')) direct.socket.on('error', listener as (err: Error) => void);
    // The old object lets go of the handle: destroying it closes nothing, and its server stops counting it.
    internals._handle = null;
    socket.destroy();
    return direct;
  }
}

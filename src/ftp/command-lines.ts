/** Longest command line accepted, CRLF included (docs/ftp.md, "Limits"). */
export const MAX_LINE_BYTES = 4096;

const IAC = 0xff;
const LF = 0x0a;
const CR = 0x0d;

/** One command as read from the control connection. */
export interface CommandLine {
  /** Upper-case verb, e.g. `RETR`. */
  readonly verb: string;
  /** Everything after the first space, unchanged (names may hold spaces); '' when none. */
  readonly arg: string;
}

/**
 * Splits the control connection's bytes into command lines (RFC 959 §4.1,
 * Telnet NVT): CRLF or a bare LF ends a line; Telnet commands (IAC …) are
 * dropped; a line is UTF-8 (RFC 2640). Never holds more than
 * {@link MAX_LINE_BYTES}: a longer line is reported as an overflow at once,
 * so a peer cannot make the server buffer an unbounded line.
 *
 * One special case: `ABOR` sent as urgent data by Python's ftplib loses its
 * final LF (the urgent byte is taken out of the stream on Linux), so a held
 * "ABOR\r" with nothing after it counts as a line.
 */
export class CommandLineReader {
  #held: Buffer | null = null;

  /** Feeds bytes; returns the complete lines, or 'overflow' when a line passed the limit. */
  push(chunk: Buffer): Buffer[] | 'overflow' {
    const lines: Buffer[] = [];
    let start = 0;
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, start)) {
      const part = chunk.subarray(start, lf);
      const line = this.#held === null ? part : Buffer.concat([this.#held, part]);
      this.#held = null;
      if (line.length + 1 > MAX_LINE_BYTES) return 'overflow';
      lines.push(line);
      start = lf + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      const heldBytes = (this.#held?.length ?? 0) + rest.length;
      if (heldBytes >= MAX_LINE_BYTES) return 'overflow';
      // A copy: the socket's chunk must not be kept alive by a small tail.
      this.#held = Buffer.concat(this.#held === null ? [rest] : [this.#held, rest]);
      if (isUrgentAbort(this.#held)) {
        lines.push(this.#held);
        this.#held = null;
      }
    }
    return lines;
  }

  /** Forgets a partial line (the connection switches to TLS: nothing sent in clear before it counts). */
  reset(): void {
    this.#held = null;
  }
}

/** A held "ABOR\r" (possibly after Telnet bytes): see {@link CommandLineReader}. */
function isUrgentAbort(held: Buffer): boolean {
  if (held.length < 5 || held.length > 16 || held[held.length - 1] !== CR) return false;
  return stripTelnet(held).toString('latin1').trim().toUpperCase() === 'ABOR';
}

/** Drops Telnet commands: IAC IAC is a literal 0xFF, IAC WILL/WONT/DO/DONT x and IAC x are removed. */
export function stripTelnet(line: Buffer): Buffer {
  if (!line.includes(IAC) && !line.includes(0xf2)) return line;
  const out: number[] = [];
  for (let i = 0; i < line.length; i += 1) {
    const byte = line[i]!;
    if (byte === IAC) {
      const next = line[i + 1];
      if (next === IAC) {
        out.push(IAC);
        i += 1;
      } else if (next !== undefined && next >= 0xfb && next <= 0xfe) i += 2;
      else i += 1;
      continue;
    }
    // Telnet Data Mark that arrived in the stream after an urgent IAC (Synch).
    if (byte === 0xf2 && out.length === 0) continue;
    out.push(byte);
  }
  return Buffer.from(out);
}

const DECODER = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses one line into verb and argument; null for an empty line (ignored).
 * Throws 'utf8' when the line is not valid UTF-8.
 */
export function parseCommand(raw: Buffer): CommandLine | null {
  let line = stripTelnet(raw);
  if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
  let text: string;
  try {
    text = DECODER.decode(line);
  } catch {
    throw new Error('utf8');
  }
  if (text.trim() === '') return null;
  const space = text.indexOf(' ');
  const verb = (space === -1 ? text : text.slice(0, space)).trim().toUpperCase();
  const arg = space === -1 ? '' : text.slice(space + 1);
  return { verb, arg };
}

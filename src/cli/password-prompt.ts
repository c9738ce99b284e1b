import { GridlinkError } from '../errors/index.js';

/** The terminal a password is read from: stdin in raw mode, so nothing is echoed. */
export interface SecretInput {
  readonly isTTY?: boolean | undefined;
  readonly isRaw?: boolean | undefined;
  setRawMode?(mode: boolean): unknown;
  setEncoding(encoding: BufferEncoding): unknown;
  on(event: 'data', listener: (chunk: string) => void): unknown;
  off(event: 'data', listener: (chunk: string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

export interface PromptStreams {
  readonly input: SecretInput;
  /** Where prompts go: stderr, so stdout stays clean for scripts. */
  readonly output: { write(text: string): unknown };
  readonly env: NodeJS.ProcessEnv;
}

const defaultStreams = (): PromptStreams => ({ input: process.stdin, output: process.stderr, env: process.env });

/**
 * Reads one line from a terminal without echoing it: raw mode, with
 * backspace and Ctrl-U editing; Ctrl-C or Ctrl-D on an empty line abort.
 */
export function readSecret(prompt: string, streams: PromptStreams = defaultStreams()): Promise<string> {
  const { input, output } = streams;
  return new Promise((resolve, reject) => {
    const wasRaw = input.isRaw === true;
    let value = '';
    const finish = (error?: GridlinkError): void => {
      input.off('data', onData);
      input.setRawMode?.(wasRaw);
      input.pause();
      output.write('\n');
      if (error === undefined) resolve(value);
      else reject(error);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) return finish(new GridlinkError('GL_ERR_ADMIN_NO_PASSWORD', 'input aborted'));
        if (ch === '\u007f' || ch === '\b') value = Array.from(value).slice(0, -1).join('');
        else if (ch === '\u0015') value = '';
        else if (ch >= ' ') value += ch;
      }
    };
    // Raw mode first: whatever is typed once the prompt shows must never be echoed.
    input.setRawMode?.(true);
    output.write(prompt);
    input.setEncoding('utf8');
    input.on('data', onData);
    input.resume();
  });
}

/**
 * A new password (README.md "Quick tour": `admin user add` and `user passwd` take it like
 * the login password): GRIDLINK_PASSWORD if set and not empty, else typed twice at a
 * terminal without echo. With neither, GL_ERR_ADMIN_NO_PASSWORD: a script
 * must never hang waiting for a prompt nobody sees.
 */
export async function readNewPassword(user: string, streams: PromptStreams = defaultStreams()): Promise<string> {
  const fromEnv = streams.env['GRIDLINK_PASSWORD'];
  // Empty counts as unset, as for the login password (readPassword below).
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (streams.input.isTTY !== true || streams.input.setRawMode === undefined) {
    throw new GridlinkError('GL_ERR_ADMIN_NO_PASSWORD', 'GRIDLINK_PASSWORD is not set and stdin is not a terminal');
  }
  const first = await readSecret(`New password for ${user}: `, streams);
  const second = await readSecret('Type it again: ', streams);
  if (first !== second) throw new GridlinkError('GL_ERR_ADMIN_PASSWORD_MISMATCH');
  return first;
}

/**
 * The password for `--user` (README.md "Quick tour"): GRIDLINK_PASSWORD if set and not
 * empty, else typed once at a terminal without echo; with neither, a clear
 * error rather than a hang.
 */
export async function readPassword(prompt: string, streams: PromptStreams = defaultStreams()): Promise<string> {
  const fromEnv = streams.env['GRIDLINK_PASSWORD'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (streams.input.isTTY !== true || streams.input.setRawMode === undefined) {
    throw new GridlinkError('GL_ERR_CLIENT_NO_PASSWORD', 'set GRIDLINK_PASSWORD or run in a terminal to be asked');
  }
  return readSecret(prompt, streams);
}

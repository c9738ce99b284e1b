import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { GridlinkError } from '../errors/index.js';

/**
 * The password for `--user` (SPEC §9): GRIDLINK_PASSWORD, else a prompt on the
 * terminal with echo off. Without a terminal and without the variable, a clear
 * error rather than a hang.
 */
export async function readPassword(prompt: string): Promise<string> {
  const fromEnv = process.env['GRIDLINK_PASSWORD'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.stdin.isTTY !== true) {
    throw new GridlinkError('GL_ERR_CLIENT_USAGE', 'no password: set GRIDLINK_PASSWORD or run in a terminal to be asked');
  }
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!muted) process.stderr.write(chunk);
      callback();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    return await new Promise<string>((resolve) => {
      rl.question(prompt, (answer) => {
        process.stderr.write('\n');
        resolve(answer);
      });
      muted = true;
    });
  } finally {
    rl.close();
  }
}

import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { GridlinkError } from '../../src/errors/index.js';
import { readNewPassword, readSecret, type PromptStreams, type SecretInput } from '../../src/cli/password-prompt.js';

/** A terminal stand-in that records raw-mode switches and delivers keystrokes. */
class FakeTerminal extends EventEmitter implements SecretInput {
  readonly isTTY = true;
  isRaw = false;
  readonly modes: boolean[] = [];
  setRawMode(mode: boolean): void {
    this.isRaw = mode;
    this.modes.push(mode);
  }
  setEncoding(): void {}
  resume(): void {}
  pause(): void {}
  /** Types each string once the previous prompt is waiting. */
  typeLater(...keys: string[]): void {
    const next = (): void => {
      const key = keys.shift();
      if (key === undefined) return;
      setImmediate(() => {
        this.emit('data', key);
        next();
      });
    };
    next();
  }
}

function streams(input: SecretInput, env: NodeJS.ProcessEnv = {}): PromptStreams & { written: string[] } {
  const written: string[] = [];
  return { input, env, written, output: { write: (text: string) => written.push(text) } };
}

describe('password prompt (README.md "Quick tour")', () => {
  it('reads in raw mode, edits with backspace and Ctrl-U, echoes nothing, restores the mode', async () => {
    const tty = new FakeTerminal();
    const s = streams(tty);
    tty.typeLater('wrong\u0015pass', 'wordX\u007f', '\r');
    expect(await readSecret('Password: ', s)).toBe('password');
    expect(tty.modes).toEqual([true, false]);
    expect(s.written.join('')).toBe('Password: \n');
  });

  it('Ctrl-C aborts', async () => {
    const tty = new FakeTerminal();
    tty.typeLater('abc\u0003');
    await expect(readSecret('Password: ', streams(tty))).rejects.toMatchObject({ code: 'GL_ERR_ADMIN_NO_PASSWORD' });
    expect(tty.isRaw).toBe(false);
  });

  it('takes GRIDLINK_PASSWORD first, asks twice at a terminal, refuses without either', async () => {
    expect(await readNewPassword('ann', streams(new FakeTerminal(), { GRIDLINK_PASSWORD: 'from-env-1' }))).toBe('from-env-1');

    const tty = new FakeTerminal();
    const s = streams(tty);
    tty.typeLater('same-Secret-1\r', 'same-Secret-1\r');
    expect(await readNewPassword('ann', s)).toBe('same-Secret-1');
    expect(s.written.join('')).toBe('New password for ann: \nType it again: \n');

    const differ = new FakeTerminal();
    differ.typeLater('one-Secret-1\r', 'two-Secret-2\r');
    await expect(readNewPassword('ann', streams(differ))).rejects.toMatchObject({ code: 'GL_ERR_ADMIN_PASSWORD_MISMATCH' });

    const pipe = Object.assign(new FakeTerminal(), { isTTY: false });
    const err = await readNewPassword('ann', streams(pipe)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GridlinkError);
    expect((err as GridlinkError).code).toBe('GL_ERR_ADMIN_NO_PASSWORD');
  });
});

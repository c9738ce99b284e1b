/**
 * Polls `check` until it returns a value other than `undefined` or `false`
 * (which it then returns), or fails after `timeoutMs` naming `what`. Tests
 * wait for conditions this way, never for fixed times.
 */
export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

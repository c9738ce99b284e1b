/**
 * The arguments that run `argv` on a real pseudo-terminal with util-linux
 * `script`: `spawn('script', terminalArgs([...]))`.
 *
 * `script -c` hands its command to `$SHELL -c` (or /bin/sh). bash then
 * execs the program, but dash keeps itself in between, in the terminal's
 * foreground group: a Ctrl-C reaches dash too, and dash, having seen
 * SIGINT while it waited, kills itself with it after the program exits 0,
 * so `script -e` reports 130. `exec` takes the shell out of the picture on
 * every machine, whatever its SHELL.
 */
export function terminalArgs(argv: readonly string[]): string[] {
  const command = `exec ${argv.map(shellQuote).join(' ')}`;
  return ['-qfec', command, '/dev/null'];
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/u.test(word) ? word : `'${word.replace(/'/gu, `'\\''`)}'`;
}

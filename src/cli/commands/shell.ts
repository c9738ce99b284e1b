import { readdir } from 'node:fs/promises';
import { basename, dirname, posix } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import type { Command } from 'commander';
import type { GridlinkClient } from '../../client/index.js';
import { GridlinkError } from '../../errors/index.js';
import { connectClient, type ServerFlags } from '../connect.js';
import { withServerOptions } from '../options.js';
import { formatBytes } from '../../units/bytes.js';
import { createProgress } from '../progress.js';
import { formatEntry } from './files.js';

const HELP = `commands:
  ls [path]             list a directory          cd path          change directory
  pwd                   where you are             mkdir [-p] path  create a directory
  get remote [local]    download (resumable)      put local [remote]  upload (resumable)
  rm path               remove a file             rmdir path       remove an empty directory
  mv from to            rename or move            help             this text
  quit                  leave (also exit, bye, Ctrl-D)
`;

/** Splits a command line into words; "double" or 'single' quotes keep spaces. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const pattern = /"([^"]*)"|'([^']*)'|(\S+)/gu;
  for (const match of line.matchAll(pattern)) words.push(match[1] ?? match[2] ?? match[3]!);
  return words;
}

/** Commands whose arguments are remote paths (for completion). */
const REMOTE_ARGS = new Set(['ls', 'cd', 'get', 'rm', 'rmdir', 'mv', 'mkdir']);

/**
 * `gridlink shell` (README.md "Quick tour"): an interactive FTP-like prompt on one
 * connection, showing the remote directory in its prompt, with tab completion
 * of remote names (and of local names for `put`).
 */
export function registerShell(program: Command): void {
  withServerOptions(program.command('shell').description('interactive FTP-like prompt (ls cd pwd get put mkdir rm quit)')).action(async (flags: ServerFlags) => {
    const client = await connectClient(flags);
    let cwd = await client.pwd();
    const interactive = process.stdin.isTTY === true;
    const rl: Interface = createInterface({
      input: process.stdin,
      output: process.stdout,
      terminal: interactive,
      completer: (line: string, done: (err: Error | null, result: [string[], string]) => void) => {
        complete(client, line).then(
          (result) => done(null, result),
          () => done(null, [[], line]),
        );
      },
    });
    // A script on stdin can end while a command still runs: readline then
    // closes (its lines still come), and Node 24 throws on a prompt after
    // close, which Node 20 wrote. The prompt goes out as it did.
    let closed = false;
    rl.once('close', () => (closed = true));
    const prompt = (): void => {
      const text = `gridlink:${cwd}> `;
      if (closed) {
        process.stdout.write(text);
        return;
      }
      rl.setPrompt(text);
      rl.prompt();
    };
    if (interactive) process.stdout.write(`connected${flags.user === undefined ? '' : ` as ${flags.user}`}; type "help" for commands\n`);
    prompt();
    let failed = false;
    for await (const line of rl) {
      const [command, ...args] = splitWords(line);
      if (command === undefined) {
        prompt();
        continue;
      }
      if (['quit', 'exit', 'bye'].includes(command)) break;
      try {
        cwd = await run(client, command, args, cwd);
      } catch (err) {
        if (!(err instanceof GridlinkError)) throw err;
        process.stdout.write(`error: ${err.message} (${err.code})\n`);
        failed = !interactive;
        if (err.fatal) break;
      }
      prompt();
    }
    rl.close();
    await client.close().catch(() => client.destroy());
    // A script fed to the shell fails if any of its commands failed.
    if (failed) process.exitCode = 1;
  });
}

async function run(client: GridlinkClient, command: string, args: string[], cwd: string): Promise<string> {
  const need = (n: number, usage: string): void => {
    if (args.length < n) throw new GridlinkError('GL_ERR_CLIENT_USAGE', `usage: ${usage}`);
  };
  switch (command) {
    case 'help':
      process.stdout.write(HELP);
      return cwd;
    case 'pwd':
      process.stdout.write(`${cwd}\n`);
      return cwd;
    case 'cd':
      need(1, 'cd path');
      return client.cd(args[0]!);
    case 'ls': {
      const listing = await client.ls(args[0]);
      for (const entry of listing.entries) process.stdout.write(`${formatEntry(entry)}\n`);
      return cwd;
    }
    case 'mkdir': {
      const parents = args[0] === '-p';
      const path = parents ? args[1] : args[0];
      if (path === undefined) throw new GridlinkError('GL_ERR_CLIENT_USAGE', 'usage: mkdir [-p] path');
      await client.mkdir(path, parents);
      return cwd;
    }
    case 'rm':
      need(1, 'rm path');
      await client.rm(args[0]!);
      return cwd;
    case 'rmdir':
      need(1, 'rmdir path');
      await client.rmdir(args[0]!);
      return cwd;
    case 'mv':
      need(2, 'mv from to');
      await client.mv(args[0]!, args[1]!);
      return cwd;
    case 'get': {
      need(1, 'get remote [local]');
      const local = args[1] ?? basename(args[0]!);
      const progress = createProgress(`get ${basename(args[0]!)}`);
      const result = await client.get(args[0]!, local, { onProgress: progress.update }).finally(() => progress.stop());
      process.stdout.write(`${local}: ${formatBytes(result.length)}, sha256 ${result.sha256}\n`);
      return cwd;
    }
    case 'put': {
      need(1, 'put local [remote]');
      const remote = args[1] ?? basename(args[0]!);
      const progress = createProgress(`put ${basename(args[0]!)}`);
      const result = await client.put(args[0]!, remote, { onProgress: progress.update }).finally(() => progress.stop());
      process.stdout.write(`${result.path}: ${formatBytes(result.length)}, sha256 ${result.sha256}\n`);
      return cwd;
    }
    default:
      throw new GridlinkError('GL_ERR_CLIENT_USAGE', `unknown command "${command}"; type "help"`);
  }
}

/** Tab completion: remote names for remote arguments, local names for put's first. */
async function complete(client: GridlinkClient, line: string): Promise<[string[], string]> {
  const words = splitWords(line);
  const endsWithSpace = /\s$/u.test(line);
  const current = endsWithSpace ? '' : (words.at(-1) ?? '');
  const position = endsWithSpace ? words.length : words.length - 1;
  if (position === 0) {
    const commands = ['ls', 'cd', 'pwd', 'get', 'put', 'mkdir', 'rm', 'rmdir', 'mv', 'help', 'quit'];
    return [commands.filter((c) => c.startsWith(current)), current];
  }
  const dir = current.includes('/') ? current.slice(0, current.lastIndexOf('/') + 1) : '';
  const stem = current.slice(dir.length);
  let names: string[];
  if (words[0] === 'put' && position === 1) {
    names = (await readdir(dir === '' ? '.' : dirname(`${dir}x`), { withFileTypes: true })).map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
  } else if (REMOTE_ARGS.has(words[0] ?? '')) {
    names = (await client.ls(dir === '' ? '.' : posix.normalize(dir))).entries.map((e) => (e.type === 'dir' ? `${e.name}/` : e.name));
  } else {
    return [[], current];
  }
  return [names.filter((n) => n.startsWith(stem)).map((n) => `${dir}${n}`), current];
}

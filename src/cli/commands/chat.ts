import { clearScreenDown, createInterface, cursorTo, moveCursor, type Interface } from 'node:readline';
import type { Command } from 'commander';
import type { GridlinkClient } from '../../client/index.js';
import { GridlinkError } from '../../errors/index.js';
import type { ChatEvent } from '../../protocol/v1.js';
import { connectClient, type ServerFlags } from '../connect.js';
import { withServerOptions } from '../options.js';

const HELP = `commands:
  /who              list the members of the room
  /msg NICK text    a private message to one member
  /help             this text
  /quit             leave the room (also Ctrl-D)
any other line is sent to the room ("//text" sends "/text")
`;

/** How often a quiet session checks whether the server dropped it (kick, too slow, closed). */

/** Flags of `gridlink chat` (README.md "Quick tour"). */
interface ChatFlags extends ServerFlags {
  room: string;
  name: string;
}

/** One line typed at the chat prompt, parsed. */
export type ChatInput =
  | { readonly kind: 'empty' }
  | { readonly kind: 'quit' }
  | { readonly kind: 'who' }
  | { readonly kind: 'help' }
  | { readonly kind: 'say'; readonly text: string }
  | { readonly kind: 'msg'; readonly to: string; readonly text: string };

/**
 * Parses a line typed at the chat prompt: `/quit`, `/who`, `/help`,
 * `/msg NICK text`, or a message (a leading `//` escapes a message that
 * starts with `/`). Throws `GL_ERR_CLIENT_USAGE` for an unknown command.
 */
export function parseChatLine(line: string): ChatInput {
  if (line.trim() === '') return { kind: 'empty' };
  if (!line.startsWith('/')) return { kind: 'say', text: line };
  if (line.startsWith('//')) return { kind: 'say', text: line.slice(1) };
  const match = /^\/(\S+)\s*(.*)$/su.exec(line);
  const [command, rest] = [match?.[1] ?? '', match?.[2] ?? ''];
  switch (command) {
    case 'quit':
    case 'who':
    case 'help':
      return { kind: command };
    case 'msg': {
      const parts = /^(\S+)\s+(.*\S.*)$/su.exec(rest);
      if (parts === null) throw new GridlinkError('GL_ERR_CLIENT_USAGE', 'usage: /msg NICK text');
      return { kind: 'msg', to: parts[1]!, text: parts[2]! };
    }
    default:
      throw new GridlinkError('GL_ERR_CLIENT_USAGE', `unknown command "/${command}"; type /help`);
  }
}

/** Replaces control characters so text from other members cannot drive the terminal. */
function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, '\uFFFD');
}

/** One line for a room event (docs/protocol.md §3.4): notices, messages, private messages, announcements. */
export function formatChatEvent(event: ChatEvent): string {
  const from = printable(event.from);
  const text = printable(event.text ?? '');
  switch (event.type) {
    case 'joined':
      return `* ${from} joined`;
    case 'left':
      return `* ${from} left`;
    case 'message':
      return `${from}: ${text}`;
    case 'private':
      return `(private) ${from}: ${text}`;
    case 'announce':
      return `[${from}] ${text}`;
  }
}

/**
 * The terminal side of a chat session. In a terminal, lines that arrive
 * while the prompt is shown are written above it, and the prompt is redrawn
 * with what the user has typed so far. Without a terminal, lines are simply
 * written and no prompt is shown.
 */
class ChatScreen {
  readonly #out: NodeJS.WriteStream;
  #rl: Interface | null = null;
  #prompting = false;

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
  }

  /** Starts prompting through `rl` (in a terminal only). */
  attach(rl: Interface, prompt: string): void {
    if (!rl.terminal) return;
    this.#rl = rl;
    rl.setPrompt(prompt);
  }

  /** Writes one line, above the prompt and the partial input if they are shown. */
  print(line: string): void {
    const rl = this.#rl;
    if (rl === null || !this.#prompting) {
      this.#out.write(`${line}\n`);
      return;
    }
    const rows = this.#clearInput(rl);
    // readline redraws by first moving up as many rows as the input had: pad so it lands below our line.
    this.#out.write(`${line}\n${'\n'.repeat(rows)}`);
    rl.prompt(true);
  }

  /** Shows the prompt (in a terminal). */
  prompt(): void {
    if (this.#rl === null) return;
    this.#prompting = true;
    this.#rl.prompt();
  }

  /** The user entered a line: the prompt has scrolled up with it. */
  entered(): void {
    this.#prompting = false;
  }

  /** Removes a prompt still shown (Ctrl-D, a disconnect), so what follows starts on a clean line. */
  finish(): void {
    if (this.#rl !== null && this.#prompting) this.#clearInput(this.#rl);
    this.#prompting = false;
    this.#rl = null;
  }

  /** Erases the prompt and the input (all its rows); returns how many rows below the first the cursor was. */
  #clearInput(rl: Interface): number {
    const rows = rl.getCursorPos().rows;
    moveCursor(this.#out, 0, -rows);
    cursorTo(this.#out, 0);
    clearScreenDown(this.#out);
    return rows;
  }
}

/** What a chat command needs. */
interface ChatSession {
  readonly client: GridlinkClient;
  readonly room: string;
  readonly screen: ChatScreen;
}

/** Runs one parsed line; false when the session should end. */
async function execute(input: ChatInput, session: ChatSession): Promise<boolean> {
  const { client, room, screen } = session;
  switch (input.kind) {
    case 'empty':
      return true;
    case 'quit':
      return false;
    case 'help':
      for (const line of HELP.trimEnd().split('\n')) screen.print(line);
      return true;
    case 'who':
      screen.print(`members: ${(await client.who(room)).join(', ')}`);
      return true;
    case 'msg':
      await client.whisper(room, input.to, input.text);
      return true;
    case 'say':
      await client.say(room, input.text);
      return true;
  }
}

/**
 * Handles one line: errors of a command are printed and the session goes on;
 * an error that ends the connection is thrown. False when the session should end.
 */
async function handleLine(line: string, session: ChatSession): Promise<boolean> {
  try {
    return await execute(parseChatLine(line), session);
  } catch (err) {
    if (!(err instanceof GridlinkError) || err.fatal || session.client.failure !== null) throw err;
    session.screen.print(`error: ${err.message} (${err.code})`);
    return true;
  }
}

/** Reads lines until /quit, end of input (Ctrl-D) or `rl` is closed. */
async function readLines(rl: Interface, session: ChatSession): Promise<void> {
  session.screen.prompt();
  for await (const line of rl) {
    session.screen.entered();
    if (!(await handleLine(line, session))) return;
    session.screen.prompt();
  }
}

/** Calls `onFailure` once the connection has failed (kicked, too slow, closed); returns a stop function. */
function watchFailure(client: GridlinkClient, onFailure: () => void): () => void {
  return client.onFailure(() => onFailure());
}

/** Joins the room, printing its events through `screen`; closes the connection if refused. */
async function join(client: GridlinkClient, flags: ChatFlags, screen: ChatScreen): Promise<void> {
  try {
    const joined = await client.joinChat(flags.room, flags.name, (event) => screen.print(formatChatEvent(event)));
    screen.print(`joined ${joined.room} as ${joined.nick}; members: ${joined.members.join(', ')}`);
  } catch (err) {
    client.destroy();
    throw err;
  }
}

/** Leaves the room and closes the connection; a failure on the way is thrown (the server's reason first). */
async function leave(client: GridlinkClient, room: string): Promise<void> {
  try {
    if (client.failure !== null) throw client.failure;
    await client.leaveChat(room);
    await client.close();
  } catch (err) {
    client.destroy();
    throw client.failure ?? err;
  }
}

/** The whole session: join, read lines until the end, leave. */
async function runChat(flags: ChatFlags): Promise<void> {
  const screen = new ChatScreen(process.stdout);
  const client = await connectClient(flags);
  await join(client, flags, screen);
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true });
  screen.attach(rl, `[${flags.room}] ${flags.name}> `);
  // Ctrl-C leaves like /quit rather than leaving readline paused.
  rl.on('SIGINT', () => rl.close());
  const stopWatching = watchFailure(client, () => rl.close());
  try {
    await readLines(rl, { client, room: flags.room, screen });
  } catch (err) {
    client.destroy();
    throw client.failure ?? err;
  } finally {
    stopWatching();
    rl.close();
    screen.finish();
  }
  await leave(client, flags.room);
  process.stdout.write(`left ${flags.room}\n`);
}

/**
 * `gridlink chat [--room ROOM] --name NICK` (docs/protocol.md §3.4, README.md "Quick tour"): an interactive
 * chat room. Room events are printed above the prompt without disturbing
 * what the user is typing; `/who`, `/msg`, `/help`, `/quit` (or Ctrl-D).
 * Without a terminal, lines are read from stdin until it ends. Exit status 1
 * with one line when the server refuses the nickname or drops the session.
 */
export function registerChat(program: Command): void {
  withServerOptions(
    program
      .command('chat')
      .description('join a chat room (/who, /msg NICK text, /help, /quit)')
      .option('--room <room>', 'room to join', 'lobby')
      .requiredOption('--name <nick>', 'your nickname in the room (unique in it)'),
  ).action(async (flags: ChatFlags) => {
    await runChat(flags);
  });
}

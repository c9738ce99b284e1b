import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatChatEvent, parseChatLine } from '../../src/cli/commands/chat.js';
import { GridlinkClient } from '../../src/client/index.js';
import type { ChatEvent } from '../../src/protocol/v1.js';
import { run } from '../helpers/python.js';
import { GRIDLINK_BIN } from '../helpers/server-process.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { terminalArgs } from '../helpers/terminal.js';

/** Polls `check` every 20 ms until it holds, failing with `what()` after 10 s. */
async function until(check: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(what());
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A running CLI process whose output is collected as it comes. */
interface Running {
  readonly child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Waits until stdout contains `text`. */
  waitFor(text: string): Promise<void>;
  /** Resolves with the exit code. */
  readonly exit: Promise<number | null>;
}

function track(child: ChildProcessWithoutNullStreams): Running {
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor: (text) => until(() => out.includes(text), () => `never saw ${JSON.stringify(text)} in ${JSON.stringify(out)} (stderr ${JSON.stringify(err)})`),
    exit,
  };
}

/** A chat member on the test side, recording the events it receives. */
interface Member {
  readonly client: GridlinkClient;
  readonly events: ChatEvent[];
  waitForEvent(match: Partial<ChatEvent>): Promise<void>;
}

describe('gridlink chat', () => {
  let server: TestServer;
  const running: Running[] = [];
  const members: GridlinkClient[] = [];

  /** `gridlink chat ARGS` with stdin as a pipe the test writes to. */
  const chat = (args: string[]): Running => {
    const child = spawn(process.execPath, [GRIDLINK_BIN, 'chat', ...args, '--server', `127.0.0.1:${server.port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    const proc = track(child);
    running.push(proc);
    return proc;
  };
  const chatOnce = (args: string[], input = '') => run(process.execPath, [GRIDLINK_BIN, 'chat', ...args, '--server', `127.0.0.1:${server.port}`], { input, timeoutMs: 30_000 });
  const member = async (nick: string, room = 'lobby'): Promise<Member> => {
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    members.push(client);
    const events: ChatEvent[] = [];
    await client.joinChat(room, nick, (event) => events.push(event));
    const matches = (event: ChatEvent, match: Partial<ChatEvent>): boolean => Object.entries(match).every(([key, value]) => event[key as keyof ChatEvent] === value);
    return {
      client,
      events,
      waitForEvent: (match) => until(() => events.some((e) => matches(e, match)), () => `never got ${JSON.stringify(match)}; got ${JSON.stringify(events)}`),
    };
  };

  beforeAll(async () => {
    server = await startTestServer({ chat: { allowAnonymous: true } });
  });
  afterEach(async () => {
    for (const proc of running.splice(0)) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    for (const client of members.splice(0)) client.destroy();
    // Let the server see the members go before the next test joins the same room.
    await until(() => server.server.chat.members('lobby').length === 0, () => `lobby not empty: ${server.server.chat.members('lobby').join(', ')}`);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('parses lines and formats events', () => {
    expect(parseChatLine('  ')).toEqual({ kind: 'empty' });
    expect(parseChatLine('hi /who')).toEqual({ kind: 'say', text: 'hi /who' });
    expect(parseChatLine('//who')).toEqual({ kind: 'say', text: '/who' });
    expect(parseChatLine('/quit')).toEqual({ kind: 'quit' });
    expect(parseChatLine('/msg bob  two  spaces ')).toEqual({ kind: 'msg', to: 'bob', text: 'two  spaces ' });
    expect(() => parseChatLine('/msg bob')).toThrow(/usage: \/msg NICK text/u);
    expect(() => parseChatLine('/nope')).toThrow(/unknown command "\/nope"/u);
    const at = Date.now();
    expect(formatChatEvent({ type: 'joined', room: 'lobby', from: 'ann', at })).toBe('* ann joined');
    expect(formatChatEvent({ type: 'left', room: 'lobby', from: 'ann', at })).toBe('* ann left');
    expect(formatChatEvent({ type: 'message', room: 'lobby', from: 'ann', text: 'hi', at })).toBe('ann: hi');
    expect(formatChatEvent({ type: 'private', room: 'lobby', from: 'ann', to: 'bob', text: 'psst', at })).toBe('(private) ann: psst');
    expect(formatChatEvent({ type: 'announce', room: 'lobby', from: '管理员', text: 'maintenance', at })).toBe('[管理员] maintenance');
    // Another member's text cannot send escape sequences to our terminal.
    expect(formatChatEvent({ type: 'message', room: 'lobby', from: 'ann', text: 'a\u001b[2Jb\nc', at })).toBe('ann: a\uFFFD[2Jb\uFFFDc');
  });

  it('two CLI clients: notices, messages, /who, /msg, errors that do not end the session', { timeout: 30_000 }, async () => {
    const alice = chat(['--name', 'alice']);
    await alice.waitFor('joined lobby as alice; members: alice\n');
    const bob = chat(['--name', 'bob']);
    await bob.waitFor('joined lobby as bob; members: alice, bob\n');
    await alice.waitFor('* bob joined\n');

    bob.child.stdin.write('hello alice\n');
    await alice.waitFor('bob: hello alice\n');
    alice.child.stdin.write('\n/who\n');
    await alice.waitFor('members: alice, bob\n');
    alice.child.stdin.write('/msg bob psst, only you\n');
    await bob.waitFor('(private) alice: psst, only you\n');
    alice.child.stdin.write('/msg nobody hi\n/nope\n');
    await alice.waitFor('error: nobody with this nickname is in the room: nobody (GL_ERR_CHAT_NO_SUCH_MEMBER)\n');
    await alice.waitFor('error: invalid command-line arguments: unknown command "/nope"; type /help (GL_ERR_CLIENT_USAGE)\n');
    alice.child.stdin.write('/help\nstill here\n');
    await alice.waitFor('/msg NICK text');
    await bob.waitFor('alice: still here\n');

    // End of input leaves the room (the other side sees it) and exits 0.
    bob.child.stdin.end();
    expect(await bob.exit).toBe(0);
    await alice.waitFor('* bob left\n');
    alice.child.stdin.write('/quit\n');
    expect(await alice.exit).toBe(0);
    expect(alice.stderr()).toBe('');
    // Without a terminal there is no prompt, and nobody hears their own message.
    expect(alice.stdout()).not.toContain('alice>');
    expect(bob.stdout()).not.toContain('bob: hello alice');
    expect(bob.stdout().trimEnd().split('\n').at(-1)).toBe('left lobby');
  });

  it('a scripted session in another room reaches a library client, which sees the join and leave', { timeout: 30_000 }, async () => {
    const ops = await member('watcher', 'ops');
    const out = await chatOnce(['--room', 'ops', '--name', 'carol'], 'breaker 12 tripped\n/msg watcher check feeder 3\n');
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('joined ops as carol; members: carol, watcher\nleft ops\n');
    await ops.waitForEvent({ type: 'left', from: 'carol' });
    expect(ops.events.map((e) => [e.type, e.from, e.text])).toEqual([
      ['joined', 'carol', undefined],
      ['message', 'carol', 'breaker 12 tripped'],
      ['private', 'carol', 'check feeder 3'],
      ['left', 'carol', undefined],
    ]);
    await ops.client.leaveChat('ops');
  });

  it('refuses a nickname in use with one line and exit 1; --name is required', { timeout: 30_000 }, async () => {
    await member('dave');
    const taken = await chatOnce(['--name', 'dave'], 'hello\n');
    expect(taken.code).toBe(1);
    expect(taken.stdout).toBe('');
    expect(taken.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(taken.stderr).toContain('GL_ERR_CHAT_NICK_TAKEN');
    const bad = await chatOnce(['--name', 'has space']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('GL_ERR_CHAT_BAD_NAME');
    const missing = await chatOnce([]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--name <nick>'");
  });

  it('prints announcements, and exits 1 with one line when kicked', { timeout: 30_000 }, async () => {
    const erin = chat(['--name', 'erin']);
    await erin.waitFor('joined lobby as erin');
    server.server.chat.announce('maintenance at 22:00');
    await erin.waitFor('[管理员] maintenance at 22:00\n');
    server.server.chat.kick('erin');
    expect(await erin.exit).toBe(1);
    expect(erin.stderr().trimEnd().split('\n')).toHaveLength(1);
    expect(erin.stderr()).toContain('GL_ERR_CHAT_KICKED');
  });

  it('exits 1 with one line when the server goes away', { timeout: 30_000 }, async () => {
    const other = await startTestServer({ chat: { allowAnonymous: true } });
    let stopped = false;
    try {
      const child = spawn(process.execPath, [GRIDLINK_BIN, 'chat', '--name', 'fay', '--server', `127.0.0.1:${other.port}`], { stdio: ['pipe', 'pipe', 'pipe'] });
      const fay = track(child);
      running.push(fay);
      await fay.waitFor('joined lobby as fay');
      stopped = true;
      await other.stop();
      expect(await fay.exit).toBe(1);
      expect(fay.stderr().trimEnd().split('\n')).toHaveLength(1);
      expect(fay.stderr()).toMatch(/^gridlink: .*\(GL_ERR_[A-Z_]+\)/u);
    } finally {
      if (!stopped) await other.stop();
    }
  });

  it('in a terminal: an incoming message appears above the prompt, which keeps the partial input', { timeout: 30_000 }, async () => {
    const child = spawn('script', terminalArgs([process.execPath, GRIDLINK_BIN, 'chat', '--name', 'alice', '--server', `127.0.0.1:${server.port}`]), { env: { ...process.env, TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
    const alice = track(child);
    running.push(alice);
    await alice.waitFor('[lobby] alice> ');
    const bob = await member('bob');
    await alice.waitFor('* bob joined\r\n');
    child.stdin.write('hel');
    // readline draws the prompt, moves the cursor after it, then echoes what is typed.
    // eslint-disable-next-line no-control-regex
    const visible = (): string => alice.stdout().replace(/\u001b\[[0-9;]*[A-Za-z]/gu, '');
    await until(() => visible().endsWith('[lobby] alice> hel'), () => `no "hel" after the prompt: ${JSON.stringify(alice.stdout())}`);
    const before = alice.stdout().length;
    await bob.client.say('lobby', 'are you there?');
    await alice.waitFor('bob: are you there?\r\n');
    const redraw = alice.stdout().slice(before);
    // The prompt line is erased (cursor to column 1, clear down), the message written, the prompt and "hel" redrawn.
    // eslint-disable-next-line no-control-regex
    expect(redraw).toMatch(/^(?:\u001b\[[0-9;]*[A-Za-z]|\r)*bob: are you there\?\r\n(?:\u001b\[[0-9;]*[A-Za-z]|\r)*\[lobby\] alice> hel/u);
    child.stdin.write('lo\r');
    await bob.waitForEvent({ type: 'message', from: 'alice', text: 'hello' });
    // Ctrl-D leaves like /quit.
    child.stdin.write('\u0004');
    expect(await alice.exit).toBe(0);
    await bob.waitForEvent({ type: 'left', from: 'alice' });
    expect(alice.stdout()).toContain('left lobby');
  });
});

import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GridlinkClient } from '../../src/client/index.js';
import { GRIDLINK_BIN } from '../helpers/server-process.js';
import { startTestServer, type TestServer } from '../helpers/test-server.js';
import { terminalArgs } from '../helpers/terminal.js';

/**
 * `gridlink shell` in a real pseudo-terminal (util-linux `script`), typed at
 * like a person would: tab completion of remote names and the prompt.
 */
describe('gridlink shell in a terminal', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ anonymous: { enabled: false } });
    await server.server.users.add('kim', 'kim-password', 'operator');
    const client = await GridlinkClient.connect({ host: '127.0.0.1', port: server.port });
    await client.login('kim', 'kim-password');
    await client.mkdir('substations/north', true);
    await client.close();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('completes remote names with Tab and shows the directory in the prompt', { timeout: 30_000 }, async () => {
    const child = spawn('script', terminalArgs([process.execPath, GRIDLINK_BIN, 'shell', '--user', 'kim', '--server', `127.0.0.1:${server.port}`]), { env: { ...process.env, GRIDLINK_PASSWORD: 'kim-password', TERM: 'xterm' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (screen += d));
    const waitFor = async (text: string): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!screen.includes(text)) {
        if (Date.now() > deadline) throw new Error(`never saw ${JSON.stringify(text)} in ${JSON.stringify(screen)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await waitFor('gridlink:/> ');
      child.stdin.write('cd sub\t');
      await waitFor('cd substations/');
      child.stdin.write('\r');
      await waitFor('gridlink:/substations> ');
      child.stdin.write('cd no\t');
      await waitFor('cd north/');
      child.stdin.write('\rpwd\r');
      await waitFor('/substations/north\r\n');
      child.stdin.write('quit\r');
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

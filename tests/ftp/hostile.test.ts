import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareHostileHomes, type HostileHomes } from '../helpers/hostile-homes.js';
import { hostilePaths } from '../helpers/hostile-paths.js';
import { snapshot } from '../helpers/snapshot.js';
import type { TestServer } from '../helpers/test-server.js';
import { until } from '../helpers/until.js';
import { RawFtp, readAll, startFtpServer } from './ftp-fixture.js';

const SECRET = 'other user secret';
const INTRUDER = 'intruder';

/** A refusal: a transient or permanent negative reply (RFC 959 §4.2.1). */
const refused = (code: number): boolean => code >= 400 && code < 600;

describe('FTP front: hostile names, bounce and data-connection theft (docs/ftp.md "Security")', () => {
  let server: TestServer & { ftpPort: number };
  let outside: { path: string; cleanup: () => Promise<void> };
  let home: string;
  let others: string;
  let before: HostileHomes['before'];
  let fixture: HostileHomes;

  beforeAll(async () => {
    server = await startFtpServer({ anonymous: { enabled: false } });
    fixture = await prepareHostileHomes(server, SECRET);
    ({ outside, home, others, before } = fixture);
  });
  afterAll(async () => {
    await server.stop();
    await outside.cleanup();
  });

  const plantLinks = (): Promise<void> => fixture.plantLinks();

  it('file commands need a login', async () => {
    const ftp = await RawFtp.connect(server.ftpPort);
    for (const line of ['CWD /', 'RETR secret.txt', 'STOR x', 'DELE x', 'MKD x', 'RNFR x', 'MLST x', 'SIZE x', 'PASV', 'EPSV', 'PORT 127,0,0,1,200,1', 'LIST']) {
      expect((await ftp.send(line)).code, line).toBe(530);
    }
    expect((await ftp.send('PASS guess')).code).toBe(503);
    ftp.close();
  });

  // A line break ends an FTP command, so names holding CR or LF cannot be
  // sent as one argument (the split is checked at the end of this test);
  // nor can a path longer than a command line (checked on its own).
  const tooLong = (path: string): boolean => Buffer.byteLength(path) > 4_000;
  const corpus = hostilePaths().filter((path) => !/[\r\n]/u.test(path) && !tooLong(path));

  it('a path longer than the command line limit: 500, and the connection closes', async () => {
    const long = hostilePaths().filter(tooLong);
    expect(long.length).toBeGreaterThan(0);
    for (const path of long) {
      const ftp = await RawFtp.connect(server.ftpPort);
      await ftp.login('ivan', 'ivan-password');
      expect((await ftp.send(`RETR ${path}`)).code).toBe(500);
      await until(() => ftp.closed, 5_000, 'the connection to close');
    }
  });

  it(`${corpus.length} hostile paths through CWD, RETR, STOR, DELE, MKD, RNFR/RNTO, MLST: refused or kept inside`, { timeout: 180_000 }, async () => {
    const ftp = await RawFtp.connect(server.ftpPort);
    await ftp.login('ivan', 'ivan-password');
    const seen: Record<string, number> = {};
    let stored = 0;
    let retrieved = 0;
    const check = (what: string, code: number, okCodes: number[]): boolean => {
      seen[String(code)] = (seen[String(code)] ?? 0) + 1;
      expect(refused(code) || okCodes.includes(code), `${what}: ${code}`).toBe(true);
      return !refused(code);
    };
    for (const path of corpus) {
      await plantLinks();
      check(`CWD ${JSON.stringify(path)}`, (await ftp.send(`CWD ${path}`)).code, [250]);
      expect((await ftp.send('CWD /')).code).toBe(250);

      // STOR: stored inside the home, or refused.
      let data = await ftp.passive();
      const stor = await ftp.send(`STOR ${path}`);
      if (check(`STOR ${JSON.stringify(path)}`, stor.code, [150])) {
        data.end(INTRUDER);
        expect((await ftp.reply()).code, `STOR ${JSON.stringify(path)}`).toBe(226);
        stored += 1;
      } else data.destroy();

      // RETR (after the STOR): whatever is read must be what this test stored inside, never a secret.
      data = await ftp.passive();
      const content = readAll(data).catch(() => Buffer.alloc(0));
      const retr = await ftp.send(`RETR ${path}`);
      if (check(`RETR ${JSON.stringify(path)}`, retr.code, [150])) {
        expect((await content).toString(), `RETR ${JSON.stringify(path)}`).toBe(INTRUDER);
        expect((await ftp.reply()).code).toBe(226);
        retrieved += 1;
      } else data.destroy();

      const mlst = await ftp.send(`MLST ${path}`);
      if (check(`MLST ${JSON.stringify(path)}`, mlst.code, [250])) expect(mlst.text).not.toContain(SECRET);
      check(`MKD ${JSON.stringify(path)}`, (await ftp.send(`MKD ${path}`)).code, [257]);
      if (check(`RNFR ${JSON.stringify(path)}`, (await ftp.send(`RNFR ${path}`)).code, [350])) {
        if (check(`RNTO moved-here`, (await ftp.send('RNTO moved-here')).code, [250])) {
          expect((await ftp.send('RNFR moved-here')).code).toBe(350);
          check(`RNTO ${JSON.stringify(path)}`, (await ftp.send(`RNTO ${path}`)).code, [250]);
        }
      }
      await rm(join(home, 'moved-here'), { recursive: true, force: true });
      check(`DELE ${JSON.stringify(path)}`, (await ftp.send(`DELE ${path}`)).code, [250]);
      check(`RMD ${JSON.stringify(path)}`, (await ftp.send(`RMD ${path}`)).code, [250]);
    }
    // A name with a line break is two commands: the first part is handled, the rest is an unknown command.
    expect((await ftp.send('DELE line\nbreak')).code).toBe(550);
    expect((await ftp.reply()).code).toBe(500);
    ftp.close();
    expect(await snapshot(outside.path)).toEqual(before.outside);
    expect(await snapshot(others)).toEqual(before.others);
    expect(await readFile(join(outside.path, 'secret.txt'), 'utf8')).toBe(SECRET);
    // Most of the corpus is refused; a few names are ordinary names inside the home.
    expect((seen['553'] ?? 0) + (seen['550'] ?? 0)).toBeGreaterThan(corpus.length * 4);
    // ...which were stored and read back inside (e.g. "%2e%2e%2fsecret.txt", "\ud800").
    expect(stored).toBeGreaterThan(0);
    expect(retrieved).toBeGreaterThan(0);
  });

  it('PORT and EPRT to another address, or to a privileged port, are refused (no FTP bounce)', async () => {
    const ftp = await RawFtp.connect(server.ftpPort);
    await ftp.login('ivan', 'ivan-password');
    for (const line of ['PORT 127,0,0,2,117,48', 'PORT 10,0,0,1,117,48', 'PORT 192,168,1,1,0,25', 'EPRT |1|127.0.0.2|30000|', 'EPRT |1|10.0.0.1|30000|', 'EPRT |2|::1|30000|', 'PORT 127,0,0,1,0,25', 'EPRT |1|127.0.0.1|21|']) {
      const reply = await ftp.send(line);
      expect([504, 522], `${line}: ${reply.text}`).toContain(reply.code);
    }
    for (const line of ['PORT 127,0,0,1', 'PORT 1,2,3,4,5,6,7', 'PORT 300,0,0,1,1,1', 'EPRT |3|x|1|', 'EPRT garbage']) {
      expect((await ftp.send(line)).code, line).toBeGreaterThanOrEqual(500);
    }
    ftp.close();
  });

  it('a passive data connection from another address (127.0.0.2) is refused; the right peer still gets the file', async () => {
    await writeFile(join(home, 'pasv.txt'), 'for ivan only');
    const ftp = await RawFtp.connect(server.ftpPort);
    await ftp.login('ivan', 'ivan-password');
    const reply = await ftp.send('EPSV');
    const port = Number(/\|\|\|(\d+)\|/u.exec(reply.text)?.[1]);
    const { connect } = await import('node:net');
    // The thief connects first, from another loopback address.
    const thief = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    const stolen = readAll(thief).catch(() => Buffer.alloc(0));
    thief.on('error', () => undefined);
    await until(() => thief.destroyed || thief.readableEnded, 5_000, 'the thief to be closed');
    const right = connect({ host: '127.0.0.1', port });
    const content = readAll(right);
    expect((await ftp.send('RETR pasv.txt')).code).toBe(150);
    expect((await content).toString()).toBe('for ivan only');
    expect((await ftp.reply()).code).toBe(226);
    expect((await stolen).length).toBe(0);
    ftp.close();
  });

  it('a second client cannot take a passive port while its owner waits for the transfer', async () => {
    await writeFile(join(home, 'race.txt'), 'race');
    const ftp = await RawFtp.connect(server.ftpPort);
    await ftp.login('ivan', 'ivan-password');
    const reply = await ftp.send('PASV');
    expect(reply.code).toBe(227);
    const [, p1, p2] = /,(\d+),(\d+)\)/u.exec(reply.text)!;
    const port = Number(p1) * 256 + Number(p2);
    const { connect } = await import('node:net');
    const thieves = Array.from({ length: 5 }, () => connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' }).on('error', () => undefined));
    await until(() => thieves.every((t) => t.destroyed || t.readableEnded), 5_000, 'every thief to be closed');
    const right = connect({ host: '127.0.0.1', port });
    const content = readAll(right);
    expect((await ftp.send('RETR race.txt')).code).toBe(150);
    expect((await content).toString()).toBe('race');
    expect((await ftp.reply()).code).toBe(226);
    ftp.close();
  });
});

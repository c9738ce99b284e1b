import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { snapshot } from './snapshot.js';
import { makeTempDir } from './temp-dir.js';
import type { TestServer } from './test-server.js';

/** Two homes and a directory outside the data dir, for jail tests of every front end. */
export interface HostileHomes {
  /** A directory outside the server's data, holding `secret.txt` and `etc/passwd`. */
  readonly outside: { path: string; cleanup: () => Promise<void> };
  /** ivan's home: the tests' user works here. */
  readonly home: string;
  /** judy's home, with a `secret.txt` ivan must never reach. */
  readonly others: string;
  /** Snapshots taken before the attacks, to compare with afterwards. */
  readonly before: { outside: Record<string, string>; others: Record<string, string> };
  /** (Re)creates links in ivan's home to outside and to judy's home; a test may have replaced one. */
  plantLinks(): Promise<void>;
}

/** Adds users ivan and judy (operators, passwords `<name>-password`) to `server` and lays out {@link HostileHomes}. */
export async function prepareHostileHomes(server: Pick<TestServer, 'server' | 'dataDir'>, secret: string): Promise<HostileHomes> {
  const outside = await makeTempDir('gridlink-outside-');
  await writeFile(join(outside.path, 'secret.txt'), secret);
  await mkdir(join(outside.path, 'etc'));
  await writeFile(join(outside.path, 'etc', 'passwd'), secret);
  await server.server.users.add('ivan', 'ivan-password', 'operator');
  await server.server.users.add('judy', 'judy-password', 'operator');
  const others = join(server.dataDir, 'home', 'judy');
  await mkdir(others, { recursive: true });
  await writeFile(join(others, 'secret.txt'), secret);
  const home = join(server.dataDir, 'home', 'ivan');
  await mkdir(home, { recursive: true });
  const before = { outside: await snapshot(outside.path), others: await snapshot(others) };
  return {
    outside,
    home,
    others,
    before,
    plantLinks: async () => {
      for (const [name, target] of [
        ['link-dir', outside.path],
        ['link-file', join(outside.path, 'secret.txt')],
        ['link-judy', others],
      ] as const) {
        await rm(join(home, name), { recursive: true, force: true });
        await symlink(target, join(home, name));
      }
    },
  };
}

import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClusterNodes, type ClusterNodes } from '../helpers/cluster-nodes.js';
import { startNats, type NatsSystem } from '../helpers/nats-server.js';
import { run } from '../helpers/python.js';
import { GRIDLINK_BIN } from '../helpers/server-process.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * A node started with `--config FILE --cluster URLS --node NAME` keeps the
 * file as its source: `admin reload` re-reads it and applies `--cluster` and
 * `--node` again, so they are neither lost nor named as changes
 * (docs/configuration.md "Reload").
 */
describe('admin reload on a cluster node started with --cluster and --node', () => {
  let nats: NatsSystem;
  let cluster: ClusterNodes;

  beforeAll(async () => {
    nats = await startNats();
    cluster = await startClusterNodes({ nats: nats.urls, names: ['a'] });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    await nats?.stop();
  });

  it('re-reads the file: a new log level applies, the command line’s cluster settings are kept and not reported', async () => {
    const node = cluster.nodes[0]!;
    const configPath = join(dirname(node.dataDir), `${node.name}.json`);
    const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    config['log'] = { level: 'warn' };
    await writeFile(`${configPath}.tmp`, JSON.stringify(config));
    await rename(`${configPath}.tmp`, configPath);

    const reload = await run(process.execPath, [GRIDLINK_BIN, 'admin', '--data', node.dataDir, 'reload', '--json'], { cwd: ROOT, timeoutMs: 30_000 });
    expect(reload.stderr).toBe('');
    expect(reload.code).toBe(0);
    const reply = JSON.parse(reload.stdout) as { applied: string[]; restartNeeded: string[] };
    expect(reply.applied).toContain('log.level');
    expect(reply.restartNeeded.filter((key) => key.startsWith('cluster'))).toEqual([]);

    const status = await node.status();
    expect(status['cluster']).toMatchObject({ node: 'a' });
  }, 30_000);
});

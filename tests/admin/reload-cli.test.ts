import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type RunResult } from '../helpers/python.js';
import { GRIDLINK_BIN, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * `gridlink admin reload` and SIGHUP against the built `gridlink serve`
 * running as its own process (docs/configuration.md "Reload").
 */
describe('gridlink admin reload and SIGHUP (a real gridlink serve process)', () => {
  let temp: { path: string; cleanup: () => Promise<void> };
  let server: ServerProcess;
  let dataDir: string;
  let configPath: string;

  const gridlink = (args: readonly string[]): Promise<RunResult> => run(process.execPath, [GRIDLINK_BIN, ...args], { cwd: ROOT, timeoutMs: 30_000 });
  const edit = async (change: (config: Record<string, unknown>) => void): Promise<void> => {
    const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    change(config);
    await writeFile(`${configPath}.tmp`, JSON.stringify(config));
    await rename(`${configPath}.tmp`, configPath);
  };
  const scadaOf = (config: Record<string, unknown>): { simulator: Record<string, unknown> } => config['scada'] as { simulator: Record<string, unknown> };

  beforeAll(async () => {
    temp = await makeTempDir('gl-reload-cli-');
    dataDir = join(temp.path, 'data');
    configPath = join(temp.path, 'config.json');
    server = await startServerProcess(temp.path, { dataDir, files: { durable: false }, iec104: { enabled: false }, scada: { simulator: { noise: false, pollMs: 1_000 } } });
  });
  afterAll(async () => {
    await server.stop();
    await temp.cleanup();
  });

  it('reload prints what applied, what restarted and what needs a restart; --json gives the reply', async () => {
    await edit((config) => {
      scadaOf(config).simulator['pollMs'] = 200;
    });
    const human = await gridlink(['admin', '--data', dataDir, 'reload']);
    expect(human.stderr).toBe('');
    expect(human.code).toBe(0);
    expect(human.stdout).toBe(
      'applied: scada.simulator.pollMs\n  devices: added 0, restarted 1 (sub1), removed 0, unchanged 0\n  points: added 0, removed 0, changed 4\n',
    );
    await edit((config) => {
      (config['native'] as Record<string, unknown>)['maxConnectionsPerAddress'] = 7;
    });
    const json = await gridlink(['admin', '--data', dataDir, 'reload', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ applied: [], restartNeeded: ['native.maxConnectionsPerAddress'], warnings: [] });
  });

  it('a bad key is refused with its name and a non-zero exit; the server runs on unchanged', async () => {
    await edit((config) => {
      scadaOf(config).simulator['pollMs'] = 1;
    });
    const refused = await gridlink(['admin', '--data', dataDir, 'reload']);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('GL_ERR_CONFIG_INVALID');
    expect(refused.stderr).toContain('scada.simulator.pollMs');
    expect(server.child.exitCode).toBeNull();
    const status = JSON.parse((await gridlink(['admin', '--data', dataDir, 'status', '--json'])).stdout) as { scada: { devices: number; devicesOnline: number } };
    expect(status.scada).toMatchObject({ devices: 1, devicesOnline: 1 });
  });

  it('SIGHUP reloads the same way (logged and audited as the signal)', async () => {
    await edit((config) => {
      scadaOf(config).simulator['pollMs'] = 500;
    });
    server.child.kill('SIGHUP');
    const line = await until(() => server.logs.find((l) => l['event'] === 'config.reloaded' && l['by'] === 'signal:SIGHUP'), 10_000, 'the SIGHUP reload');
    expect(line).toMatchObject({ applied: ['scada.simulator.pollMs'], restartNeeded: ['native.maxConnectionsPerAddress'] });
    expect(server.child.exitCode).toBeNull();
    // A refused one is logged too, and the process lives on.
    await writeFile(configPath, '{ not json');
    server.child.kill('SIGHUP');
    await until(() => server.logs.find((l) => l['event'] === 'config.reload_refused' && l['by'] === 'signal:SIGHUP'), 10_000, 'the refused SIGHUP reload');
    expect(server.child.exitCode).toBeNull();
    expect(await server.stop()).toBe(0);
  });
});

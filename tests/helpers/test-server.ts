import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/log/logger.js';
import { GridlinkServer } from '../../src/server/gridlink-server.js';
import { makeTempDir } from './temp-dir.js';

export interface TestServer {
  readonly server: GridlinkServer;
  readonly port: number;
  readonly dataDir: string;
  /** The anonymous area's directory. */
  readonly publicDir: string;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
}

/**
 * A real gridlink server in this process, on a loopback port chosen by the
 * OS, with a fresh data directory and the anonymous area on and writable.
 */
export async function startTestServer(overrides: ConfigInput = {}): Promise<TestServer> {
  const temp = await makeTempDir();
  const dataDir = join(temp.path, 'data');
  const config = parseConfig({
    dataDir,
    log: { level: 'silent' },
    files: { durable: false },
    ...overrides,
    native: { port: 0, ...(overrides.native ?? {}) },
    legacyChat: { port: 0, ...(overrides.legacyChat ?? {}) },
    http: { port: 0, ...(overrides.http ?? {}) },
    // Passive data ports too: 0 lets the OS pick, so parallel test files never collide.
    ftp: { port: 0, passivePorts: 0, ...(overrides.ftp ?? {}) },
    iec104: { port: 0, ...(overrides.iec104 ?? {}) },
    scada: { ...(overrides.scada ?? {}), simulator: { port: 0, ...(overrides.scada?.simulator ?? {}) } },
    anonymous: { enabled: true, writable: true, ...(overrides.anonymous ?? {}) },
  });
  let server: GridlinkServer;
  try {
    server = await GridlinkServer.start(config, createLogger(config.log.level));
  } catch (err) {
    await temp.cleanup();
    throw err;
  }
  return {
    server,
    port: server.nativeAddress.port,
    dataDir: config.dataDir,
    publicDir: join(config.dataDir, 'public'),
    stop: async () => {
      await server.stop(1_000);
      await temp.cleanup();
    },
  };
}

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { GridlinkError } from '../../src/errors/index.js';

describe('configuration', () => {
  it('an empty file is a complete configuration with the docs/architecture.md defaults', () => {
    const config = parseConfig({});
    expect(config.native).toMatchObject({ host: '127.0.0.1', port: 8889 });
    expect(config.anonymous.enabled).toBe(false);
    expect(config.files.durable).toBe(true);
    expect(config.dataDir.endsWith('gridlink-data')).toBe(true);
  });

  it.each([
    [{ native: { port: 70000 } }, 'native.port'],
    [{ native: { port: -1 } }, 'native.port'],
    [{ native: { maxConnections: 0 } }, 'native.maxConnections'],
    [{ limits: { maxHeaderBytes: 70000 } }, 'limits.maxHeaderBytes'],
    [{ log: { level: 'loud' } }, 'log.level'],
    [{ files: { durable: 'yes' } }, 'files.durable'],
    [{ surprise: true }, 'unknown key surprise'],
    [{ anonymous: { enabeld: true } }, 'unknown key anonymous.enabeld'],
  ])('%j is refused naming %s', (input, key) => {
    let error: unknown = null;
    try {
      parseConfig(input);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GridlinkError);
    expect((error as GridlinkError).code).toBe('GL_ERR_CONFIG_INVALID');
    expect((error as GridlinkError).message).toContain(key);
  });
});

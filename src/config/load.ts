import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { GridlinkError } from '../errors/index.js';
import { DEMO_CONFIG, configSchema, type Config, type ConfigInput } from './schema.js';

export interface ConfigOverrides {
  readonly dataDir?: string | undefined;
  readonly port?: number | undefined;
}

/** Where a configuration was loaded from: what `gridlink admin reload` reads again (docs/configuration.md "Reload"). */
export interface ConfigSource {
  /** The JSON file given to `--config`. */
  readonly file: string;
  /** The command-line overrides (`--data`, `--port`), applied again on every reload. */
  readonly overrides: ConfigOverrides;
  /** What the command line changed beyond `overrides` (see {@link derivedConfig}), applied again on every reload. */
  readonly derive?: ((config: Config) => Config) | undefined;
}

/** The file each configuration {@link loadConfig} returned came from; configurations built otherwise have none. */
const sources = new WeakMap<Config, ConfigSource>();

/** The file `config` was loaded from, or undefined (the embedded defaults, or a config built in code). */
export function configSourceOf(config: Config): ConfigSource | undefined {
  return sources.get(config);
}

/**
 * A configuration made from a loaded one by more command-line options (such
 * as `--cluster`, `--node`): it keeps the file as its source, and `derive`
 * is applied again to what every reload reads, so a reload does not see the
 * command line's values as changes.
 */
export function derivedConfig(base: Config, derive: (config: Config) => Config): Config {
  const derived = derive(base);
  const source = sources.get(base);
  if (source !== undefined) {
    const before = source.derive;
    sources.set(derived, { ...source, derive: before === undefined ? derive : (config) => derive(before(config)) });
  }
  return derived;
}

/** Reads the configuration again from where `source` says it came from (`gridlink admin reload`, docs/configuration.md "Reload"). */
export async function reloadConfig(source: ConfigSource): Promise<Config> {
  const config = await loadConfig(source.file, source.overrides);
  return source.derive === undefined ? config : source.derive(config);
}

/** Validates a config object; the error names the first bad key and why. */
export function parseConfig(input: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(input);
  if (!result.success) throw new GridlinkError('GL_ERR_CONFIG_INVALID', `${source}: ${describeIssues(result.error)}`);
  const config = result.data;
  return { ...config, dataDir: resolve(config.dataDir) };
}

/**
 * Loads the configuration for `gridlink serve`: the file if given (JSON),
 * else the demo defaults; then command-line overrides.
 */
export async function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}): Promise<Config> {
  let input: ConfigInput;
  if (file === undefined) {
    input = structuredClone(DEMO_CONFIG);
  } else {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      throw new GridlinkError('GL_ERR_CONFIG_READ', `${file}: ${(cause as Error).message}`, { cause });
    }
    try {
      input = JSON.parse(text) as ConfigInput;
    } catch (cause) {
      throw new GridlinkError('GL_ERR_CONFIG_READ', `${file} is not valid JSON: ${(cause as Error).message}`, { cause });
    }
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new GridlinkError('GL_ERR_CONFIG_INVALID', `${file ?? 'config'}: the top level must be a JSON object`);
  }
  const merged: Record<string, unknown> = { ...input };
  if (overrides.dataDir !== undefined) merged['dataDir'] = overrides.dataDir;
  if (overrides.port !== undefined) merged['native'] = { ...(input.native ?? {}), port: overrides.port };
  const config = parseConfig(merged, file ?? 'config');
  if (file !== undefined) sources.set(config, { file: resolve(file), overrides: { ...overrides } });
  return config;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => {
      const key = issue.path.join('.');
      const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => (key === '' ? k : `${key}.${k}`)).join(', ') : key;
      return issue.code === 'unrecognized_keys' ? `unknown key ${keys}` : `${keys === '' ? '(top level)' : keys}: ${issue.message}`;
    })
    .join('; ');
}

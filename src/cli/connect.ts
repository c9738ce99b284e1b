import { readFile } from 'node:fs/promises';
import { GridlinkClient } from '../client/index.js';
import { GridlinkError } from '../errors/index.js';
import { readPassword } from './password-prompt.js';

/** Options every command that talks to the server shares (README.md "Quick tour"). */
export interface ServerFlags {
  server: { host: string; port: number };
  user?: string;
  tls?: boolean;
  ca?: string;
}

/** The TLS settings of `--tls` / `--ca FILE` (undefined: plain TCP). */
async function tlsOptions(flags: ServerFlags): Promise<{ ca?: Buffer } | undefined> {
  if (flags.ca !== undefined) {
    const ca = await readFile(flags.ca).catch((cause: unknown) => {
      throw new GridlinkError('GL_ERR_CLIENT_LOCAL_FILE', `--ca ${flags.ca}: ${(cause as Error).message}`, { cause });
    });
    return { ca };
  }
  return flags.tls === true ? {} : undefined;
}

/** Connects and, with --user, logs in by challenge–response (the password never crosses the wire). */
export async function connectClient(flags: ServerFlags): Promise<GridlinkClient> {
  const password = flags.user === undefined ? null : await readPassword(`password for ${flags.user}: `);
  const client = await GridlinkClient.connect({ ...flags.server, tls: await tlsOptions(flags) });
  try {
    if (flags.user !== undefined && password !== null) await client.login(flags.user, password);
    return client;
  } catch (err) {
    client.destroy();
    throw err;
  }
}

/** Runs `work` with a connected (and logged-in) client, closing it afterwards. */
export async function withClient<T>(flags: ServerFlags, work: (client: GridlinkClient) => Promise<T>): Promise<T> {
  const client = await connectClient(flags);
  try {
    return await work(client);
  } finally {
    await client.close().catch(() => client.destroy());
  }
}

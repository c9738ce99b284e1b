import type { Command } from 'commander';
import type { Config, configSchema as ConfigSchema } from '../../config/schema.js';
import { GridlinkError } from '../../errors/index.js';
import { parsePort } from '../options.js';

/** `gridlink serve [--config FILE] [--data DIR] [--port N]` (README.md "Quick tour"). */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the gridlink server (every service in one process)')
    .option('--config <file>', 'JSON configuration file (default: the embedded demo defaults)')
    .option('--data <dir>', 'data directory (default ./gridlink-data)')
    .option('--port <n>', 'native protocol port (default 8889)', parsePort)
    .option('--cluster <urls>', 'join a cluster on NATS JetStream: nats://HOST:PORT[,…] (docs/cluster.md)')
    .option('--node <name>', 'this node\'s name in the cluster, unique among live nodes (default: the host name)')
    .action(async (options: { config?: string; data?: string; port?: number; cluster?: string; node?: string }) => {
      // The server's modules load only for `serve`: a client command (put,
      // get, chat…) starts faster and smaller without them.
      const [{ derivedConfig, loadConfig }, { configSchema }, { createLogger, createTerminalDestination }, { GridlinkServer }, { serveSummary }] = await Promise.all([
        import('../../config/load.js'),
        import('../../config/schema.js'),
        import('../../log/logger.js'),
        import('../../server/gridlink-server.js'),
        import('../serve-summary.js'),
      ]);
      const loaded = await loadConfig(options.config, { dataDir: options.data, port: options.port });
      // Derived, not rebuilt: the file stays the config's source, so `admin
      // reload` and SIGHUP re-read it and apply --cluster/--node again.
      const config =
        options.cluster === undefined && options.node === undefined ? loaded : derivedConfig(loaded, (c) => withCluster(c, options.cluster, options.node, configSchema));
      // A person at a terminal reads a summary, then readable log lines;
      // anything else (a pipe, a file, systemd) gets the JSON lines.
      const terminal = process.stdout.isTTY === true ? createTerminalDestination() : null;
      const logger = createLogger(config.log.level, terminal ?? undefined);
      const server = await GridlinkServer.start(config, logger).catch((err: unknown) => {
        terminal?.release();
        throw err;
      });
      if (terminal !== null) {
        process.stdout.write(serveSummary(server));
        terminal.release();
      } else if (server.initialAdminPassword !== null) {
        // Shown once, on the terminal only (never in the log).
        process.stderr.write(
          `gridlink: created user "admin" with password ${server.initialAdminPassword}\n` +
            `gridlink: it is also in ${config.dataDir}/initial-admin-password (mode 0600); change it with "gridlink admin user passwd admin"\n`,
        );
      }
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          logger.info({ event: 'server.signal', signal });
          process.off('SIGINT', onInt);
          process.off('SIGTERM', onTerm);
          server.stop().then(resolve, resolve);
        };
        const onInt = (): void => stop('SIGINT');
        const onTerm = (): void => stop('SIGTERM');
        process.on('SIGINT', onInt);
        process.on('SIGTERM', onTerm);
      });
      logger.flush();
    });
}

/** `--cluster` and `--node` over the file's `cluster` section, checked by the same schema. */
function withCluster(config: Config, nats: string | undefined, node: string | undefined, schema: typeof ConfigSchema): Config {
  const cluster = schema.shape.cluster.safeParse({ ...config.cluster, ...(nats === undefined ? {} : { nats }), ...(node === undefined ? {} : { node }) });
  if (!cluster.success) {
    const issue = cluster.error.issues[0];
    throw new GridlinkError('GL_ERR_CONFIG_INVALID', `--${issue?.path[0] === 'node' ? 'node' : 'cluster'}: ${issue?.message ?? 'invalid'}`);
  }
  if (node !== undefined && cluster.data.nats.length === 0) throw new GridlinkError('GL_ERR_CONFIG_INVALID', '--node needs --cluster (or cluster.nats)');
  return { ...config, cluster: cluster.data };
}

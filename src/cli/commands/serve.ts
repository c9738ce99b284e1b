import type { Command } from 'commander';
import { parsePort } from '../options.js';

/** `gridlink serve [--config FILE] [--data DIR] [--port N]` (README.md "Quick tour"). */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the gridlink server (every service in one process)')
    .option('--config <file>', 'JSON configuration file (default: the embedded demo defaults)')
    .option('--data <dir>', 'data directory (default ./gridlink-data)')
    .option('--port <n>', 'native protocol port (default 8889)', parsePort)
    .action(async (options: { config?: string; data?: string; port?: number }) => {
      // The server's modules load only for `serve`: a client command (put,
      // get, chat…) starts faster and smaller without them.
      const [{ loadConfig }, { createLogger }, { GridlinkServer }] = await Promise.all([
        import('../../config/load.js'),
        import('../../log/logger.js'),
        import('../../server/gridlink-server.js'),
      ]);
      const config = await loadConfig(options.config, { dataDir: options.data, port: options.port });
      const logger = createLogger(config.log.level);
      const server = await GridlinkServer.start(config, logger);
      if (server.initialAdminPassword !== null) {
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

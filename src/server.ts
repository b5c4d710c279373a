import { ConfigError, loadConfig, type Config } from './config';
import { DataDirLockedError } from './db/database';
import { createLogger } from './logging/logger';
import { listen, openRuntime } from './runtime';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });

  let runtime;
  try {
    runtime = await openRuntime(config, logger, {
      onFatal: (error) => {
        logger.fatal({ err: error }, 'lost the lock on the embedded database folder; exiting to protect the data');
        process.exit(1);
      },
    });
  } catch (error) {
    if (error instanceof DataDirLockedError) {
      logger.fatal(error.message);
      process.stderr.write(`${error.message}\n`);
      process.exit(75);
    }
    throw error;
  }

  const running = await listen(runtime);
  logger.info({ baseUrl: config.baseUrl, listen: running.url, database: runtime.db.kind }, `listening at ${config.baseUrl}`);
  // JSON logs are for machines; a developer starting the app wants to know where to click.
  if (!config.isProduction) process.stdout.write(`${startupBanner(config)}\n`);

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    running.stop().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

/** Where to open the app, in plain words. */
function startupBanner(config: Pick<Config, 'baseUrl' | 'devHostEnabled'>): string {
  return config.devHostEnabled
    ? `Open ${config.baseUrl}/dev to try the admin pages (a stand-in for Jira's admin area). The app answers at ${config.baseUrl}.`
    : `The app answers at ${config.baseUrl}.`;
}

main().catch((error) => {
  process.stderr.write(`Fatal: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});

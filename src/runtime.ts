import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from './config';
import { openDatabase, type Database } from './db/database';
import { migrate } from './db/migrate';
import type { Logger } from './logging/logger';
import { SecretBox } from './security/crypto';
import { createApp, type App } from './app';
import { TargetStore } from './targets/store';
import { createSyncEngine, type SyncEngine } from './sync/runs';
import { storeTargetResolver } from './sync/resolve-targets';
import { JobsService, jobsOptionsFrom, type JobsOptions } from './jobs/service';
import type { TargetDependencies } from './targets/factory';
import { createSyncJobHandler } from './jobs/sync-handler';
import { configureEgress } from './egress';

/** The process's long-lived parts, wired once. Tests use this too, so they run what production runs. */
export interface Runtime extends App {
  config: Config;
  db: Database;
  logger: Logger;
  secrets: SecretBox;
  engine: SyncEngine;
  /** The durable sync queue's worker and schedule ticker; started by `listen`, stopped before the database closes. */
  jobs: JobsService;
}

export function secretBoxFor(config: Config): SecretBox {
  return config.encryptionKeys ? SecretBox.fromKeyList(config.encryptionKeys) : SecretBox.fromDataDir(config.dataDir);
}

export interface SyncServicesOptions {
  /** HTTP knobs for the target adapters (tests and benchmarks). */
  targets?: TargetDependencies;
  jobs?: Partial<JobsOptions>;
  /**
   * Default: three quarters of the jobs lease, so a crashed instance's run is taken for dead before its job's
   * lease runs out and the instance that takes the job over can start a new run at once.
   */
  staleRunAfterMs?: number;
}

/** The sync engine over the tenant's stored targets, and the job queue whose handler pulls and then runs it. */
export function createSyncServices(
  { config, db, logger, secrets }: { config: Config; db: Database; logger: Logger; secrets: SecretBox },
  options: SyncServicesOptions = {},
): { engine: SyncEngine; jobs: JobsService } {
  configureEgress(config.egress);
  const engine = createSyncEngine({
    db,
    logger,
    resolveTargets: storeTargetResolver(new TargetStore(db, secrets), options.targets),
    staleRunAfterMs: options.staleRunAfterMs ?? config.jobs.leaseSeconds * 750,
  });
  const jobs = new JobsService(db, createSyncJobHandler({ db, secrets, engine, logger }), { ...jobsOptionsFrom(config), ...options.jobs }, logger);
  return { engine, jobs };
}

export async function openRuntime(config: Config, logger: Logger, options: { onFatal?: (error: Error) => void } = {}): Promise<Runtime> {
  const secrets = secretBoxFor(config);
  const db = await openDatabase(config.database, { onLockCompromised: options.onFatal });
  try {
    const applied = await migrate(db, (message) => logger.debug({ component: 'migrate' }, message));
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
    const { engine, jobs } = createSyncServices({ config, db, logger, secrets });
    const app = createApp({ config, db, logger, secrets, web: { jobs, engine } });
    await app.ready;
    return { ...app, config, db, logger, secrets, engine, jobs };
  } catch (error) {
    await db.close();
    throw error;
  }
}

export interface RunningServer {
  server: http.Server;
  url: string;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), then closes the database. */
  stop(): Promise<void>;
}

export async function listen(runtime: Runtime): Promise<RunningServer> {
  // Node waits 300 s for a whole request by default; a client trickling a body (or headers) gets far less.
  const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 20_000 }, runtime.app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(runtime.config.port, runtime.config.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  runtime.jobs.start();
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = new Promise<void>((resolve) => setTimeout(resolve, runtime.config.shutdownGraceMs).unref());
      await Promise.race([closed, grace]);
      server.closeAllConnections();
      // Running sync jobs finish or are handed back to the queue before the database goes away.
      await runtime.jobs.stop();
      await runtime.db.close();
    })());
  return { server, url: `http://127.0.0.1:${address.port}`, stop };
}

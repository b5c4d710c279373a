import type { Database } from '../db/database';
import type { Logger } from '../logging/logger';
import type { SecretBox } from '../security/crypto';
import { pullConnection } from '../sources/pull';
import type { SyncEngine } from '../sync/runs';
import type { SyncJobHandler } from './types';

export interface SyncJobHandlerDeps {
  db: Database;
  secrets: SecretBox;
  engine: SyncEngine;
  logger: Logger;
}

export class PullIncompleteError extends Error {
  constructor(readonly connectionId: string, detail: string | undefined) {
    super(`The pull from the IdP did not complete (${detail ?? 'unknown error'}); nothing was deprovisioned, the job will retry`);
    this.name = 'PullIncompleteError';
  }
}

/**
 * What a sync job does: a full job first pulls the IdP (when the connection has a pull source), then the
 * engine reconciles the targets with the directory. An incremental job (a SCIM change) reconciles only.
 *
 * A pull that does not complete fails the attempt (the queue retries with backoff) rather than syncing a
 * directory the IdP has not confirmed; the engine never deprovisions on the strength of a partial pull
 * anyway, because an incomplete pull removes no one from the directory.
 */
export function createSyncJobHandler({ db, secrets, engine, logger }: SyncJobHandlerDeps): SyncJobHandler {
  return async (job, signal) => {
    const log = logger.child({ component: 'sync-job', jobId: job.id, connectionId: job.connectionId });
    if (job.mode === 'full' && (await hasPullSource(db, job.connectionId))) {
      await job.reportProgress({ phase: 'pulling' });
      const pulled = await pullConnection({ db, secrets, logger }, job.connectionId, { signal });
      log.info({ complete: pulled.complete, users: pulled.users, groups: pulled.groups, memberships: pulled.memberships }, 'pull finished');
      if (!pulled.complete) throw new PullIncompleteError(job.connectionId, pulled.error);
    }
    signal.throwIfAborted();
    await job.reportProgress({ phase: 'syncing' });
    const result = await engine.startRun({
      connectionId: job.connectionId,
      tenantId: job.tenantId,
      trigger: job.trigger,
      mode: job.mode,
      dryRun: job.dryRun,
      signal,
    });
    await job.reportProgress({
      phase: result.status,
      runId: result.runId,
      counts: { operations: result.opsTotal, deprovisions: result.deprovisions },
    });
    // A run that fails as a whole throws (SyncRunError) and the queue retries the job. 'partial' (some
    // operations failed) is a finished run: its failures are in the history and the next run plans them again.
    // 'succeeded_with_warnings' is finished too: retrying cannot take away access the products' APIs cannot;
    // the warnings (who keeps access, and why) are on the run.
    if (result.status === 'succeeded_with_warnings') log.warn({ runId: result.runId, warnings: result.warnings.length }, 'sync finished with warnings: some users keep access');
  };
}

async function hasPullSource(db: Database, connectionId: string): Promise<boolean> {
  const { rows } = await db.query<{ pull_kind: string | null }>('SELECT pull_kind FROM connections WHERE id = $1', [connectionId]);
  return Boolean(rows[0]?.pull_kind);
}

import type { Database } from '../db/database';
import { DirectoryImport, emptyCounts, type ImportCounts } from '../directory/import';
import type { Logger } from '../logging/logger';
import type { SecretBox } from '../security/crypto';
import { ConnectionNotFoundError, readPullConfig } from './config';
import type { SourceHttpOptions } from './http';
import { createSource } from './index';
import type { KnownUser, SourceGroup, SourceUser } from './types';

/**
 * pullConnection streams a connection's source into its directory:
 *   users (batched upserts) → groups (batched upserts) → each group's members (staged, then replaced)
 *   → only if every call succeeded: remove the pulled users and groups the IdP no longer lists.
 * A pull that fails or is aborted anywhere removes nothing; what it already landed stays (it is true).
 * Each pull is recorded in pull_runs with its phase and counts, readable while it runs; at most one pull
 * of a connection runs at a time across all instances (a unique index on the running row).
 */

export interface PullDeps {
  db: Database;
  secrets: SecretBox;
  logger?: Logger;
  /** HTTP overrides for the source (tests: a recording sleep; bench: nothing). */
  http?: SourceHttpOptions;
  /** Users/groups per transaction (default 500). */
  batchSize?: number;
}

export interface PullOptions {
  signal?: AbortSignal;
  /** A 'running' pull whose heartbeat is older than this belongs to a dead process and is taken over. */
  staleAfterMs?: number;
}

export interface PullResult {
  pullId: string | null;
  /**
   * True when the pull read everything it set out to: the whole IdP directory (then missing users were
   * removed), or for a 'known-users' source every known user (nothing is ever removed then).
   */
  complete: boolean;
  /** 'known-users' when the source cannot list its directory and only refreshed the users already known. */
  scope?: 'directory' | 'known-users';
  users: { seen: number; created: number; updated: number; removed: number; conflicts: number };
  groups: { seen: number; created: number; updated: number; removed: number; conflicts: number };
  memberships: { added: number; removed: number; unresolved: number };
  error?: string;
}

export type PullPhase = 'starting' | 'users' | 'groups' | 'memberships' | 'removing' | 'done';

const MEMBER_CHUNK = 1000;

function result(pullId: string | null, complete: boolean, counts: ImportCounts, error?: string): PullResult {
  return { pullId, complete, ...counts, ...(error !== undefined ? { error } : {}) };
}

export async function pullConnection(deps: PullDeps, connectionId: string, options: PullOptions = {}): Promise<PullResult> {
  const { db, logger } = deps;
  const batchSize = deps.batchSize ?? 500;
  const log = logger?.child({ connectionId, component: 'pull' });

  let config;
  try {
    config = await readPullConfig(db, deps.secrets, connectionId);
  } catch (error) {
    const message = error instanceof ConnectionNotFoundError ? error.message : `cannot read the pull configuration: ${(error as Error).message}`;
    return result(null, false, emptyCounts(), message);
  }
  if (!config) return result(null, false, emptyCounts(), 'this connection has no pull source configured');

  const pullId = await startRun(db, connectionId, config.kind, options.staleAfterMs ?? 10 * 60_000);
  if (!pullId) return result(null, false, emptyCounts(), 'a pull of this connection is already running');

  const importer = new DirectoryImport(db, connectionId, pullId);
  const source = createSource(config, { ...deps.http, signal: options.signal ?? deps.http?.signal });
  let phase: PullPhase = 'users';
  const heartbeat = () =>
    db.query(`UPDATE pull_runs SET phase = $2, counts = $3, heartbeat_at = now() WHERE id = $1 AND status = 'running'`, [
      pullId,
      phase,
      JSON.stringify(importer.counts),
    ]);
  log?.info({ pullId, source: config.kind }, 'pull started');

  try {
    await heartbeat();
    if (source.coverage === 'known-users') {
      // The IdP cannot list its directory: refresh the users already known, read no groups, remove no one.
      if (!source.refreshUsers) throw new Error(`${config.kind} can neither list its users nor refresh known ones`);
      let batch: SourceUser[] = [];
      for await (const user of source.refreshUsers(knownUsers(db, connectionId))) {
        batch.push(user);
        if (batch.length >= batchSize) {
          await importer.upsertUsers(batch);
          batch = [];
          await heartbeat();
        }
      }
      await importer.upsertUsers(batch);
      phase = 'done';
      await finishRun(db, pullId, 'complete', phase, importer, null);
      log?.info({ pullId, counts: importer.counts }, 'known users refreshed');
      return { ...result(pullId, true, importer.counts), scope: 'known-users' };
    }
    let users: SourceUser[] = [];
    for await (const user of source.users()) {
      users.push(user);
      if (users.length >= batchSize) {
        await importer.upsertUsers(users);
        users = [];
        await heartbeat();
      }
    }
    await importer.upsertUsers(users);

    phase = 'groups';
    await heartbeat();
    // Group ids are kept until every group is listed: members are read only after the listing is done,
    // so paging through groups never interleaves with member calls (and Keycloak's tree is fully known).
    const landed: Array<{ externalId: string; groupId: string }> = [];
    let groups: SourceGroup[] = [];
    const flushGroups = async () => {
      for (const { group, groupId } of await importer.upsertGroups(groups)) landed.push({ externalId: group.externalId, groupId });
      groups = [];
      await heartbeat();
    };
    for await (const group of source.groups()) {
      groups.push(group);
      if (groups.length >= batchSize) await flushGroups();
    }
    await flushGroups();

    phase = 'memberships';
    await heartbeat();
    for (const [index, { externalId, groupId }] of landed.entries()) {
      let members: string[] = [];
      for await (const member of source.groupMembers(externalId)) {
        members.push(member);
        if (members.length >= MEMBER_CHUNK) {
          await importer.addMembers(groupId, members);
          members = [];
        }
      }
      await importer.addMembers(groupId, members);
      await importer.completeGroup(groupId);
      if (index % 50 === 49) await heartbeat();
    }
    await importer.flushMemberships();

    // Everything was read: now, and only now, what the IdP no longer lists is gone.
    options.signal?.throwIfAborted();
    phase = 'removing';
    await heartbeat();
    await importer.removeUnseen();

    phase = 'done';
    await finishRun(db, pullId, 'complete', phase, importer, null);
    log?.info({ pullId, counts: importer.counts }, 'pull complete');
    return result(pullId, true, importer.counts);
  } catch (error) {
    const message = errorMessage(error, phase);
    await importer.discardStaged().catch(() => undefined);
    await finishRun(db, pullId, 'failed', phase, importer, message).catch((finishError: unknown) =>
      log?.error({ pullId, err: finishError }, 'could not record the failed pull'),
    );
    log?.warn({ pullId, phase, error: message, counts: importer.counts }, 'pull failed; nothing was removed');
    return result(pullId, false, importer.counts, message);
  }
}

/** The connection's directory users, a page at a time (keyset by id), for a refresh-only source. */
async function* knownUsers(db: Database, connectionId: string): AsyncIterable<KnownUser> {
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const { rows } = await db.query<{ id: string; external_id: string | null; user_name: string; active: boolean }>(
      'SELECT id, external_id, user_name, active FROM directory_users WHERE connection_id = $1 AND id > $2 ORDER BY id LIMIT 500',
      [connectionId, after],
    );
    for (const row of rows) yield { externalId: row.external_id, userName: row.user_name, active: row.active };
    if (rows.length < 500) return;
    after = rows[rows.length - 1]!.id;
  }
}

function errorMessage(error: unknown, phase: PullPhase): string {
  const text = error instanceof Error ? error.message : String(error);
  return `${phase}: ${text}`;
}

/** Inserts the run row; null when another pull of the connection is running (and alive). */
async function startRun(db: Database, connectionId: string, kind: string, staleAfterMs: number): Promise<string | null> {
  return db.transaction(async (client) => {
    await client.query(
      `UPDATE pull_runs SET status = 'abandoned', finished_at = now(), error = 'the process running this pull stopped answering'
        WHERE connection_id = $1 AND status = 'running' AND heartbeat_at < now() - make_interval(secs => $2)`,
      [connectionId, staleAfterMs / 1000],
    );
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO pull_runs (connection_id, source_kind) VALUES ($1, $2) ON CONFLICT (connection_id) WHERE status = 'running' DO NOTHING RETURNING id`,
      [connectionId, kind],
    );
    const id = rows[0]?.id ?? null;
    if (id) {
      // Members staged by pulls that died are of no use to anyone.
      await client.query(
        `DELETE FROM pull_staged_members WHERE connection_id = $1 AND pull_id <> $2`,
        [connectionId, id],
      );
    }
    return id;
  });
}

async function finishRun(db: Database, pullId: string, status: 'complete' | 'failed', phase: PullPhase, importer: DirectoryImport, error: string | null): Promise<void> {
  const counts = { ...importer.counts, ...(importer.conflictNotes.length > 0 ? { conflictNotes: importer.conflictNotes } : {}) };
  await db.query(
    `UPDATE pull_runs SET status = $2, phase = $3, counts = $4, error = $5, finished_at = now(), heartbeat_at = now() WHERE id = $1`,
    [pullId, status, phase, JSON.stringify(counts), error],
  );
}

export interface PullRun {
  id: string;
  connectionId: string;
  sourceKind: string;
  status: 'running' | 'complete' | 'failed' | 'abandoned';
  phase: PullPhase;
  counts: Partial<ImportCounts> & { conflictNotes?: string[] };
  error: string | null;
  startedAt: Date;
  heartbeatAt: Date;
  finishedAt: Date | null;
}

interface PullRunRow {
  id: string;
  connection_id: string;
  source_kind: string;
  status: PullRun['status'];
  phase: PullPhase;
  counts: PullRun['counts'];
  error: string | null;
  started_at: Date;
  heartbeat_at: Date;
  finished_at: Date | null;
}

/** The connection's most recent pulls, newest first (the run's phase and counts are live while it runs). */
export async function listPullRuns(db: Database, connectionId: string, limit = 20): Promise<PullRun[]> {
  const { rows } = await db.query<PullRunRow>(
    `SELECT id, connection_id, source_kind, status, phase, counts, error, started_at, heartbeat_at, finished_at
       FROM pull_runs WHERE connection_id = $1 ORDER BY started_at DESC LIMIT $2`,
    [connectionId, limit],
  );
  return rows.map((r) => ({
    id: r.id,
    connectionId: r.connection_id,
    sourceKind: r.source_kind,
    status: r.status,
    phase: r.phase,
    counts: r.counts,
    error: r.error,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    finishedAt: r.finished_at,
  }));
}

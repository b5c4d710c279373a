import type { Database } from '../db/database';
import { consumeChanges, pendingChanges } from '../directory/changes';
import type { Logger } from '../logging/logger';
import type { Target, TargetKind } from '../targets/types';
import { recordAudit } from './audit';
import { describeError, executePlan, type ExecutionSummary, type StoredOp } from './executor';
import { countManagedUsers, readCreatedGroups, readDeprovisioned, readLinks } from './links';
import { isDeprovision, plan as planTarget, type ActualState, type PlanNotes, type PlanTarget, type RunWarning, type SyncOp, type TargetPlan } from './plan';
import { mapConcurrent, readLeads, readTargetForUsers, readTargetFull, type ReadStats } from './reader';
import { desiredState, type DesiredState } from './rules';
import { upgradeSettings, type SyncSettings } from './settings';
import { membersOfGroups, readDirectory, readDirectorySubset, touchedByChanges } from './snapshot';

/**
 * Sync runs: the engine's entry points.
 *
 *   const engine = createSyncEngine({ db, resolveTargets });
 *   await engine.startRun({ connectionId, trigger: 'manual', mode: 'full', dryRun: false });
 *
 * A run reads the directory, reads each target, plans, and (unless it is a dry run or trips the safety
 * threshold) applies the plan. Its row in sync_runs shows the phase and counts while it runs; its ops are in
 * sync_ops. A run cut off half-way is recovered by the next one, which plans again from the actual state.
 */

/** One target of a tenant, as the target store hands it to the engine. */
export interface ResolvedTarget {
  targetId: string;
  kind: TargetKind;
  target: Target;
  /** Set when this target shares users and groups with another (Confluence on Jira's site): written once, through that one. */
  sharesDirectoryWith?: string;
}

export type TargetResolver = (tenantId: string) => Promise<ResolvedTarget[]>;

export type RunTrigger = 'manual' | 'schedule' | 'change' | 'confirm';
export type RunMode = 'full' | 'incremental';
/**
 * succeeded_with_warnings: every operation succeeded, but someone keeps access a deprovisioning could not take
 * away (the warnings are in the run's summary, each saying why).
 */
export type RunStatus = 'running' | 'awaiting_confirmation' | 'succeeded' | 'succeeded_with_warnings' | 'partial' | 'failed' | 'cancelled' | 'superseded';
export type RunPhase = 'reading_directory' | 'reading_targets' | 'planning' | 'awaiting_confirmation' | 'applying' | 'done' | 'failed';

export interface StartRunRequest {
  connectionId: string;
  /** When given, the connection must belong to this tenant. */
  tenantId?: string;
  trigger: Exclude<RunTrigger, 'confirm'>;
  mode: RunMode;
  dryRun?: boolean;
  /** Jira accountId of the admin who started it (manual runs). */
  actor?: string;
  /**
   * Stops the run at its next safe point (between phases, before each operation): the job was cancelled, its
   * instance is stopping, or it lost its lease. The run ends 'cancelled', its remaining operations 'skipped',
   * its directory changes stay pending, and startRun rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

export interface RunResult {
  runId: string;
  status: RunStatus;
  mode: RunMode;
  dryRun: boolean;
  opsTotal: number;
  execution: ExecutionSummary | null;
  deprovisions: number;
  deprovisionThreshold: number;
  notes: PlanNotes;
  /** Users whose access could not be fully removed, and why. */
  warnings: RunWarning[];
}

/** Warnings kept whole in a run's summary; beyond this, the count says how many more there were. */
const MAX_STORED_WARNINGS = 1000;

export interface SyncEngineOptions {
  db: Database;
  resolveTargets: TargetResolver;
  logger?: Logger;
  /** Concurrent calls per target while applying (the HTTP client's rate limiter still has the last word). Default 4. */
  concurrencyPerTarget?: number;
  /** Concurrent reads per target (member lists, lookups). Default 4. */
  readConcurrency?: number;
  /**
   * A running run whose heartbeat is older than this is taken as dead (its instance crashed). Default 90 seconds:
   * a live run renews its heartbeat every quarter of this (at most every 15 s) whatever phase it is in, and a
   * sync job taken over from a dead instance (after the jobs lease, 60 s by default) must not wait long for it.
   */
  staleRunAfterMs?: number;
  /** More pending changes than this and an incremental run does a full run instead. Default 5000. */
  maxIncrementalChanges?: number;
}

export class RunInProgressError extends Error {
  constructor(readonly connectionId: string) {
    super(`A sync of connection ${connectionId} is already running`);
    this.name = 'RunInProgressError';
  }
}

export class RunStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunStateError';
  }
}

export class SyncRunError extends Error {
  constructor(
    readonly runId: string,
    override readonly cause: unknown,
  ) {
    super(`Sync run ${runId} failed: ${describeError(cause)}`);
    this.name = 'SyncRunError';
  }
}

export interface SyncEngine {
  startRun(request: StartRunRequest): Promise<RunResult>;
  /** Applies a run that stopped at the safety threshold, recomputed against the current state (a new 'confirm' run). */
  confirmRun(request: { tenantId: string; runId: string; actor: string }): Promise<RunResult>;
  cancelRun(request: { tenantId: string; runId: string; actor: string }): Promise<void>;
  /** Marks running runs of the connection whose heartbeat stopped as failed; returns how many. */
  recoverStaleRuns(connectionId: string): Promise<number>;
}

/** Products whose accounts are Atlassian accounts (one account id across them). */
const ATLASSIAN_ACCOUNT_KINDS: ReadonlySet<TargetKind> = new Set(['jira-cloud', 'confluence-cloud', 'bitbucket-cloud']);

/** directory user → the account id of its managed link on any of these targets (the oldest link wins). */
async function readAtlassianAccountIds(db: Database, connectionId: string, targetIds: string[]): Promise<Map<string, string>> {
  if (targetIds.length < 2) return new Map();
  const { rows } = await db.query<{ directory_user_id: string; account_id: string }>(
    `SELECT DISTINCT ON (directory_user_id) directory_user_id, account_id FROM links
      WHERE connection_id = $1 AND target_id = ANY($2::text[]) AND managed AND account_id IS NOT NULL AND state IN ('active', 'deactivated')
      ORDER BY directory_user_id, created_at`,
    [connectionId, targetIds],
  );
  return new Map(rows.map((r) => [r.directory_user_id, r.account_id]));
}

/** The org API serves the lifecycle of Atlassian accounts of these products. */
const ORG_MANAGED_KINDS: ReadonlySet<TargetKind> = new Set(['jira-cloud', 'confluence-cloud']);

interface ConnectionRow {
  tenant_id: string;
  settings: unknown;
}

interface RunContext {
  runId: string;
  tenantId: string;
  connectionId: string;
  trigger: RunTrigger;
  mode: RunMode;
  dryRun: boolean;
  confirmsRunId: string | null;
  signal?: AbortSignal;
}

export function createSyncEngine(options: SyncEngineOptions): SyncEngine {
  const { db, logger } = options;
  const concurrency = options.concurrencyPerTarget ?? 4;
  const readConcurrency = options.readConcurrency ?? 4;
  const staleAfterMs = options.staleRunAfterMs ?? 90_000;
  const runHeartbeatMs = Math.max(50, Math.min(15_000, Math.floor(staleAfterMs / 4)));
  const maxIncremental = options.maxIncrementalChanges ?? 5000;

  async function loadConnection(connectionId: string, tenantId?: string): Promise<ConnectionRow> {
    const { rows } = await db.query<ConnectionRow>(
      'SELECT tenant_id, settings FROM connections WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)',
      [connectionId, tenantId ?? null],
    );
    if (!rows[0]) throw new RunStateError(`Connection ${connectionId} not found`);
    return rows[0];
  }

  async function recoverStaleRuns(connectionId: string): Promise<number> {
    return db.transaction(async (client) => {
      const { rows } = await client.query<{ id: string }>(
        `UPDATE sync_runs SET status = 'failed', phase = 'failed', error = 'interrupted: the instance running it stopped',
                finished_at = now(), duration_ms = (extract(epoch FROM now() - started_at) * 1000)::int
          WHERE connection_id = $1 AND status = 'running' AND heartbeat_at < now() - ($2::int * interval '1 millisecond')
          RETURNING id`,
        [connectionId, staleAfterMs],
      );
      if (rows.length > 0) {
        await client.query(
          `UPDATE sync_ops SET status = 'failed', error = 'interrupted: outcome unknown, the next run re-reads the target', finished_at = now()
            WHERE run_id = ANY($1::uuid[]) AND status = 'running'`,
          [rows.map((r) => r.id)],
        );
      }
      return rows.length;
    });
  }

  async function createRun(
    connectionId: string,
    tenantId: string,
    fields: { trigger: RunTrigger; mode: RunMode; dryRun: boolean; actor: string | null; confirmsRunId: string | null },
  ): Promise<string> {
    await recoverStaleRuns(connectionId);
    try {
      const { rows } = await db.query<{ id: string }>(
        `INSERT INTO sync_runs (tenant_id, connection_id, trigger, mode, dry_run, actor, confirms_run_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
        [tenantId, connectionId, fields.trigger, fields.mode, fields.dryRun, fields.actor, fields.confirmsRunId],
      );
      return rows[0]!.id;
    } catch (error) {
      // The partial unique index allows one running run per connection.
      if ((error as { code?: string }).code === '23505') throw new RunInProgressError(connectionId);
      throw error;
    }
  }

  async function setPhase(run: RunContext, phase: RunPhase, extra: Record<string, unknown> = {}): Promise<void> {
    const columns = Object.keys(extra);
    const sets = columns.map((c, i) => `${c} = $${i + 4}`);
    await db.query(
      `UPDATE sync_runs SET phase = $3, heartbeat_at = now()${sets.length ? `, ${sets.join(', ')}` : ''} WHERE id = $1 AND tenant_id = $2`,
      [run.runId, run.tenantId, phase, ...columns.map((c) => extra[c])],
    );
  }

  async function finishRun(run: RunContext, status: RunStatus, phase: RunPhase, extra: Record<string, unknown> = {}): Promise<void> {
    await setPhase(run, phase, { ...extra, status, finished_at: new Date() });
    await db.query('UPDATE sync_runs SET duration_ms = (extract(epoch FROM finished_at - started_at) * 1000)::int WHERE id = $1 AND tenant_id = $2', [
      run.runId,
      run.tenantId,
    ]);
  }

  async function storeOps(run: RunContext, ops: SyncOp[]): Promise<StoredOp[]> {
    const stored: StoredOp[] = [];
    const CHUNK = 2000;
    for (let i = 0; i < ops.length; i += CHUNK) {
      const chunk = ops.slice(i, i + CHUNK);
      const { rows } = await db.query<{ id: number; seq: number }>(
        `INSERT INTO sync_ops (run_id, tenant_id, connection_id, seq, op_key, target_id, kind, step, directory_user_id, account_id, group_name, detail)
         SELECT $1, $2, $3, * FROM unnest($4::int[], $5::text[], $6::text[], $7::text[], $8::text[], $9::uuid[], $10::text[], $11::text[], $12::jsonb[])
         RETURNING id, seq`,
        [
          run.runId,
          run.tenantId,
          run.connectionId,
          chunk.map((_, j) => i + j + 1),
          chunk.map((op) => op.key),
          chunk.map((op) => op.targetId),
          chunk.map((op) => op.kind),
          chunk.map((op) => op.step),
          chunk.map((op) => ('userId' in op ? op.userId : null)),
          chunk.map((op) => ('accountId' in op ? op.accountId : 'toAccountId' in op ? op.toAccountId || null : null)),
          chunk.map((op) => ('groupName' in op ? op.groupName : null)),
          chunk.map((op) => JSON.stringify(op)),
        ],
      );
      for (const row of rows) stored.push({ id: Number(row.id), seq: row.seq, op: ops[row.seq - 1]! });
    }
    return stored.sort((a, b) => a.seq - b.seq);
  }

  /** Read, plan, check, apply. Returns when the run has reached a resting status. */
  async function execute(run: RunContext, settings: SyncSettings): Promise<RunResult> {
    let mode = run.mode;
    const summary: Record<string, unknown> = {};

    // Reading the directory.
    let changesThrough: number | null = null;
    let scopeUserIds: string[] | undefined;
    let snapshot;
    if (mode === 'incremental') {
      const changes = await pendingChanges(db, run.connectionId, maxIncremental + 1);
      const touched = touchedByChanges(changes);
      const escalate = changes.length > maxIncremental ? `more than ${maxIncremental} pending changes` : touched.needsFullRun;
      if (escalate) {
        mode = 'full';
        summary.escalatedToFull = escalate;
        await db.query("UPDATE sync_runs SET mode = 'full' WHERE id = $1 AND tenant_id = $2", [run.runId, run.tenantId]);
      } else if (changes.length === 0) {
        // Nothing changed since the last clean run: no reads, no plan.
        await finishRun(run, 'succeeded', 'done', { summary: JSON.stringify({ noPendingChanges: true }) });
        return { runId: run.runId, status: 'succeeded', mode, dryRun: run.dryRun, opsTotal: 0, execution: null, deprovisions: 0, deprovisionThreshold: 0, notes: {}, warnings: [] };
      } else {
        changesThrough = changes[changes.length - 1]!.id;
        const renamedMembers = await membersOfGroups(db, run.connectionId, touched.renamedGroupIds);
        scopeUserIds = [...new Set([...touched.userIds, ...renamedMembers])].sort();
        snapshot = await readDirectorySubset(db, run.connectionId, scopeUserIds, touched.groupIds);
      }
    }
    if (mode === 'full') {
      // Taken before the snapshot: changes that land while the run reads stay pending for the next run.
      const { rows } = await db.query<{ through: number | null }>(
        'SELECT max(id) AS through FROM directory_changes WHERE connection_id = $1 AND consumed_at IS NULL',
        [run.connectionId],
      );
      changesThrough = rows[0]?.through === null || rows[0]?.through === undefined ? null : Number(rows[0].through);
      snapshot = await readDirectory(db, run.connectionId);
    }
    run.signal?.throwIfAborted();
    const desired = desiredState(snapshot!, settings);
    summary.directory = { users: snapshot!.users.length, groups: snapshot!.groups.length, memberships: snapshot!.memberships.length };
    await setPhase(run, 'reading_targets', { changes_through: changesThrough });

    // Reading the targets and planning, target by target.
    const resolved = await options.resolveTargets(run.tenantId);
    const org = resolved.find((r) => r.kind === 'atlassian-org');
    const present = new Set(resolved.map((r) => r.targetId));
    const syncTargets = resolved
      .filter((r) => r.kind !== 'atlassian-org' && !(r.sharesDirectoryWith && present.has(r.sharesDirectoryWith)))
      .sort((a, b) => (a.targetId < b.targetId ? -1 : 1));
    // Kinds whose writes go through another target (Confluence on Jira's site): their access is warned for there.
    const servedThrough = new Map<string, TargetKind[]>();
    for (const r of resolved) {
      if (r.sharesDirectoryWith && present.has(r.sharesDirectoryWith)) servedThrough.set(r.sharesDirectoryWith, [...(servedThrough.get(r.sharesDirectoryWith) ?? []), r.kind]);
    }
    const plans: TargetPlan[] = [];
    const reads: Record<string, ReadStats> = {};
    // Atlassian accounts are one across Jira, Confluence and Bitbucket Cloud: a user linked on one is found on the others by id.
    const cloudTargets = resolved.filter((r) => ATLASSIAN_ACCOUNT_KINDS.has(r.kind)).map((r) => r.targetId);
    const atlassianAccountIds = await readAtlassianAccountIds(db, run.connectionId, cloudTargets);
    const planned = await Promise.all(
      syncTargets.map(async (resolvedTarget) => {
        const planInput = await readForPlan(run, resolvedTarget, org, desired, settings, mode, scopeUserIds, servedThrough.get(resolvedTarget.targetId) ?? [], ATLASSIAN_ACCOUNT_KINDS.has(resolvedTarget.kind) ? atlassianAccountIds : undefined);
        reads[resolvedTarget.targetId] = planInput.stats;
        return planInput.plan;
      }),
    );
    plans.push(...planned);
    await setPhase(run, 'planning');

    const ops = plans.flatMap((p) => p.ops);
    const notes: PlanNotes = {};
    for (const p of plans) {
      for (const [code, entry] of Object.entries(p.notes)) {
        const merged = (notes[code] ??= { count: 0, examples: [] });
        merged.count += entry.count;
        merged.examples = [...merged.examples, ...entry.examples].slice(0, 5);
      }
    }
    const byKind: Record<string, number> = {};
    for (const op of ops) byKind[op.kind] = (byKind[op.kind] ?? 0) + 1;
    const deprovisionedUsers = new Set(plans.flatMap((p) => p.deprovisionedUsers));
    const warnings = plans.flatMap((p) => p.warnings);
    if (warnings.length > 0) {
      summary.warnings = warnings.slice(0, MAX_STORED_WARNINGS);
      summary.warningCount = warnings.length;
    }
    const managedUsers = await countManagedUsers(db, run.connectionId);
    const threshold = Math.max(
      settings.safety.deprovisionThresholdMin,
      Math.ceil((settings.safety.deprovisionThresholdPercent / 100) * managedUsers),
    );
    Object.assign(summary, { byKind, reads, notes, targets: syncTargets.map((t) => ({ targetId: t.targetId, kind: t.kind })) });

    const stored = await storeOps(run, ops);
    await db.query(
      `UPDATE sync_runs SET ops_total = $3, summary = $4, managed_users = $5, deprovisions = $6, deprovision_threshold = $7, heartbeat_at = now()
        WHERE id = $1 AND tenant_id = $2`,
      [run.runId, run.tenantId, ops.length, JSON.stringify(summary), managedUsers, deprovisionedUsers.size, threshold],
    );
    const result = (status: RunStatus, execution: ExecutionSummary | null): RunResult => ({
      runId: run.runId,
      status,
      mode,
      dryRun: run.dryRun,
      opsTotal: ops.length,
      execution,
      deprovisions: deprovisionedUsers.size,
      deprovisionThreshold: threshold,
      notes,
      warnings,
    });
    const clean: RunStatus = warnings.length > 0 ? 'succeeded_with_warnings' : 'succeeded';

    if (run.dryRun) {
      await finishRun(run, clean, 'done');
      return result(clean, null);
    }

    if (deprovisionedUsers.size > threshold && !(await confirmedCovers(run, ops))) {
      await finishRun(run, 'awaiting_confirmation', 'awaiting_confirmation');
      logger?.warn({ runId: run.runId, deprovisions: deprovisionedUsers.size, threshold }, 'sync run waits for confirmation');
      return result('awaiting_confirmation', null);
    }

    run.signal?.throwIfAborted();
    await setPhase(run, 'applying');
    const targets = new Map(resolved.map((r) => [r.targetId, r.target]));
    const execution = await executePlan(
      { db, tenantId: run.tenantId, connectionId: run.connectionId, runId: run.runId, targets, concurrencyPerTarget: concurrency, logger, signal: run.signal },
      stored,
    );
    // Stopped part-way: the skipped operations are not done, so the changes must stay pending.
    run.signal?.throwIfAborted();
    // Changes are consumed only by a clean run: after a failure the next incremental run looks at the same users again.
    if (execution.failed === 0 && changesThrough !== null) await consumeChanges(db, run.connectionId, changesThrough);
    const status: RunStatus = execution.failed > 0 ? 'partial' : clean;
    if (warnings.length > 0) logger?.warn({ runId: run.runId, warnings: warnings.length }, 'sync run could not fully remove some users\' access');
    await finishRun(run, status, 'done');
    return result(status, execution);
  }

  /** A confirm run may apply past the threshold only the deprovisioning the admin saw and confirmed. */
  async function confirmedCovers(run: RunContext, ops: SyncOp[]): Promise<boolean> {
    if (run.trigger !== 'confirm' || !run.confirmsRunId) return false;
    const { rows } = await db.query<{ op_key: string }>(
      `SELECT op_key FROM sync_ops WHERE run_id = $1 AND tenant_id = $2
         AND (kind IN ('deactivate-user', 'delete-user', 'mark-deprovisioned') OR (kind = 'remove-member' AND detail->>'deprovision' = 'true'))`,
      [run.confirmsRunId, run.tenantId],
    );
    const confirmed = new Set(rows.map((r) => r.op_key));
    return ops.filter(isDeprovision).every((op) => confirmed.has(op.key));
  }

  async function readForPlan(
    run: RunContext,
    resolvedTarget: ResolvedTarget,
    org: ResolvedTarget | undefined,
    desired: DesiredState,
    settings: SyncSettings,
    mode: RunMode,
    scopeUserIds: string[] | undefined,
    alsoServes: TargetKind[],
    atlassianAccountIds: ReadonlyMap<string, string> | undefined,
  ): Promise<{ plan: TargetPlan; stats: ReadStats }> {
    const { target, targetId } = resolvedTarget;
    const links = await readLinks(db, run.connectionId, targetId, mode === 'incremental' ? scopeUserIds : undefined);
    const deprovisioned = await readDeprovisioned(db, run.connectionId, targetId, mode === 'incremental' ? scopeUserIds : undefined);
    const createdGroups = await readCreatedGroups(db, run.connectionId, targetId);
    let read;
    if (mode === 'full') {
      const relevant =
        desired.removeUnmanagedMemberships && !desired.keepExistingMemberships
          ? ('all' as const)
          : new Set([
              ...desired.groups.map((g) => g.key),
              ...desired.managedGroups,
              ...desired.productAccessGroups,
              ...createdGroups.map((g) => g.key),
            ]);
      read = await readTargetFull(target, relevant, readConcurrency);
    } else {
      const linkByUser = new Map(links.map((l) => [l.directoryUserId, l]));
      const inDirectory = new Set(desired.accounts.map((a) => a.userId));
      const lookups = [
        ...desired.accounts.map((a) => {
          const link = linkByUser.get(a.userId);
          return { accountId: link?.state !== 'pending' ? (link?.accountId ?? atlassianAccountIds?.get(a.userId) ?? null) : null, email: a.email };
        }),
        ...links.filter((l) => !inDirectory.has(l.directoryUserId)).map((l) => ({ accountId: l.accountId, email: null })),
      ];
      read = await readTargetForUsers(target, lookups, readConcurrency);
    }
    const planTargetInfo: PlanTarget = {
      targetId,
      kind: resolvedTarget.kind,
      capabilities: target.capabilities,
      lifecycleVia: org && ORG_MANAGED_KINDS.has(resolvedTarget.kind) ? { targetId: org.targetId, capabilities: org.target.capabilities } : undefined,
      accessGroupsReadable: Boolean(target.listAccessGroups),
      alsoServes,
    };
    const input = { target: planTargetInfo, desired, actual: read.actual, links, createdGroups, settings, complete: mode === 'full', deprovisioned, atlassianAccountIds };
    let result = planTarget(input);
    // What only a deprovisioning needs is read only when the plan deprovisions someone: the leads to move, the
    // groups that grant product access and all the groups of the accounts losing it. Then plan again.
    if (result.needsLeads || result.needsAccess) {
      const actual: ActualState = { ...read.actual };
      if (result.needsLeads) actual.leads = await readLeads(target);
      if (result.needsAccess?.accessGroups && target.listAccessGroups) {
        try {
          actual.accessGroups = await target.listAccessGroups();
        } catch (error) {
          // Without them the groups are still removed; the plan then warns that access may remain.
          logger?.warn({ runId: run.runId, targetId, err: describeError(error) }, 'could not read the groups that grant product access');
        }
      }
      const accounts = result.needsAccess?.accounts ?? [];
      if (accounts.length > 0) {
        const memberOf = new Map(actual.memberOf);
        const groups = new Map(actual.groups.map((g) => [g.groupId, g]));
        await mapConcurrent(accounts, readConcurrency, async (accountId) => {
          const mine = await target.listUserGroups(accountId);
          for (const group of mine) if (!groups.has(group.groupId)) groups.set(group.groupId, group);
          memberOf.set(accountId, new Set(mine.map((g) => g.groupId)));
        });
        read.stats.lookups += accounts.length;
        actual.memberOf = memberOf;
        actual.groups = [...groups.values()];
        actual.userGroupsKnown = new Set([...(actual.userGroupsKnown ?? []), ...accounts]);
      }
      result = planTarget({ ...input, actual });
    }
    return { plan: result, stats: read.stats };
  }

  async function runGuarded(run: RunContext, settings: SyncSettings): Promise<RunResult> {
    // Phases and op outcomes renew the heartbeat too, but a long read of a large target writes neither: without
    // this timer a live run would look dead, or the stale window would have to outlast the longest read (and a
    // crashed instance's run would block its connection for that long).
    const beat = setInterval(() => {
      db.query("UPDATE sync_runs SET heartbeat_at = now() WHERE id = $1 AND tenant_id = $2 AND status = 'running'", [run.runId, run.tenantId]).catch(
        (error: unknown) => logger?.warn({ runId: run.runId, err: describeError(error) }, 'renewing the sync run heartbeat failed'),
      );
    }, runHeartbeatMs);
    beat.unref();
    try {
      return await execute(run, settings);
    } catch (error) {
      if (run.signal?.aborted) {
        const reason = run.signal.reason instanceof Error ? run.signal.reason.message : String(run.signal.reason);
        logger?.warn({ runId: run.runId, reason }, 'sync run stopped before it finished');
        await finishRun(run, 'cancelled', 'done', { error: `stopped before it finished: ${reason}` }).catch(() => undefined);
        throw run.signal.reason;
      }
      logger?.error({ runId: run.runId, err: describeError(error) }, 'sync run failed');
      await finishRun(run, 'failed', 'failed', { error: describeError(error) }).catch(() => undefined);
      throw new SyncRunError(run.runId, error);
    } finally {
      clearInterval(beat);
    }
  }

  return {
    recoverStaleRuns,

    async startRun(request) {
      const connection = await loadConnection(request.connectionId, request.tenantId);
      const settings = upgradeSettings(connection.settings);
      const dryRun = request.dryRun ?? false;
      const runId = await createRun(request.connectionId, connection.tenant_id, {
        trigger: request.trigger,
        mode: request.mode,
        dryRun,
        actor: request.actor ?? null,
        confirmsRunId: null,
      });
      return runGuarded(
        {
          runId,
          tenantId: connection.tenant_id,
          connectionId: request.connectionId,
          trigger: request.trigger,
          mode: request.mode,
          dryRun,
          confirmsRunId: null,
          signal: request.signal,
        },
        settings,
      );
    },

    async confirmRun({ tenantId, runId, actor }) {
      const { rows } = await db.query<{ connection_id: string; mode: RunMode; status: RunStatus }>(
        'SELECT connection_id, mode, status FROM sync_runs WHERE id = $1 AND tenant_id = $2',
        [runId, tenantId],
      );
      const original = rows[0];
      if (!original) throw new RunStateError(`Run ${runId} not found`);
      if (original.status !== 'awaiting_confirmation') throw new RunStateError(`Run ${runId} is ${original.status}, not awaiting confirmation`);
      const connection = await loadConnection(original.connection_id, tenantId);
      const settings = upgradeSettings(connection.settings);
      const newRunId = await createRun(original.connection_id, tenantId, { trigger: 'confirm', mode: original.mode, dryRun: false, actor, confirmsRunId: runId });
      await db.transaction(async (client) => {
        await client.query(
          `UPDATE sync_runs SET status = 'superseded', superseded_by = $3, confirmed_by = $4, confirmed_at = now()
            WHERE id = $1 AND tenant_id = $2`,
          [runId, tenantId, newRunId, actor],
        );
        await recordAudit(client, { tenantId, connectionId: original.connection_id, actor, action: 'run.confirm', details: { runId, confirmRunId: newRunId } });
      });
      return runGuarded(
        { runId: newRunId, tenantId, connectionId: original.connection_id, trigger: 'confirm', mode: original.mode, dryRun: false, confirmsRunId: runId },
        settings,
      );
    },

    async cancelRun({ tenantId, runId, actor }) {
      await db.transaction(async (client) => {
        const { rows } = await client.query<{ connection_id: string }>(
          `UPDATE sync_runs SET status = 'cancelled', phase = 'done', confirmed_by = $3, confirmed_at = now()
            WHERE id = $1 AND tenant_id = $2 AND status = 'awaiting_confirmation' RETURNING connection_id`,
          [runId, tenantId, actor],
        );
        if (!rows[0]) throw new RunStateError(`Run ${runId} is not awaiting confirmation`);
        await recordAudit(client, { tenantId, connectionId: rows[0].connection_id, actor, action: 'run.cancel', details: { runId } });
      });
    },
  };
}

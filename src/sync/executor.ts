import type { Database, Queryable } from '../db/database';
import { redactText, type Logger } from '../logging/logger';
import { TargetError, type Target } from '../targets/types';
import { forgetCreatedGroups, forgetDeprovisioned, recordCreatedGroups, saveDeprovisioned, setLinkStates, upsertLinks, type DeprovisionWrite, type LinkWrite } from './links';
import { isTargetWrite, STEPS, type LinkRecord, type SyncOp } from './plan';
import { mapConcurrent } from './reader';

/**
 * Applies a stored plan through the targets, step by step (a step starts when the previous one ended, so
 * groups exist before memberships and leads move before deprovisioning), with a small per-target concurrency
 * inside a step: at most `concurrencyPerTarget` calls in flight per target. Twice as many ops are in progress,
 * so the wait for an op's "running" record overlaps other ops' calls instead of idling a call slot (with one
 * op per slot, that wait, a database round trip per op, cut the call rate by a third).
 *
 * Every op is recorded in sync_ops as running BEFORE its call and with its outcome AFTER it, so a crash leaves
 * an accurate trail; a create also leaves a pending link before the call, so the next run links the account
 * the create made instead of creating a second one. Links are written in the same transaction as the outcome.
 * Writes from concurrent workers are group-committed (one transaction per batch) to keep database round trips
 * far below one per op.
 *
 * Retries and throttling are the HTTP client's job. A failed op does not stop independent ops; ops that depend
 * on it are skipped with the reason. A target that rejects the credentials (401/403) gets no further calls.
 */

export interface StoredOp {
  id: number;
  seq: number;
  op: SyncOp;
}

export type OpStatus = 'planned' | 'running' | 'succeeded' | 'failed' | 'skipped';

export interface ExecutionSummary {
  succeeded: number;
  failed: number;
  skipped: number;
  /** Target calls made (link-only ops make none). */
  writeCalls: number;
}

export interface ExecutorContext {
  db: Database;
  tenantId: string;
  connectionId: string;
  runId: string;
  /** Every target an op may execute on, by targetId. */
  targets: ReadonlyMap<string, Target>;
  concurrencyPerTarget: number;
  logger?: Logger;
  /** Once aborted, every operation not yet started is skipped (the run is being stopped). */
  signal?: AbortSignal;
}

interface RunningRecord {
  type: 'running';
  opId: number;
  pendingLink?: LinkWrite;
}

interface DoneRecord {
  type: 'done';
  opId: number;
  status: 'succeeded' | 'failed' | 'skipped';
  error: string | null;
  result: Record<string, unknown> | null;
  writeCall: boolean;
  link?: LinkWrite;
  linkState?: { targetId: string; directoryUserId: string; state: LinkRecord['state'] };
  createdGroup?: { targetId: string; key: string; groupId: string; name: string };
  deletedGroup?: { targetId: string; key: string };
  /** What this op took away (recorded, for reactivation) or gave back (the record is dropped). */
  deprovisioned?: Omit<DeprovisionWrite, 'tenantId' | 'connectionId' | 'runId'>;
  restored?: { targetId: string; directoryUserId: string };
}

type OpRecord = RunningRecord | DoneRecord;

/**
 * Collects writes while one batch is being flushed, then flushes them all in one go. A batch starts one
 * event-loop turn after its first record (setImmediate), so the records of every call that completed in the
 * same turn share it: with the embedded database, whose queries run on this thread and block it, nothing else
 * arrives while a batch is written, and without that turn every record was a transaction of its own.
 */
class GroupCommit<T> {
  private queue: Array<{ item: T; resolve: () => void; reject: (error: unknown) => void }> = [];
  private flushing = false;

  constructor(
    private readonly flush: (items: T[]) => Promise<void>,
    private readonly maxBatch = 2000,
  ) {}

  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        await this.flush(batch.map((b) => b.item));
        for (const b of batch) b.resolve();
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    }
    this.flushing = false;
  }
}

/** A counting semaphore: calls in flight on one target. */
class CallSlots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    this.free = Math.max(1, size);
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await call();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    }
  }
}

const MARK_RUNNING = `UPDATE sync_ops SET status = 'running', attempts = attempts + 1, started_at = now()
  WHERE id = ANY($2::bigint[]) AND run_id = $1`;

async function flushRecords(ctx: ExecutorContext, records: OpRecord[]): Promise<void> {
  const running = records.filter((r): r is RunningRecord => r.type === 'running');
  const done = records.filter((r): r is DoneRecord => r.type === 'done');
  await ctx.db.transaction(async (client: Queryable) => {
    // The trail must survive a crash of this app, which it does once the server has the commit; waiting for
    // the server's disk flush on every batch would make the records, not the target calls, the bottleneck.
    // A crash of the database server itself may lose the last few batches: the next run re-reads the targets.
    await client.query('SET LOCAL synchronous_commit = off');
    if (running.length > 0) {
      await upsertLinks(client, running.flatMap((r) => (r.pendingLink ? [r.pendingLink] : [])));
      await client.query(MARK_RUNNING, [ctx.runId, running.map((r) => r.opId)]);
    }
    if (done.length > 0) {
      await client.query(
        `UPDATE sync_ops o SET status = d.status, error = d.error, result = d.result::jsonb, finished_at = now()
           FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS d(id, status, error, result)
          WHERE o.id = ANY($2::bigint[]) AND o.id = d.id AND o.run_id = $1`,
        [
          ctx.runId,
          done.map((d) => d.opId),
          done.map((d) => d.status),
          done.map((d) => d.error),
          done.map((d) => (d.result ? JSON.stringify(d.result) : null)),
        ],
      );
      await upsertLinks(client, done.flatMap((d) => (d.link ? [d.link] : [])));
      await setLinkStates(client, ctx.connectionId, done.flatMap((d) => (d.linkState ? [d.linkState] : [])));
      await recordCreatedGroups(client, ctx.tenantId, ctx.connectionId, done.flatMap((d) => (d.createdGroup ? [d.createdGroup] : [])));
      await forgetCreatedGroups(client, ctx.connectionId, done.flatMap((d) => (d.deletedGroup ? [d.deletedGroup] : [])));
      const base = { tenantId: ctx.tenantId, connectionId: ctx.connectionId, runId: ctx.runId };
      await saveDeprovisioned(client, done.flatMap((d) => (d.deprovisioned ? [{ ...base, ...d.deprovisioned }] : [])));
      await forgetDeprovisioned(client, ctx.connectionId, done.flatMap((d) => (d.restored ? [d.restored] : [])));
    }
    const count = (status: DoneRecord['status']) => done.filter((d) => d.status === status).length;
    await client.query(
      `UPDATE sync_runs SET ops_succeeded = ops_succeeded + $2, ops_failed = ops_failed + $3, ops_skipped = ops_skipped + $4,
              write_calls = write_calls + $5, heartbeat_at = now()
        WHERE id = $1 AND tenant_id = $6`,
      [ctx.runId, count('succeeded'), count('failed'), count('skipped'), done.filter((d) => d.writeCall).length, ctx.tenantId],
    );
  });
}

/** Errors as they go into history: the product's message, never a credential, bounded in size. */
export function describeError(error: unknown): string {
  if (error instanceof TargetError) {
    const where = error.request ? ` (${error.request})` : '';
    return redactText(`${error.status ?? 'network'} ${error.message}${where}`).slice(0, 2000);
  }
  return redactText(error instanceof Error ? error.message : String(error)).slice(0, 2000);
}

export async function executePlan(ctx: ExecutorContext, stored: StoredOp[]): Promise<ExecutionSummary> {
  const recorder = new GroupCommit<OpRecord>((records) => flushRecords(ctx, records));
  const statusByKey = new Map<string, OpStatus>();
  const accountOf = new Map<string, string>(); // `${targetId}|${userId}` → accountId
  const groupOf = new Map<string, string>(); // `${targetId}|${groupKey}` → groupId
  const rejectedTargets = new Map<string, string>(); // targetId → why no further calls go to it
  const summary: ExecutionSummary = { succeeded: 0, failed: 0, skipped: 0, writeCalls: 0 };
  const base = { tenantId: ctx.tenantId, connectionId: ctx.connectionId };
  const slotsByTarget = new Map<string, CallSlots>();
  const slotsOf = (targetId: string) => {
    let slots = slotsByTarget.get(targetId);
    if (!slots) slotsByTarget.set(targetId, (slots = new CallSlots(ctx.concurrencyPerTarget)));
    return slots;
  };

  // Outcomes are not awaited one by one: the worker moves on, and each step ends by waiting for all of them
  // (dependants only ever run in a later step). A crash before an outcome lands leaves the op 'running',
  // which recovery reports as outcome unknown: still an accurate trail.
  let outcomes: Array<Promise<void>> = [];
  const finish = async (item: StoredOp, record: Omit<DoneRecord, 'type' | 'opId'>) => {
    statusByKey.set(item.op.key, record.status);
    summary[record.status] += 1;
    if (record.writeCall) summary.writeCalls += 1;
    const landed = recorder.add({ type: 'done', opId: item.id, ...record });
    landed.catch(() => undefined); // observed below, at the end of the step
    outcomes.push(landed);
  };
  const skip = (item: StoredOp, reason: string) =>
    finish(item, { status: 'skipped', error: reason, result: null, writeCall: false });

  const runOne = async (item: StoredOp): Promise<void> => {
    const op = item.op;
    if (ctx.signal?.aborted) return skip(item, 'skipped: the sync was stopped before this operation');
    for (const dependency of op.dependsOn) {
      const status = statusByKey.get(dependency);
      if (status !== 'succeeded') return skip(item, `skipped: ${dependency} ${status ?? 'not run'}`);
    }
    const rejected = rejectedTargets.get(op.executeOn);
    if (rejected) return skip(item, `skipped: ${rejected}`);
    const target = ctx.targets.get(op.executeOn);
    if (!target) return skip(item, `skipped: target ${op.executeOn} is not configured`);

    // Records only, no target call: the deprovisioning or restore its dependencies (removals, re-adds) did.
    if (op.kind === 'mark-deprovisioned' || op.kind === 'mark-restored') {
      const restoring = op.kind === 'mark-restored';
      return finish(item, {
        status: 'succeeded',
        error: null,
        result: restoring ? null : { removedGroups: op.removedGroups.length },
        writeCall: false,
        linkState: { targetId: op.targetId, directoryUserId: op.userId, state: restoring ? 'active' : 'deactivated' },
        ...(restoring
          ? { restored: { targetId: op.targetId, directoryUserId: op.userId } }
          : { deprovisioned: { targetId: op.targetId, directoryUserId: op.userId, accountId: op.accountId, method: 'groups-removed' as const, removedGroups: op.removedGroups } }),
      });
    }

    if (op.kind === 'link-user') {
      accountOf.set(`${op.targetId}|${op.userId}`, op.accountId);
      return finish(item, {
        status: 'succeeded',
        error: null,
        result: { accountId: op.accountId },
        writeCall: false,
        link: { ...base, targetId: op.targetId, directoryUserId: op.userId, accountId: op.accountId, origin: op.origin, state: 'active', userName: op.userName, email: op.email },
      });
    }

    let accountId: string | null = 'accountId' in op ? op.accountId : null;
    let groupId: string | null = 'groupId' in op ? op.groupId : null;
    if (op.kind === 'add-member') {
      accountId ??= accountOf.get(`${op.targetId}|${op.userId}`) ?? null;
      groupId ??= groupOf.get(`${op.targetId}|${op.groupKey}`) ?? null;
      if (!accountId || !groupId) return skip(item, `skipped: ${!accountId ? 'account' : 'group'} not resolved`);
    }

    await recorder.add({
      type: 'running',
      opId: item.id,
      pendingLink:
        op.kind === 'create-user'
          ? { ...base, targetId: op.targetId, directoryUserId: op.userId, accountId: null, origin: 'created', state: 'pending', userName: op.account.username, email: op.account.email }
          : undefined,
    });
    const done: Omit<DoneRecord, 'type' | 'opId'> = { status: 'succeeded', error: null, result: null, writeCall: isTargetWrite(op) };
    const call = async (): Promise<void> => {
      switch (op.kind) {
        case 'create-group': {
          const group = await target.createGroup(op.groupName);
          groupOf.set(`${op.targetId}|${op.groupKey}`, group.groupId);
          done.result = { groupId: group.groupId };
          done.createdGroup = { targetId: op.targetId, key: op.groupKey, groupId: group.groupId, name: group.name };
          break;
        }
        case 'create-user': {
          const account = await target.createUser(op.account);
          accountOf.set(`${op.targetId}|${op.userId}`, account.accountId);
          done.result = { accountId: account.accountId };
          done.link = { ...base, targetId: op.targetId, directoryUserId: op.userId, accountId: account.accountId, origin: 'created', state: 'active', userName: op.account.username, email: op.account.email };
          break;
        }
        case 'update-user':
          await target.updateUser(op.accountId, op.changes);
          break;
        case 'reactivate-user':
          await target.reactivateUser(op.accountId);
          done.linkState = { targetId: op.targetId, directoryUserId: op.userId, state: 'active' };
          done.restored = { targetId: op.targetId, directoryUserId: op.userId };
          break;
        case 'add-member':
          await target.addMember(groupId!, accountId!);
          break;
        case 'remove-member':
          await target.removeMember(op.groupId, op.accountId);
          break;
        case 'set-project-lead':
          if (!target.setProjectLead) throw new Error(`${target.kind} cannot set project leads`);
          await target.setProjectLead(op.projectKey, op.toAccountId);
          break;
        case 'set-component-lead':
          if (!target.setComponentLead) throw new Error(`${target.kind} cannot set component leads`);
          await target.setComponentLead(op.componentId, op.toAccountId);
          break;
        case 'deactivate-user':
          await target.deactivateUser(op.accountId);
          done.linkState = { targetId: op.targetId, directoryUserId: op.userId, state: 'deactivated' };
          done.deprovisioned = { targetId: op.targetId, directoryUserId: op.userId, accountId: op.accountId, method: op.method ?? 'deactivated', removedGroups: [] };
          break;
        case 'delete-user':
          await target.deleteUser(op.accountId);
          done.linkState = { targetId: op.targetId, directoryUserId: op.userId, state: 'removed' };
          break;
        case 'delete-group':
          await target.deleteGroup(op.groupId);
          done.deletedGroup = { targetId: op.targetId, key: op.groupKey };
          break;
      }
    };
    try {
      // Only the call holds a slot: the running record above was written without one.
      let rejectedMeanwhile: string | undefined;
      await slotsOf(op.executeOn).run(async () => {
        // The target may have refused the credentials while this op waited for its slot.
        rejectedMeanwhile = rejectedTargets.get(op.executeOn);
        if (rejectedMeanwhile) return;
        try {
          await call();
        } catch (error) {
          // Noted before the slot is released, so the op that takes the slot next already sees it.
          if (error instanceof TargetError && (error.status === 401 || error.status === 403) && !rejectedTargets.has(op.executeOn)) {
            rejectedTargets.set(op.executeOn, `${target.kind} rejected the credentials (${error.status})`);
            ctx.logger?.warn({ runId: ctx.runId, targetId: op.executeOn, status: error.status }, 'target rejected the credentials; no further calls this run');
          }
          throw error;
        }
      });
      if (rejectedMeanwhile) return skip(item, `skipped: ${rejectedMeanwhile}`);
      await finish(item, done);
    } catch (error) {
      await finish(item, { status: 'failed', error: describeError(error), result: null, writeCall: true });
    }
  };

  for (const step of STEPS) {
    const ofStep = stored.filter((s) => s.op.step === step);
    if (ofStep.length === 0) continue;
    const byTarget = new Map<string, StoredOp[]>();
    for (const item of ofStep) {
      const list = byTarget.get(item.op.executeOn);
      if (list) list.push(item);
      else byTarget.set(item.op.executeOn, [item]);
    }
    await Promise.all([...byTarget.values()].map((items) => mapConcurrent(items, 2 * ctx.concurrencyPerTarget, runOne)));
    const landing = outcomes;
    outcomes = [];
    await Promise.all(landing);
  }
  return summary;
}

import { createSyncEngine, type ResolvedTarget } from '../../src/sync/runs';
import type { NewAccount, Target } from '../../src/targets/types';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../helpers/database';
import { createTenantAndConnection, DirectoryFixture } from './fixtures';
import { MemoryTarget } from './memory-target';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.destroy();
});

describe(`stopping a sync run (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  it('an aborted run stops before its next operation, ends cancelled, keeps its changes pending, and the next run finishes the job once', async () => {
    const { connectionId } = await createTenantAndConnection(t.db, { schemaVersion: 1 });
    const dir = new DirectoryFixture(t.db, connectionId);
    for (const name of ['ann', 'ben', 'cat', 'dan', 'eve']) await dir.addUser({ userName: `${name}@corp.com` });
    const jira = new MemoryTarget('jira-dc');
    const controller = new AbortController();
    // The same target, but the job is cancelled once two accounts exist.
    const cancelling = Object.create(jira) as MemoryTarget;
    cancelling.createUser = async (account: NewAccount) => {
      const created = await jira.createUser(account);
      if (jira.state.accounts.size === 2) controller.abort(new Error('cancelled by the admin'));
      return created;
    };
    const resolve = (target: Target) => async () => [{ targetId: 'jira', kind: 'jira-dc', target } satisfies ResolvedTarget];

    const stopped = createSyncEngine({ db: t.db, resolveTargets: resolve(cancelling), concurrencyPerTarget: 1 });
    await expect(stopped.startRun({ connectionId, trigger: 'manual', mode: 'full', signal: controller.signal })).rejects.toThrow('cancelled by the admin');

    const { rows: runs } = await t.db.query<{ status: string; error: string }>('SELECT status, error FROM sync_runs WHERE connection_id = $1', [connectionId]);
    expect(runs).toEqual([{ status: 'cancelled', error: 'stopped before it finished: cancelled by the admin' }]);
    const { rows: ops } = await t.db.query<{ status: string; n: number }>(
      'SELECT status, count(*) AS n FROM sync_ops WHERE connection_id = $1 GROUP BY status ORDER BY status',
      [connectionId],
    );
    expect(ops.map((o) => [o.status, Number(o.n)])).toEqual([
      ['skipped', 3],
      ['succeeded', 2],
    ]);
    expect(jira.state.accounts.size).toBe(2);
    expect(await dir.pendingCount()).toBe(5);

    const next = createSyncEngine({ db: t.db, resolveTargets: resolve(jira) });
    await expect(next.startRun({ connectionId, trigger: 'change', mode: 'incremental' })).resolves.toMatchObject({ status: 'succeeded' });
    expect(jira.state.accounts.size).toBe(5);
    expect(jira.writeLog.filter((w) => w.startsWith('createUser'))).toHaveLength(5);
    expect(await dir.pendingCount()).toBe(0);
  });
});

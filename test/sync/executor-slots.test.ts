import { listRunOps } from '../../src/sync/history';
import { createSyncEngine } from '../../src/sync/runs';
import { TargetError, type NewAccount, type TargetAccount, type TargetGroup } from '../../src/targets/types';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../helpers/database';
import { createTenantAndConnection, DirectoryFixture } from './fixtures';
import { MemoryTarget } from './memory-target';

/**
 * The executor keeps twice `concurrencyPerTarget` ops in progress (so an op's running record is written while
 * other ops call the target) but never more than `concurrencyPerTarget` calls in flight on one target.
 */

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.destroy();
});

/** A memory target whose writes take a few milliseconds and which tracks how many are in flight at once. */
class SlowTarget extends MemoryTarget {
  inFlight = 0;
  maxInFlight = 0;

  private async timed<T>(write: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((resolve) => setTimeout(resolve, 3));
      return await write();
    } finally {
      this.inFlight -= 1;
    }
  }

  override createGroup(name: string): Promise<TargetGroup> {
    return this.timed(() => super.createGroup(name));
  }

  override createUser(account: NewAccount): Promise<TargetAccount> {
    return this.timed(() => super.createUser(account));
  }

  override addMember(groupId: string, accountId: string): Promise<void> {
    return this.timed(() => super.addMember(groupId, accountId));
  }
}

async function setup(target: MemoryTarget, concurrencyPerTarget: number, users: number) {
  const { tenantId, connectionId } = await createTenantAndConnection(t.db, { schemaVersion: 1, group: { mapping: 'on-the-fly' } });
  const dir = new DirectoryFixture(t.db, connectionId);
  const ids: string[] = [];
  for (let i = 0; i < users; i += 1) ids.push(await dir.addUser({ userName: `user${i}@corp.com` }));
  await dir.addGroup('staff', ids);
  const engine = createSyncEngine({ db: t.db, resolveTargets: async () => [{ targetId: 'jira', kind: 'jira-dc', target }], concurrencyPerTarget });
  return { tenantId, run: () => engine.startRun({ connectionId, trigger: 'manual', mode: 'full' }) };
}

describe(`executor call slots (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  it('uses every call slot of a target and never more', async () => {
    const jira = new SlowTarget('jira-dc');
    const s = await setup(jira, 3, 24);
    const result = await s.run();
    expect(result.execution).toEqual({ succeeded: 49, failed: 0, skipped: 0, writeCalls: 49 });
    expect(jira.state.membersOf('staff')).toHaveLength(24);
    expect(jira.maxInFlight).toBe(3);
  });

  it('an op that waited for a slot while the target refused the credentials makes no call', async () => {
    const jira = new SlowTarget('jira-dc');
    const s = await setup(jira, 1, 6);
    jira.failOn('addMember', () => new TargetError('authentication failed', 401, 'jira-dc', 'PUT /rest/api/2/group/user'), 1);
    const result = await s.run();
    // One membership call answered 401; the other five were never sent (one of them already held its running record).
    expect(jira.calls.addMember).toBe(1);
    expect(result.execution).toMatchObject({ failed: 1, skipped: 5 });
    const skipped = await listRunOps(t.db, { tenantId: s.tenantId, runId: result.runId, status: 'skipped' });
    expect(skipped.ops.map((op) => op.error)).toEqual(Array(5).fill('skipped: jira-dc rejected the credentials (401)'));
  });
});

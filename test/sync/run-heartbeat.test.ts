import { createSyncEngine, RunInProgressError, type ResolvedTarget } from '../../src/sync/runs';
import type { Target } from '../../src/targets/types';
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

describe(`sync run heartbeat (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  it('a live run stuck in a long target read keeps its heartbeat fresh, so it is never taken for dead', async () => {
    const { connectionId } = await createTenantAndConnection(t.db, { schemaVersion: 1 });
    await new DirectoryFixture(t.db, connectionId).addUser({ userName: 'ann@corp.com' });
    const jira = new MemoryTarget('jira-dc');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let reading = false;
    // The same target, but listing its users takes as long as the test says (a large site read).
    const slow = Object.create(jira) as MemoryTarget;
    slow.listUsers = async function* () {
      reading = true;
      await gate;
      yield* jira.listUsers();
    };
    const engine = createSyncEngine({
      db: t.db,
      resolveTargets: async () => [{ targetId: 'jira', kind: 'jira-dc', target: slow as Target } satisfies ResolvedTarget],
      staleRunAfterMs: 400,
    });

    const first = engine.startRun({ connectionId, trigger: 'manual', mode: 'full' });
    while (!reading) await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 1200)); // three stale windows without a phase change
    await expect(engine.startRun({ connectionId, trigger: 'manual', mode: 'full' })).rejects.toBeInstanceOf(RunInProgressError);
    expect(await engine.recoverStaleRuns(connectionId)).toBe(0);

    release();
    await expect(first).resolves.toMatchObject({ status: 'succeeded' });
    expect(jira.state.accounts.size).toBe(1);
    const { rows } = await t.db.query<{ status: string }>('SELECT status FROM sync_runs WHERE connection_id = $1', [connectionId]);
    expect(rows.map((r) => r.status)).toEqual(['succeeded']);
  });
});

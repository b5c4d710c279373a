import { listAudit } from '../../src/sync/audit';
import { exportRunOpsCsv, getRun, listRunOps, listRuns } from '../../src/sync/history';
import { createSyncEngine, RunInProgressError, type ResolvedTarget, type SyncEngineOptions } from '../../src/sync/runs';
import { getSettings, saveSettings, SettingsConflictError, type SyncSettingsInput } from '../../src/sync/settings';
import type { TargetKind } from '../../src/targets/types';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../helpers/database';
import { createTenantAndConnection, DirectoryFixture } from './fixtures';
import { MemoryTarget, MemoryTargetState } from './memory-target';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(async () => {
  await t.destroy();
});

type Settings = Omit<SyncSettingsInput, 'schemaVersion'>;

async function setup(settings: Settings, targets: Array<{ targetId: string; kind: TargetKind; target: MemoryTarget; sharesDirectoryWith?: string }>, options: Partial<SyncEngineOptions> = {}) {
  const { tenantId, connectionId } = await createTenantAndConnection(t.db, { schemaVersion: 1, ...settings });
  const dir = new DirectoryFixture(t.db, connectionId);
  const world = { targets };
  const engine = createSyncEngine({
    db: t.db,
    resolveTargets: async (tenant) => {
      expect(tenant).toBe(tenantId);
      return world.targets as ResolvedTarget[];
    },
    concurrencyPerTarget: 3,
    ...options,
  });
  const full = (extra: { dryRun?: boolean } = {}) => engine.startRun({ connectionId, trigger: 'manual', mode: 'full', ...extra });
  const incremental = () => engine.startRun({ connectionId, trigger: 'change', mode: 'incremental' });
  return { tenantId, connectionId, dir, engine, world, full, incremental };
}

const onTheFly: Settings = { group: { mapping: 'on-the-fly', defaultGroups: { allUsers: ['everyone'] } } };

/** Five users in two IdP groups. */
async function seedDirectory(dir: DirectoryFixture) {
  const ids: Record<string, string> = {};
  for (const name of ['ann', 'ben', 'cat', 'dan', 'eve']) ids[name] = await dir.addUser({ userName: `${name}@corp.com`, displayName: name.toUpperCase() });
  const devs = await dir.addGroup('devs', [ids.ann!, ids.ben!, ids.cat!]);
  const ops = await dir.addGroup('ops', [ids.cat!, ids.dan!]);
  return { ids, devs, ops };
}

const groupsOf = (state: MemoryTargetState, email: string) => state.groupsOf(state.accountByEmail(email)!.accountId);

describe(`sync engine (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  it('initial full sync creates groups, users and memberships; a second run makes zero writes', async () => {
    const jira = new MemoryTarget('jira-dc');
    const s = await setup(onTheFly, [{ targetId: 'jira', kind: 'jira-dc', target: jira }]);
    await seedDirectory(s.dir);

    const first = await s.full();
    expect(first.status).toBe('succeeded');
    expect(jira.state.accounts.size).toBe(5);
    expect(jira.state.membersOf('devs')).toEqual(['ann@corp.com', 'ben@corp.com', 'cat@corp.com']);
    expect(jira.state.membersOf('ops')).toEqual(['cat@corp.com', 'dan@corp.com']);
    expect(jira.state.membersOf('everyone')).toHaveLength(5);
    // One write per needed change: 3 groups + 5 users + 5 devs/ops memberships + 5 everyone memberships.
    expect(jira.writeCount).toBe(18);
    expect(first.execution).toEqual({ succeeded: 18, failed: 0, skipped: 0, writeCalls: 18 });
    expect(await s.dir.pendingCount()).toBe(0);

    const run = (await getRun(t.db, s.tenantId, first.runId))!;
    expect(run).toMatchObject({ status: 'succeeded', phase: 'done', opsTotal: 18, opsSucceeded: 18, writeCalls: 18, trigger: 'manual', mode: 'full' });
    expect(run.durationMs).not.toBeNull();
    const links = await t.db.query('SELECT account_id, managed, origin, state FROM links WHERE connection_id = $1', [s.connectionId]);
    expect(links.rows).toHaveLength(5);
    expect(links.rows.every((l) => l.managed && l.origin === 'created' && l.state === 'active' && l.account_id)).toBe(true);

    const second = await s.full();
    expect(second.status).toBe('succeeded');
    expect(second.opsTotal).toBe(0);
    expect(jira.writeCount).toBe(18);
  });

  it('incremental run touches only the changed users and groups', async () => {
    const jira = new MemoryTarget('jira-dc');
    const s = await setup(onTheFly, [{ targetId: 'jira', kind: 'jira-dc', target: jira }]);
    const { ids, ops } = await seedDirectory(s.dir);
    await s.full();
    const writesBefore = jira.writeCount;
    const callsBefore = { ...jira.calls };

    await s.dir.updateUser(ids.ann!, { displayName: 'Ann Again' });
    await s.dir.addMember(ops, ids.eve!);
    const newcomer = await s.dir.addUser({ userName: 'fay@corp.com' });
    const qa = await s.dir.addGroup('qa', [newcomer]);
    expect(qa).toBeTruthy();

    const result = await s.incremental();
    expect(result).toMatchObject({ status: 'succeeded', mode: 'incremental' });
    expect(jira.state.accountByEmail('ann@corp.com')!.displayName).toBe('Ann Again');
    expect(groupsOf(jira.state, 'eve@corp.com')).toEqual(['everyone', 'ops']);
    expect(groupsOf(jira.state, 'fay@corp.com')).toEqual(['everyone', 'qa']);
    // update ann, add eve to ops, create qa, create fay, fay → qa and everyone.
    expect(jira.writeLog.slice(writesBefore).map((w) => w.split(' ')[0]).sort()).toEqual(['addMember', 'addMember', 'addMember', 'createGroup', 'createUser', 'updateUser']);
    // No full listing of users, and lookups only for the three touched users.
    expect(jira.calls.listUsers).toBe(callsBefore.listUsers);
    expect((jira.calls.getUser ?? 0) + (jira.calls.findUserByEmail ?? 0)).toBe(3);
    expect(await s.dir.pendingCount()).toBe(0);

    const callsAfter = JSON.stringify(jira.calls);
    const again = await s.incremental();
    expect(again).toMatchObject({ status: 'succeeded', opsTotal: 0 });
    expect(JSON.stringify(jira.calls)).toBe(callsAfter);
  });

  it('incremental: a user deleted from the IdP is deactivated; a group rename re-maps its members; a deleted group escalates to a full run', async () => {
    const jira = new MemoryTarget('jira-dc');
    const s = await setup({ group: { mapping: 'on-the-fly', onTheFly: { keepExistingUserGroups: false } } }, [{ targetId: 'jira', kind: 'jira-dc', target: jira }]);
    const { ids, devs, ops } = await seedDirectory(s.dir);
    await s.full();

    await s.dir.deleteUser(ids.eve!);
    await s.dir.renameGroup(devs, 'developers');
    const renamed = await s.incremental();
    expect(renamed.mode).toBe('incremental');
    expect(jira.state.accountByEmail('eve@corp.com')!.active).toBe(false);
    expect(jira.state.membersOf('developers')).toEqual(['ann@corp.com', 'ben@corp.com', 'cat@corp.com']);
    // keep-existing off: out of the old group, which this connection created.
    expect(jira.state.membersOf('devs')).toEqual([]);

    await s.dir.deleteGroup(ops);
    const escalated = await s.incremental();
    expect(escalated.mode).toBe('full');
    expect(jira.state.membersOf('ops')).toEqual([]);
    const run = (await getRun(t.db, s.tenantId, escalated.runId))!;
    expect(run.mode).toBe('full');
    expect(run.summary.escalatedToFull).toMatch(/deleted/);
  });

  it('adopts an existing account with the same email instead of creating a duplicate', async () => {
    const jira = new MemoryTarget('jira-cloud');
    const existing = jira.state.addAccount({ email: 'ann@corp.com', displayName: 'ANN' });
    const s = await setup({ group: { defaultGroups: { newUsers: ['welcome'] } } }, [{ targetId: 'jira', kind: 'jira-cloud', target: jira }]);
    await s.dir.addUser({ userName: 'ann@corp.com', displayName: 'ANN' });

    const result = await s.full();
    expect(result.status).toBe('succeeded');
    expect(jira.calls.createUser).toBeUndefined();
    expect(jira.state.accounts.size).toBe(1);
    expect(groupsOf(jira.state, 'ann@corp.com')).toEqual(['welcome']);
    const link = await t.db.query('SELECT account_id, origin, managed FROM links WHERE connection_id = $1', [s.connectionId]);
    expect(link.rows).toEqual([{ account_id: existing.accountId, origin: 'adopted', managed: true }]);
  });

  it('faults mid-run (429, 500) fail only their ops, skip dependants, and a re-run ends right with no duplicate writes', async () => {
    const jira = new MemoryTarget('jira-dc');
    const s = await setup(onTheFly, [{ targetId: 'jira', kind: 'jira-dc', target: jira }]);
    await seedDirectory(s.dir);
    jira.failOn('createUser', MemoryTarget.serverError('jira-dc'), 1, ([email]) => email === 'ben@corp.com');
    jira.failOn('addMember', MemoryTarget.rateLimited('jira-dc'), 2);

    const first = await s.full();
    expect(first.status).toBe('partial');
    // ben's create failed → his two memberships are skipped; two other memberships hit 429.
    expect(first.execution).toMatchObject({ failed: 3, skipped: 2 });
    const failed = await listRunOps(t.db, { tenantId: s.tenantId, runId: first.runId, status: 'failed' });
    expect(failed.ops.map((o) => o.error)).toEqual(expect.arrayContaining([expect.stringMatching(/^500 Internal server error/), expect.stringMatching(/^429 Rate limit exceeded/)]));
    const skipped = await listRunOps(t.db, { tenantId: s.tenantId, runId: first.runId, status: 'skipped' });
    expect(skipped.ops.every((o) => /create-user/.test(o.error ?? ''))).toBe(true);
    // A partial run leaves its changes pending, so the next incremental run looks at them again.
    expect(await s.dir.pendingCount()).toBeGreaterThan(0);

    const second = await s.incremental();
    expect(second.status).toBe('succeeded');
    expect(second.opsTotal).toBe(5);
    expect(jira.state.accounts.size).toBe(5);
    expect(groupsOf(jira.state, 'ben@corp.com')).toEqual(['devs', 'everyone']);
    expect(jira.writeCount).toBe(18);
    expect(new Set(jira.writeLog).size).toBe(jira.writeLog.length);
    expect((await s.full()).opsTotal).toBe(0);
  });

  it('a run that crashes after N writes is recovered by the next run: right state, no duplicate writes', async () => {
    const state = new MemoryTargetState();
    const crashing = new MemoryTarget('jira-dc', state).crashAfterWrites(5);
    const s = await setup(onTheFly, [{ targetId: 'jira', kind: 'jira-dc', target: crashing }], { staleRunAfterMs: 0 });
    await seedDirectory(s.dir);

    // The crash comes while users are being created: 3 groups, then the 2nd create is applied but never answered.
    void s.full().catch(() => undefined);
    while (!crashing.crashed) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 100)); // let the dead run's last database writes land
    const { rows: pending } = await t.db.query<{ n: number }>("SELECT count(*)::int AS n FROM links WHERE connection_id = $1 AND state = 'pending'", [s.connectionId]);
    expect(pending[0]!.n).toBeGreaterThan(0);

    const restarted = new MemoryTarget('jira-dc', state);
    s.world.targets = [{ targetId: 'jira', kind: 'jira-dc', target: restarted }];
    const second = await s.full();
    expect(second.status).toBe('succeeded');
    expect(second.execution!.failed).toBe(0);
    expect(state.accounts.size).toBe(5);
    expect(state.membersOf('everyone')).toHaveLength(5);
    const all = [...crashing.writeLog, ...restarted.writeLog];
    expect(all).toHaveLength(18);
    expect(new Set(all).size).toBe(18);

    const runs = await listRuns(t.db, { tenantId: s.tenantId, connectionId: s.connectionId });
    const dead = runs.runs.find((r) => r.id !== second.runId)!;
    expect(dead).toMatchObject({ status: 'failed', error: expect.stringMatching(/interrupted/) });
    const interrupted = await listRunOps(t.db, { tenantId: s.tenantId, runId: dead.id, status: 'failed' });
    expect(interrupted.ops.length).toBeGreaterThan(0);
    expect(interrupted.ops.every((o) => /outcome unknown/.test(o.error ?? ''))).toBe(true);
    const linked = await listRunOps(t.db, { tenantId: s.tenantId, runId: second.runId, kind: 'link-user' });
    expect(linked.ops.map((o) => o.detail.origin)).toContain('created');
  });

  it('refuses a second concurrent run of one connection', async () => {
    const state = new MemoryTargetState();
    const slow = new MemoryTarget('jira-dc', state).crashAfterWrites(1);
    const s = await setup({}, [{ targetId: 'jira', kind: 'jira-dc', target: slow }]);
    await s.dir.addUser({ userName: 'ann@corp.com' });
    void s.full().catch(() => undefined);
    while (!slow.crashed) await new Promise((resolve) => setImmediate(resolve));
    await expect(s.full()).rejects.toBeInstanceOf(RunInProgressError);
  });

  it('dry run stores the plan and writes nothing', async () => {
    const jira = new MemoryTarget('jira-dc');
    const s = await setup(onTheFly, [{ targetId: 'jira', kind: 'jira-dc', target: jira }]);
    await seedDirectory(s.dir);
    const dry = await s.full({ dryRun: true });
    expect(dry).toMatchObject({ status: 'succeeded', dryRun: true, opsTotal: 18, execution: null });
    expect(jira.writeCount).toBe(0);
    const planned = await listRunOps(t.db, { tenantId: s.tenantId, runId: dry.runId, status: 'planned', limit: 100 });
    expect(planned.ops).toHaveLength(18);
    expect(planned.ops.map((o) => o.step)).toEqual([...Array(3).fill('create-groups'), ...Array(5).fill('create-users'), ...Array(10).fill('add-memberships')]);
    expect(await s.dir.pendingCount()).toBeGreaterThan(0);
    expect(await t.db.query('SELECT 1 FROM links WHERE connection_id = $1', [s.connectionId]).then((r) => r.rows.length)).toBe(0);
  });

  it('safety threshold: a mass deactivation waits for confirmation; confirm applies it, re-validated against the current state', async () => {
    const jira = new MemoryTarget('jira-dc');
    const s = await setup({}, [{ targetId: 'jira', kind: 'jira-dc', target: jira }]);
    const ids: string[] = [];
    for (let i = 0; i < 14; i++) ids.push(await s.dir.addUser({ userName: `user${String(i).padStart(2, '0')}@corp.com` }));
    await s.full();
    const writes = jira.writeCount;

    for (const id of ids.slice(0, 11)) await s.dir.updateUser(id, { active: false });
    const stopped = await s.full();
    expect(stopped).toMatchObject({ status: 'awaiting_confirmation', deprovisions: 11, deprovisionThreshold: 10 });
    expect(jira.writeCount).toBe(writes);

    // Meanwhile one more user goes inactive: the confirmed plan no longer covers what a re-run would do.
    await s.dir.updateUser(ids[11]!, { active: false });
    const revalidated = await s.engine.confirmRun({ tenantId: s.tenantId, runId: stopped.runId, actor: 'admin-1' });
    expect(revalidated.status).toBe('awaiting_confirmation');
    expect(jira.writeCount).toBe(writes);
    expect((await getRun(t.db, s.tenantId, stopped.runId))).toMatchObject({ status: 'superseded', supersededBy: revalidated.runId, confirmedBy: 'admin-1' });

    const applied = await s.engine.confirmRun({ tenantId: s.tenantId, runId: revalidated.runId, actor: 'admin-1' });
    expect(applied).toMatchObject({ status: 'succeeded', deprovisions: 12 });
    expect([...jira.state.accounts.values()].filter((a) => !a.active)).toHaveLength(12);
    const audit = await listAudit(t.db, { tenantId: s.tenantId, connectionId: s.connectionId });
    expect(audit.filter((a) => a.action === 'run.confirm').map((a) => a.actor)).toEqual(['admin-1', 'admin-1']);
    await expect(s.engine.confirmRun({ tenantId: s.tenantId, runId: applied.runId, actor: 'admin-1' })).rejects.toThrow(/not awaiting confirmation/);
  });

  it('reassigns project and component leads before deactivating a lead', async () => {
    const jira = new MemoryTarget('jira-dc');
    const s = await setup({ user: { defaultProjectLead: 'boss@corp.com' } }, [{ targetId: 'jira', kind: 'jira-dc', target: jira }]);
    const lead = await s.dir.addUser({ userName: 'lead@corp.com' });
    await s.dir.addUser({ userName: 'boss@corp.com' });
    await s.full();
    jira.state.projects.set('PRJ', { projectKey: 'PRJ', projectName: 'Project', leadAccountId: 'lead@corp.com' });
    jira.state.components.set('7', { componentId: '7', componentName: 'API', projectKey: 'PRJ', leadAccountId: 'lead@corp.com' });
    const before = jira.writeCount;

    await s.dir.updateUser(lead, { active: false });
    const result = await s.incremental();
    expect(result.status).toBe('succeeded');
    expect(jira.writeLog.slice(before)).toEqual(['setComponentLead 7 ', 'setProjectLead PRJ boss@corp.com', 'deactivateUser lead@corp.com']);
    expect(jira.state.projects.get('PRJ')!.leadAccountId).toBe('boss@corp.com');
    expect(jira.state.components.get('7')!.leadAccountId).toBeNull();
  });

  it('Jira Cloud: deactivates through the org API when one is configured, else falls back as the settings say', async () => {
    const site = new MemoryTargetState();
    const jira = new MemoryTarget('jira-cloud', site);
    const org = new MemoryTarget('atlassian-org', site);
    const s = await setup({ group: { mapping: 'on-the-fly' } }, [
      { targetId: 'jira', kind: 'jira-cloud', target: jira },
      { targetId: 'org', kind: 'atlassian-org', target: org },
    ]);
    const ann = await s.dir.addUser({ userName: 'ann@corp.com' });
    const ben = await s.dir.addUser({ userName: 'ben@corp.com' });
    await s.dir.addGroup('devs', [ann, ben]);
    await s.full();
    expect(org.writeCount).toBe(0);

    await s.dir.updateUser(ann, { active: false });
    await s.incremental();
    expect(org.writeLog).toEqual([`deactivateUser ${site.accountByEmail('ann@corp.com')!.accountId}`]);
    expect(site.accountByEmail('ann@corp.com')!.active).toBe(false);

    // Without the org target: the default fallback takes ben out of the groups this connection manages.
    s.world.targets = [{ targetId: 'jira', kind: 'jira-cloud', target: jira }];
    await s.dir.updateUser(ben, { active: false });
    const fallback = await s.incremental();
    // This in-memory Jira does not report its application roles: the run cannot vouch that no access remains.
    expect(fallback.status).toBe('succeeded_with_warnings');
    expect(fallback.warnings.map((w) => w.message)).toEqual([expect.stringMatching(/^ben@corp\.com keeps Jira access: Jira Cloud has no deactivate without an organization target/)]);
    expect(groupsOf(site, 'ben@corp.com')).toEqual([]);
    expect(site.accountByEmail('ben@corp.com')!.active).toBe(true);
  });

  it('writes a Confluence that shares Jira’s site only once, through Jira', async () => {
    const site = new MemoryTargetState();
    const jira = new MemoryTarget('jira-cloud', site);
    const confluence = new MemoryTarget('confluence-cloud', site);
    const s = await setup(onTheFly, [
      { targetId: 'jira', kind: 'jira-cloud', target: jira },
      { targetId: 'wiki', kind: 'confluence-cloud', target: confluence, sharesDirectoryWith: 'jira' },
    ]);
    await seedDirectory(s.dir);
    await s.full();
    expect(jira.writeCount).toBe(18);
    expect(confluence.calls).toEqual({});
  });

  it('history: runs with filters and paging, ops with filters, CSV export', async () => {
    const jira = new MemoryTarget('jira-dc');
    const s = await setup(onTheFly, [{ targetId: 'jira', kind: 'jira-dc', target: jira }]);
    await seedDirectory(s.dir);
    const dry = await s.full({ dryRun: true });
    const real = await s.full();
    await s.full();

    const page1 = await listRuns(t.db, { tenantId: s.tenantId, connectionId: s.connectionId, limit: 2 });
    expect(page1.runs).toHaveLength(2);
    expect(page1.total).toBe(3);
    const page2 = await listRuns(t.db, { tenantId: s.tenantId, connectionId: s.connectionId, limit: 2, offset: 2 });
    expect(page2.runs.map((r) => r.id)).toEqual([dry.runId]);
    expect((await listRuns(t.db, { tenantId: s.tenantId, dryRun: true })).runs.map((r) => r.id)).toEqual([dry.runId]);
    expect((await listRuns(t.db, { tenantId: s.tenantId, trigger: 'change' })).runs).toEqual([]);
    // Another tenant sees nothing.
    const other = await createTenantAndConnection(t.db);
    expect((await listRuns(t.db, { tenantId: other.tenantId })).runs).toEqual([]);
    expect(await getRun(t.db, other.tenantId, real.runId)).toBeNull();

    const creates = await listRunOps(t.db, { tenantId: s.tenantId, runId: real.runId, kind: 'create-user', limit: 2 });
    expect(creates.ops).toHaveLength(2);
    const rest = await listRunOps(t.db, { tenantId: s.tenantId, runId: real.runId, kind: 'create-user', afterSeq: creates.nextAfterSeq! });
    expect(rest.ops).toHaveLength(3);
    expect(rest.ops.every((o) => o.status === 'succeeded' && o.attempts === 1 && o.accountId === null && o.result?.accountId)).toBe(true);

    const lines: string[] = [];
    for await (const line of exportRunOpsCsv(t.db, s.tenantId, real.runId)) lines.push(line);
    expect(lines).toHaveLength(19);
    expect(lines[0]).toBe('seq,change,target_name,target_product,target_id,kind,step,status,attempts,user_display_name,user_email,directory_user_id,account_id,group,error,finished_at\r\n');
    // The memory target is not in the targets table: the CSV names it by its id.
    expect(lines[1]).toMatch(/^1,Create group \S+ in deleted target jira,,,jira,create-group,create-groups,succeeded,1,/);
  });
});

describe(`settings store (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  it('reads defaults from an unversioned document, saves with a version bump and an audit row of what changed', async () => {
    const { tenantId, connectionId } = await createTenantAndConnection(t.db, {});
    const initial = await getSettings(t.db, tenantId, connectionId);
    expect(initial.version).toBe(1);
    expect(initial.settings.schemaVersion).toBe(1);
    expect(initial.settings.user.adoptByEmail).toBe(true);

    const saved = await saveSettings(t.db, {
      tenantId,
      connectionId,
      actor: 'acc-admin',
      expectedVersion: 1,
      settings: { user: { onGone: 'delete', operations: { delete: true } }, group: { mapping: 'on-the-fly' } },
    });
    expect(saved.version).toBe(2);
    expect(saved.changes.map((c) => c.path)).toEqual(['group.mapping', 'user.onGone', 'user.operations.delete']);
    expect((await getSettings(t.db, tenantId, connectionId)).settings.user.onGone).toBe('delete');

    const audit = await listAudit(t.db, { tenantId, connectionId });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'acc-admin', action: 'settings.update', details: { fromVersion: 1, toVersion: 2 } });
    expect((audit[0]!.details.changes as Array<{ path: string; before: unknown; after: unknown }>)[1]).toEqual({ path: 'user.onGone', before: 'deactivate', after: 'delete' });

    await expect(saveSettings(t.db, { tenantId, connectionId, actor: 'acc-other', expectedVersion: 1, settings: {} })).rejects.toBeInstanceOf(SettingsConflictError);
    await expect(saveSettings(t.db, { tenantId, connectionId, actor: 'acc-admin', settings: { user: { usernameTransform: { pattern: '(', replacement: '' } } } })).rejects.toThrow(/usernameTransform/);
    const unchanged = await saveSettings(t.db, { tenantId, connectionId, actor: 'acc-admin', settings: saved.settings });
    expect(unchanged.version).toBe(2);
    // Scoped: another tenant cannot read or write this connection.
    const other = await createTenantAndConnection(t.db);
    await expect(getSettings(t.db, other.tenantId, connectionId)).rejects.toThrow(/not found/);
  });
});

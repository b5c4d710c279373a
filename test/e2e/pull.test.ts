import { IdpDirectory } from '../fakes/idp/directory-data';
import { FakeOkta } from '../fakes/idp/fake-okta';
import { E2eHarness } from './harness';

/**
 * The pull path: a connection with an Okta pull source. Synchronize = a full job that pulls the IdP into the
 * directory, then syncs the directory to the fake Jira (and org). A pull that fails deprovisions no one and
 * the job is retried.
 */

let h: E2eHarness;
let okta: FakeOkta;
let idp: IdpDirectory;
const OKTA_TOKEN = '00okta-e2e-token';

beforeAll(async () => {
  h = await E2eHarness.start();
  idp = new IdpDirectory();
  okta = new FakeOkta({ data: idp, apiToken: OKTA_TOKEN });
  await okta.start();
}, 60_000);

afterAll(async () => {
  await h?.stop();
  await okta?.stop();
});

const user = (n: number, active = true) => ({ id: `00u${n}`, userName: `user${n}@corp.example`, email: `user${n}@corp.example`, givenName: `Given${n}`, familyName: `Family${n}`, active });

/** A fresh world and IdP: users 1–4; Engineering = 1, 2; Sales = 3. */
async function setup(): Promise<void> {
  await h.scenario({
    provider: 'okta',
    withOrg: true,
    settings: { user: { productsOnCreate: ['jira-software'], onGone: 'deactivate' }, group: { mapping: 'on-the-fly', onTheFly: { keepExistingUserGroups: false } } },
  });
  idp.userList.length = 0;
  idp.groupList.length = 0;
  idp.memberships.clear();
  for (const n of [1, 2, 3, 4]) idp.addUser(user(n));
  idp.addGroup({ id: '00g-eng', name: 'Engineering', members: ['00u1', '00u2'] });
  idp.addGroup({ id: '00g-sales', name: 'Sales', members: ['00u3'] });
  okta.server.clearFaults();
  okta.server.clearLog();
  await h.savePullConfig({ kind: 'okta', baseUrl: okta.baseUrl, apiToken: OKTA_TOKEN, pageSize: 2 });
  await h.synchronize();
  await h.settle();
}

/** setup(), then one more run: Jira names new accounts itself, and the second run aligns them through the org. */
async function setupAligned(): Promise<void> {
  await setup();
  await h.synchronize();
  await h.settle();
}

async function pullRuns(): Promise<{ status: string }[]> {
  const { rows } = await h.db.query<{ status: string }>('SELECT status FROM pull_runs WHERE connection_id = $1 ORDER BY started_at', [h.connectionId]);
  return rows;
}

async function attemptsOfLastJob(): Promise<{ outcome: string; error: string | null }[]> {
  const jobs = await h.jobRows();
  const { rows } = await h.db.query<{ outcome: string; error: string | null }>('SELECT outcome, error FROM sync_job_attempts WHERE job_id = $1 ORDER BY attempt', [
    jobs.at(-1)!.id,
  ]);
  return rows;
}

const members = (name: string) => [...(h.jira.groupByName(name)?.members ?? [])].map((a) => h.jira.users.get(a)!.emailAddress).sort();

describe('pull → sync', () => {
  it('Synchronize pulls the IdP, then the Jira site follows it: creates, groups, then changes and removals', async () => {
    await setup();
    expect(h.jiraWrites().sort()).toEqual(
      [
        'create-group Engineering',
        'create-group Sales',
        ...[1, 2, 3, 4].map((n) => `create-user user${n}@corp.example [jira-software]`),
        'add-member Engineering user1@corp.example',
        'add-member Engineering user2@corp.example',
        'add-member Sales user3@corp.example',
      ].sort(),
    );
    expect(await pullRuns()).toEqual([{ status: 'complete' }]);
    expect((await h.jobRows()).map((j) => [j.trigger, j.mode, j.status])).toEqual([['manual', 'full', 'succeeded']]);
    // Created with Jira's own display names; the next run aligns them through the org profile API.
    h.clearLogs();
    await h.synchronize();
    await h.settle();
    expect(h.jiraWrites()).toEqual([]);
    expect(h.orgWrites().sort()).toEqual([1, 2, 3, 4].map((n) => `org-profile user${n}@corp.example {"name":"Given${n} Family${n}"}`));
    h.clearLogs();

    // The IdP changes: user 2 suspended, user 4 deprovisioned (gone from the list), user 5 joins Sales, user 1 leaves Engineering.
    idp.userList.find((u) => u.id === '00u2')!.active = false;
    idp.removeUser('00u4');
    idp.addUser(user(5));
    idp.setMembers('00g-sales', ['00u3', '00u5']);
    idp.setMembers('00g-eng', ['00u2']);
    await h.synchronize();
    await h.settle();

    expect(h.jiraWrites().sort()).toEqual(['add-member Sales user5@corp.example', 'create-user user5@corp.example [jira-software]', 'remove-member Engineering user1@corp.example'].sort());
    // A new account's name is aligned by the next run, not this one.
    expect(h.orgWrites().sort()).toEqual(['org-suspend user2@corp.example', 'org-suspend user4@corp.example']);
    expect(h.jira.productAccess(h.jira.userByEmail('user2@corp.example')!.accountId)).toEqual([]);
    expect(h.jira.productAccess(h.jira.userByEmail('user4@corp.example')!.accountId)).toEqual([]);
    expect(h.jira.userByEmail('user1@corp.example')!.active).toBe(true);
    expect(members('Sales')).toEqual(['user3@corp.example', 'user5@corp.example']);
    expect(members('Engineering')).toEqual(['user2@corp.example']);
  });

  it('a pull that fails part-way deprovisions no one; the job is retried and the retry applies the IdP', async () => {
    await setupAligned();
    h.clearLogs();
    const runsBefore = (await h.runs()).length;

    idp.removeUser('00u3');
    // The users page is read (without user 3), then listing groups fails: the pull is incomplete.
    okta.server.queueStatus(1, 500, { method: 'GET', path: /^\/api\/v1\/groups$/ });
    await h.synchronize();
    await h.settle({ timeoutMs: 20_000 });

    const attempts = await attemptsOfLastJob();
    expect(attempts.map((a) => a.outcome)).toEqual(['failed', 'succeeded']);
    expect(attempts[0]!.error).toMatch(/did not complete.*nothing was deprovisioned/);
    expect(await pullRuns()).toEqual([{ status: 'complete' }, { status: 'complete' }, { status: 'failed' }, { status: 'complete' }]);
    // The failed attempt never reached the engine: one new run, the retry's.
    expect((await h.runs()).length).toBe(runsBefore + 1);
    expect(h.orgWrites()).toEqual(['org-suspend user3@corp.example']);
    expect(h.jiraWrites()).toEqual([]);
  });

  it('a pull that keeps failing: the job is retried until it is dead, and no one is deprovisioned', async () => {
    await setupAligned();
    h.clearLogs();
    const runsBefore = (await h.runs()).length;

    idp.removeUser('00u3');
    idp.removeUser('00u4');
    okta.server.queueStatus(50, 500, { method: 'GET', path: /^\/api\/v1\/groups\/[^/]+\/users$/ });
    await h.synchronize();
    await h.settle({ timeoutMs: 20_000, changesConsumed: false });

    const jobs = await h.jobRows();
    expect(jobs.at(-1)).toMatchObject({ status: 'dead', attempt: Number(h.config.jobs.maxAttempts) });
    expect((await attemptsOfLastJob()).every((a) => a.outcome === 'failed')).toBe(true);
    expect((await pullRuns()).map((r) => r.status)).toEqual(['complete', 'complete', ...Array(Number(h.config.jobs.maxAttempts)).fill('failed')]);
    expect((await h.runs()).length).toBe(runsBefore);
    expect(h.jiraWrites({ applied: false })).toEqual([]);
    expect(h.orgWrites({ applied: false })).toEqual([]);
    for (const n of [3, 4]) expect(h.jira.userByEmail(`user${n}@corp.example`)!.active).toBe(true);

    // Once the IdP answers again, the next Synchronize applies the removals.
    okta.server.clearFaults();
    await h.synchronize();
    await h.settle();
    expect(h.orgWrites().sort()).toEqual(['org-suspend user3@corp.example', 'org-suspend user4@corp.example']);
  });
});

import { E2eHarness, JIRA_ADMIN } from './harness';

/**
 * SCIM push → debounced incremental job → sync engine → fake Jira Cloud (and org API), all over real HTTP.
 * Every test asserts the fakes' final state and the exact writes they received.
 */

let h: E2eHarness;

beforeAll(async () => {
  h = await E2eHarness.start();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

const PRODUCTS = { user: { productsOnCreate: ['jira-software' as const] } };

describe('create', () => {
  it('a SCIM POST /Users creates the Jira account with the configured products, through an incremental run (no Synchronize)', async () => {
    await h.scenario({ settings: { user: { productsOnCreate: ['jira-software'] } } });
    await h.createUser('ann@corp.example', { displayName: 'Ann Archer' });
    await h.settle();

    const ann = h.jira.userByEmail('ann@corp.example');
    expect(ann).toBeDefined();
    expect([...ann!.products]).toEqual(['jira-software']);
    expect(h.jiraWrites()).toEqual(['create-user ann@corp.example [jira-software]']);
    expect(h.orgWrites()).toEqual([]);

    const runs = await h.runs();
    expect(runs.map((r) => [r.trigger, r.mode, r.status])).toEqual([['change', 'incremental', 'succeeded']]);
    const jobs = await h.jobRows();
    expect(jobs.map((j) => [j.trigger, j.mode, j.status])).toEqual([['change', 'incremental', 'succeeded']]);
    expect(await h.links()).toEqual([expect.objectContaining({ email: 'ann@corp.example', account_id: ann!.accountId, origin: 'created', state: 'active', managed: true })]);
  });

  it('a burst of SCIM writes joins the debounced job instead of queueing one each', async () => {
    await h.scenario({ settings: PRODUCTS });
    const names = ['a', 'b', 'c', 'd', 'e'];
    await Promise.all(names.map((n) => h.createUser(`${n}@corp.example`)));
    await h.settle();
    expect(h.jiraWrites().sort()).toEqual(names.map((n) => `create-user ${n}@corp.example [jira-software]`));
    // Every write asked for a sync; they landed within the 300 ms debounce of one another, so they joined.
    const { rows } = await h.db.query<{ jobs: number; requests: number }>(
      'SELECT count(*)::int AS jobs, sum(requests)::int AS requests FROM sync_jobs WHERE connection_id = $1',
      [h.connectionId],
    );
    expect(rows[0]!.requests).toBe(names.length);
    expect(rows[0]!.jobs).toBeLessThan(names.length);
  });
});

describe('update', () => {
  it('with an org target: displayName and email changes go to the org profile API; Jira shows them', async () => {
    await h.scenario({ withOrg: true, settings: PRODUCTS });
    const id = await h.createUser('bob@corp.example', { displayName: 'Bob Baker' });
    await h.settle();
    const bob = h.jira.userByEmail('bob@corp.example')!;
    h.clearLogs();

    await h.patch('Users', id, [
      { op: 'Replace', path: 'displayName', value: 'Robert Baker' },
      { op: 'Replace', path: 'emails[type eq "work"].value', value: 'robert@corp.example' },
    ]);
    await h.settle();

    expect(h.jiraWrites()).toEqual([]);
    // The name through the profile API, the email through the email API (the profile refuses an email).
    expect(h.orgWrites()).toEqual([`org-profile robert@corp.example {"name":"Robert Baker"}`, `org-email robert@corp.example {"email":"robert@corp.example"}`]);
    expect(h.jira.users.get(bob.accountId)).toMatchObject({ displayName: 'Robert Baker', emailAddress: 'robert@corp.example' });
    expect(h.org.users.get(bob.accountId)).toMatchObject({ name: 'Robert Baker', email: 'robert@corp.example' });
  });

  it('without an org target: Jira Cloud cannot update a profile, so nothing is written and the run says why', async () => {
    await h.scenario({ settings: PRODUCTS });
    const id = await h.createUser('cat@corp.example', { displayName: 'Cat Cole' });
    await h.settle();
    h.clearLogs();

    await h.patch('Users', id, [{ op: 'Replace', path: 'displayName', value: 'Catherine Cole' }]);
    await h.settle();

    expect(h.jiraWrites()).toEqual([]);
    expect(h.orgWrites()).toEqual([]);
    const last = (await h.runs()).at(-1)!;
    expect(last.status).toBe('succeeded');
    expect((last.summary as { notes: Record<string, unknown> }).notes).toHaveProperty('update-unsupported');
  });
});

describe('group changes', () => {
  it('manual mapping: group create + Entra batch add + filtered remove; unmanaged Jira memberships are never removed', async () => {
    await h.scenario({
      settings: {
        ...PRODUCTS,
        group: { mapping: 'manual', manual: { mappings: [{ idpGroup: 'Engineering', targetGroups: ['jira-engineering', 'jira-devs'] }], keepExistingMemberships: false } },
      },
    });
    const legacy = h.jira.addGroup('legacy');
    const ann = await h.createUser('ann@corp.example');
    const ben = await h.createUser('ben@corp.example');
    await h.settle();
    const benAccount = h.jira.userByEmail('ben@corp.example')!.accountId;
    legacy.members.add(benAccount); // put there by someone else: not this connection's to remove
    h.clearLogs();

    const engineering = await h.createGroup('Engineering');
    const marketing = await h.createGroup('Marketing'); // not mapped: no Jira group
    await h.addMembers(engineering, [ann, ben]);
    await h.addMembers(marketing, [ann]);
    await h.settle();
    expect(h.jiraWrites().sort()).toEqual(
      [
        'create-group jira-devs',
        'create-group jira-engineering',
        'add-member jira-devs ann@corp.example',
        'add-member jira-devs ben@corp.example',
        'add-member jira-engineering ann@corp.example',
        'add-member jira-engineering ben@corp.example',
      ].sort(),
    );
    expect(h.jira.groupByName('Marketing')).toBeUndefined();
    h.clearLogs();

    await h.removeMember(engineering, ben);
    await h.settle();
    expect(h.jiraWrites().sort()).toEqual(['remove-member jira-devs ben@corp.example', 'remove-member jira-engineering ben@corp.example']);
    expect([...h.jira.groupByName('jira-engineering')!.members].map((a) => h.jira.users.get(a)!.emailAddress)).toEqual(['ann@corp.example']);
    expect(legacy.members.has(benAccount)).toBe(true);

    // A full run agrees and still leaves the unmanaged membership alone.
    h.clearLogs();
    await h.synchronize();
    await h.settle();
    expect(h.jiraWrites()).toEqual([]);
    expect(legacy.members.has(benAccount)).toBe(true);
  });

  it('on-the-fly mapping with a rename: Jira groups and memberships follow the IdP', async () => {
    await h.scenario({
      settings: {
        ...PRODUCTS,
        group: { mapping: 'on-the-fly', onTheFly: { rename: { pattern: '^(.*)$', replacement: 'idp-$1' }, filters: { exclude: ['^Temp'] }, keepExistingUserGroups: false } },
      },
    });
    h.jira.addGroup('idp-Sales'); // exists already: used, not created
    const ann = await h.createUser('ann@corp.example');
    const ben = await h.createUser('ben@corp.example');
    const sales = await h.createGroup('Sales');
    const support = await h.createGroup('Support');
    const temp = await h.createGroup('Temp crew'); // excluded by the filter
    await h.addMembers(sales, [ann, ben]);
    await h.addMembers(support, [ben]);
    await h.addMembers(temp, [ann]);
    await h.settle();

    expect(h.jiraWrites().sort()).toEqual(
      [
        'create-user ann@corp.example [jira-software]',
        'create-user ben@corp.example [jira-software]',
        'create-group idp-Support',
        'add-member idp-Sales ann@corp.example',
        'add-member idp-Sales ben@corp.example',
        'add-member idp-Support ben@corp.example',
      ].sort(),
    );
    expect(h.jira.groupByName('idp-Temp crew')).toBeUndefined();
    h.clearLogs();

    await h.removeMember(sales, ann);
    await h.settle();
    expect(h.jiraWrites()).toEqual(['remove-member idp-Sales ann@corp.example']);
    expect(h.jira.groupByName('idp-Sales')!.members.size).toBe(1);
  });
});

describe('adoption by email', () => {
  it('an account with the same email already in Jira is linked (adopted), not created again', async () => {
    await h.scenario({ settings: { ...PRODUCTS, group: { defaultGroups: { newUsers: ['new-starters'] } } } });
    h.jira.addGroup('new-starters');
    const existing = h.jira.addUser({ emailAddress: 'dora@corp.example', displayName: 'Dora', products: ['jira-software'] });
    await h.createUser('DORA@corp.example', { email: 'Dora@Corp.example' });
    await h.settle();

    expect(h.jiraWrites()).toEqual(['add-member new-starters dora@corp.example']);
    expect([...h.jira.users.values()].filter((u) => u.emailAddress.toLowerCase() === 'dora@corp.example')).toHaveLength(1);
    expect(await h.links()).toEqual([expect.objectContaining({ account_id: existing.accountId, origin: 'adopted', managed: true, state: 'active' })]);
  });
});

describe('steady state', () => {
  it('a second full run with no IdP change makes zero writes', async () => {
    await h.scenario({ withOrg: true, settings: { ...PRODUCTS, group: { mapping: 'on-the-fly' } } });
    const users = [];
    for (const n of ['a', 'b', 'c', 'd']) users.push(await h.createUser(`${n}@corp.example`, { displayName: `User ${n.toUpperCase()}` }));
    const group = await h.createGroup('Everyone');
    await h.addMembers(group, users);
    await h.settle();
    await h.synchronize();
    await h.settle();
    expect(h.jira.groupByName('Everyone')!.members.size).toBe(4);
    h.clearLogs();

    await h.synchronize();
    await h.settle();
    expect(h.jiraWrites({ applied: false })).toEqual([]);
    expect(h.orgWrites({ applied: false })).toEqual([]);
    const last = (await h.runs()).at(-1)!;
    expect(last).toMatchObject({ trigger: 'manual', mode: 'full', status: 'succeeded' });
    // The site admin (not the connection's) is never touched.
    expect(h.jira.userByEmail(JIRA_ADMIN.email)!.active).toBe(true);
  });
});

import { exportRunOpsCsv, listRuns } from '../../src/sync/history';
import { E2eHarness, JIRA_ADMIN, type DataCenterTarget, type ScenarioOptions } from './harness';

/**
 * Deactivation, deletion and lead reassignment, from a SCIM push to the fake Jira's and the fake org's state.
 */

let h: E2eHarness;

beforeAll(async () => {
  h = await E2eHarness.start();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

const products = ['jira-software' as const];
/** Entra disables with a string boolean. */
const disable = [{ op: 'Replace', path: 'active', value: 'False' }];

async function fullRunWritesNothing(): Promise<void> {
  h.clearLogs();
  await h.synchronize();
  await h.settle();
  expect(h.jiraWrites({ applied: false })).toEqual([]);
  expect(h.orgWrites({ applied: false })).toEqual([]);
}

describe('deactivate (PATCH active "False")', () => {
  it('with an org target: lifecycle disable on the org, nothing removed in Jira; "True" enables it again', async () => {
    await h.scenario({ withOrg: true, settings: { user: { productsOnCreate: products }, group: { defaultGroups: { allUsers: ['staff'] } } } });
    const ann = await h.createUser('ann@corp.example', { displayName: 'ann' });
    await h.settle();
    const account = h.jira.userByEmail('ann@corp.example')!;
    expect(h.jiraWrites()).toEqual(['create-group staff', 'create-user ann@corp.example [jira-software]', 'add-member staff ann@corp.example']);
    h.clearLogs();

    await h.patch('Users', ann, disable);
    await h.settle();
    expect(h.orgWrites()).toEqual(['org-suspend ann@corp.example']);
    expect(h.jiraWrites()).toEqual([]);
    expect(h.org.users.get(account.accountId)).toMatchObject({ status: 'active', membership: 'suspended' }); // app access only
    expect(h.jira.productAccess(account.accountId)).toEqual([]);
    expect(h.jira.groupByName('staff')!.members.has(account.accountId)).toBe(true);
    await fullRunWritesNothing();

    await h.patch('Users', ann, [{ op: 'Replace', path: 'active', value: 'True' }]);
    await h.settle();
    expect(h.orgWrites()).toEqual(['org-restore ann@corp.example']);
    expect(h.jiraWrites()).toEqual([]);
    expect(h.jira.productAccess(account.accountId)).toEqual(['jira-software']);
  });

  it('without an org target, fallback remove-groups: out of the managed and product-access groups only', async () => {
    await h.scenario({
      settings: {
        user: { productsOnCreate: products, deactivateFallback: 'remove-groups', productAccessGroups: ['jira-software-users'] },
        group: { mapping: 'on-the-fly', onTheFly: { keepExistingUserGroups: true } },
      },
    });
    const access = h.jira.addGroup('jira-software-users');
    const legacy = h.jira.addGroup('legacy');
    const ann = await h.createUser('ann@corp.example');
    const devs = await h.createGroup('devs');
    await h.addMembers(devs, [ann]);
    await h.settle();
    const account = h.jira.userByEmail('ann@corp.example')!.accountId;
    access.members.add(account); // Jira's own product-access group
    legacy.members.add(account); // someone else's group
    h.clearLogs();

    await h.patch('Users', ann, disable);
    await h.settle();
    expect(h.jiraWrites().sort()).toEqual(['remove-member devs ann@corp.example', 'remove-member jira-software-users ann@corp.example']);
    expect(h.orgWrites()).toEqual([]);
    expect(legacy.members.has(account)).toBe(true);
    expect(h.jira.users.get(account)!.active).toBe(true); // Jira Cloud cannot deactivate without the org API
    await fullRunWritesNothing();
  });

  it('without an org target, fallback remove-from-site: the account leaves the site', async () => {
    await h.scenario({ settings: { user: { productsOnCreate: products, deactivateFallback: 'remove-from-site' } } });
    const ann = await h.createUser('ann@corp.example');
    await h.settle();
    const account = h.jira.userByEmail('ann@corp.example')!.accountId;
    h.clearLogs();

    await h.patch('Users', ann, disable);
    await h.settle();
    expect(h.jiraWrites()).toEqual(['remove-from-site ann@corp.example']);
    expect(h.jira.users.has(account)).toBe(false);
    expect(await h.links()).toEqual([expect.objectContaining({ account_id: account, state: 'removed' })]);
    await fullRunWritesNothing();
  });
});

describe('delete (DELETE /Users/{id})', () => {
  it('"gone from IdP" = deactivate, with an org target: lifecycle disable', async () => {
    await h.scenario({ withOrg: true, settings: { user: { productsOnCreate: products, onGone: 'deactivate' } } });
    const ann = await h.createUser('ann@corp.example', { displayName: 'ann' });
    await h.settle();
    h.clearLogs();

    await h.deleteUser(ann);
    await h.settle();
    expect(h.orgWrites()).toEqual(['org-suspend ann@corp.example']);
    expect(h.jiraWrites()).toEqual([]);
    expect(h.jira.productAccess(h.jira.userByEmail('ann@corp.example')!.accountId)).toEqual([]);
    await fullRunWritesNothing();
  });

  it('"gone from IdP" = delete (allowed): Jira Cloud removes the account from the site', async () => {
    await h.scenario({ withOrg: true, settings: { user: { productsOnCreate: products, onGone: 'delete', operations: { delete: true } } } });
    const ann = await h.createUser('ann@corp.example', { displayName: 'ann' });
    const ben = await h.createUser('ben@corp.example', { displayName: 'ben' });
    await h.settle();
    h.clearLogs();

    await h.deleteUser(ann);
    await h.settle();
    expect(h.jiraWrites()).toEqual(['remove-from-site ann@corp.example']);
    expect(h.orgWrites()).toEqual([]);
    expect(h.jira.userByEmail('ann@corp.example')).toBeUndefined();
    expect(h.jira.userByEmail('ben@corp.example')).toBeDefined();
    expect(ben).toBeTruthy();
    await fullRunWritesNothing();
  });

  it('"gone from IdP" = delete but deleting is not allowed: falls back to deactivation', async () => {
    await h.scenario({ withOrg: true, settings: { user: { productsOnCreate: products, onGone: 'delete', operations: { delete: false } } } });
    const ann = await h.createUser('ann@corp.example', { displayName: 'ann' });
    await h.settle();
    h.clearLogs();
    await h.deleteUser(ann);
    await h.settle();
    expect(h.orgWrites()).toEqual(['org-suspend ann@corp.example']);
    expect(h.jiraWrites()).toEqual([]);
  });

  it('"gone from IdP" = ignore: nothing is written', async () => {
    await h.scenario({ withOrg: true, settings: { user: { productsOnCreate: products, onGone: 'ignore' } } });
    const ann = await h.createUser('ann@corp.example', { displayName: 'ann' });
    await h.settle();
    h.clearLogs();
    await h.deleteUser(ann);
    await h.settle();
    expect(h.jiraWrites({ applied: false })).toEqual([]);
    expect(h.orgWrites({ applied: false })).toEqual([]);
    expect(h.jira.userByEmail('ann@corp.example')!.active).toBe(true);
  });
});

describe('lead reassignment', () => {
  async function seedLeads(): Promise<{ ann: string; annAccount: string; benAccount: string; adminAccount: string; backend: string; frontend: string }> {
    const ann = await h.createUser('ann@corp.example', { displayName: 'ann' });
    await h.createUser('ben@corp.example', { displayName: 'ben' });
    await h.settle();
    const annAccount = h.jira.userByEmail('ann@corp.example')!.accountId;
    const benAccount = h.jira.userByEmail('ben@corp.example')!.accountId;
    const adminAccount = h.jira.userByEmail(JIRA_ADMIN.email)!.accountId;
    h.jira.addProject('PRJ', 'Project', annAccount);
    h.jira.addProject('OPS', 'Operations', adminAccount);
    const backend = h.jira.addComponent('PRJ', 'Backend', annAccount).id;
    const frontend = h.jira.addComponent('PRJ', 'Frontend', benAccount).id;
    h.clearLogs();
    return { ann, annAccount, benAccount, adminAccount, backend, frontend };
  }

  it('with an org target: project and component leads move to the defaults BEFORE the deactivation', async () => {
    await h.scenario({ withOrg: true, settings: { user: { productsOnCreate: products } } });
    const seeded = await seedLeads();
    await h.saveSettings({ user: { productsOnCreate: products, defaultProjectLead: seeded.adminAccount, defaultComponentLead: seeded.benAccount } });

    await h.patch('Users', seeded.ann, disable);
    await h.settle();
    // The two lead moves run side by side; both come before the deactivation.
    const writes = h.allWrites();
    expect(writes.slice(0, 2).sort()).toEqual([`component-lead ${seeded.backend} ben@corp.example`, `project-lead PRJ ${JIRA_ADMIN.email}`]);
    expect(writes.slice(2)).toEqual(['org-suspend ann@corp.example']);
    expect(h.jira.projects.get('PRJ')!.leadAccountId).toBe(seeded.adminAccount);
    expect(h.jira.projects.get('OPS')!.leadAccountId).toBe(seeded.adminAccount);
    expect(h.jira.components.get(seeded.backend)!.leadAccountId).toBe(seeded.benAccount);
    expect(h.jira.components.get(seeded.frontend)!.leadAccountId).toBe(seeded.benAccount);
    expect(h.jira.productAccess(seeded.annAccount)).toEqual([]);
    await fullRunWritesNothing();
  });

  it('without an org target (remove from site): leads move first, the component lead is cleared when there is no default', async () => {
    await h.scenario({ settings: { user: { productsOnCreate: products, deactivateFallback: 'remove-from-site' } } });
    const seeded = await seedLeads();
    await h.saveSettings({ user: { productsOnCreate: products, deactivateFallback: 'remove-from-site', defaultProjectLead: seeded.adminAccount } });

    await h.deleteUser(seeded.ann);
    await h.settle();
    const writes = h.allWrites();
    expect(writes.slice(0, 2).sort()).toEqual([`component-lead ${seeded.backend} (none)`, `project-lead PRJ ${JIRA_ADMIN.email}`]);
    expect(writes.slice(2)).toEqual(['remove-from-site ann@corp.example']);
    expect(h.jira.components.get(seeded.backend)!.leadAccountId).toBeNull();
    expect(h.jira.users.has(seeded.annAccount)).toBe(false);
  });

  it('without a default project lead, a project lead is not deprovisioned (Jira needs a lead) and the run says so', async () => {
    await h.scenario({ withOrg: true, settings: { user: { productsOnCreate: products } } });
    const seeded = await seedLeads();
    await h.patch('Users', seeded.ann, disable);
    await h.settle();
    expect(h.allWrites()).toEqual([]);
    expect(h.jira.users.get(seeded.annAccount)!.active).toBe(true);
    const last = (await h.runs()).at(-1)!;
    expect((last.summary as { notes: Record<string, unknown> }).notes).toHaveProperty('project-lead-without-default');
  });
});

/**
 * One row per target kind the harness has: deactivate bob by SCIM, then bob has no access left in that product,
 * or the run carries the warning that says why not; reactivating gives back exactly the access he had, and a
 * later full run with no IdP change writes nothing and warns no more. Data Center rows add one DC target
 * beside Jira Cloud (the scenario's `dataCenter`); the sync creates bob there, so they need no seed.
 */
describe('deactivate and reactivate by SCIM, per target kind: no access left (or a warning saying why), then restored', () => {
  interface KindRow {
    name: string;
    scenario: ScenarioOptions;
    /** Gives bob (by his Atlassian account id, made by Jira) an account in the product before the full run links it. */
    seed?: (h: E2eHarness, accountId: string) => void;
    /** What still lets bob into the product, as readable strings (empty = no access). */
    access: (h: E2eHarness, accountId: string) => string[];
    /** The warning the deactivation run must carry when access remains or cannot be vouched for. */
    warns?: RegExp;
    /** Groups the product keeps on the deactivated account (they grant nothing while it is inactive). */
    kept?: (h: E2eHarness) => string[];
  }
  const staff = { group: { defaultGroups: { allUsers: ['staff'] } } };
  const user = { productsOnCreate: products };
  const jiraAccess = (h: E2eHarness, id: string) => h.jira.productAccess(id);
  const groupsIn = (groups: Iterable<{ name: string; members: Set<string> }>, id: string) => [...groups].filter((g) => g.members.has(id)).map((g) => `group ${g.name}`).sort();
  /** Data Center fakes keep groups as name → member usernames. */
  const dcGroupsOf = (groups: Map<string, Set<string>>, username: string) => [...groups].filter(([, members]) => members.has(username)).map(([name]) => `group ${name}`).sort();
  /**
   * A deactivated (Jira) or disabled (Confluence) Data Center user cannot log in and holds no licence, whatever
   * groups it is in: Jira and Confluence keep the memberships, and the sync leaves them for reactivation to reuse.
   */
  const jiraDcGroups = (h: E2eHarness) => {
    const fake = (h.dataCenter as Extract<DataCenterTarget, { kind: 'jira-dc' }>).fake;
    return { user: fake.userByEmail('bob@corp.example'), groups: (name: string) => dcGroupsOf(fake.groups, name) };
  };
  const jiraDcAccess = (h: E2eHarness) => {
    const { user, groups } = jiraDcGroups(h);
    return user?.active ? ['active account', ...groups(user.name)] : [];
  };
  const confluenceDcGroups = (h: E2eHarness) => {
    const fake = (h.dataCenter as Extract<DataCenterTarget, { kind: 'confluence-dc' }>).fake;
    return { user: fake.userByEmail('bob@corp.example'), groups: (name: string) => dcGroupsOf(fake.groups, name) };
  };
  const confluenceDcAccess = (h: E2eHarness) => {
    const { user, groups } = confluenceDcGroups(h);
    return user?.enabled ? ['enabled account', ...groups(user.username)] : [];
  };
  const bitbucketDcAccess = (h: E2eHarness) => {
    const fake = (h.dataCenter as Extract<DataCenterTarget, { kind: 'bitbucket-dc' }>).fake;
    const user = [...fake.users.values()].find((u) => u.emailAddress === 'bob@corp.example');
    return user ? ['account', ...dcGroupsOf(fake.groups, user.name)] : [];
  };
  const rows: KindRow[] = [
    { name: 'Jira Cloud (no org): out of the application-role groups and the defaults', scenario: { settings: { user, ...staff } }, access: jiraAccess },
    {
      name: 'Jira Cloud + Confluence Cloud on one site, no org (as a new user tries it)',
      scenario: { confluence: 'same-site', settings: { user, ...staff } },
      access: jiraAccess,
      warns: /^bob@corp\.example keeps Confluence access: Confluence Cloud has no API to deactivate a user or remove site access without an organization target/,
    },
    {
      name: 'Confluence Cloud (a site of its own, no org)',
      scenario: { confluence: 'own-site', settings: { user: { ...user, productAccessGroups: ['confluence-users'] }, ...staff } },
      seed: (h, id) => {
        h.confluence!.addUser({ email: 'bob@corp.example', displayName: 'bob', accountId: id });
        h.confluence!.addGroup('confluence-users', [id]);
      },
      access: (h, id) => groupsIn(h.confluence!.groups.values(), id),
      warns: /^bob@corp\.example keeps Confluence access: Confluence Cloud has no API to deactivate a user or remove site access/,
    },
    {
      name: 'Bitbucket Cloud workspace',
      scenario: { bitbucket: true, settings: { user, ...staff } },
      seed: (h, id) => void h.bitbucket!.addMember('bob', id),
      access: (h, id) => [...(h.bitbucket!.members.has(id) ? ['workspace member'] : []), ...groupsIn(h.bitbucket!.groups.values(), id)],
      warns: /^bob@corp\.example keeps Bitbucket access: Bitbucket Cloud workspace membership is read-only in its API/,
    },
    {
      name: 'Atlassian organization (Jira Cloud with an org target): suspended, not disabled',
      scenario: { withOrg: true, settings: { user, ...staff } },
      access: (h, id) => [...jiraAccess(h, id), ...(h.org.users.get(id)?.membership === 'suspended' ? [] : ['org app access'])],
    },
    {
      name: 'Jira Data Center: deactivated (active: false), its groups kept for reactivation',
      scenario: { dataCenter: 'jira-dc', settings: { user, ...staff } },
      access: jiraDcAccess,
      kept: (h) => {
        const { user, groups } = jiraDcGroups(h);
        return user ? groups(user.name) : [];
      },
    },
    {
      name: 'Confluence Data Center: disabled, its groups kept for reactivation',
      scenario: { dataCenter: 'confluence-dc', settings: { user, ...staff } },
      access: confluenceDcAccess,
      kept: (h) => {
        const { user, groups } = confluenceDcGroups(h);
        return user ? groups(user.username) : [];
      },
    },
    {
      name: 'Bitbucket Data Center: no deactivate in its API, out of the licensed (stash-users) and managed groups',
      scenario: { dataCenter: 'bitbucket-dc', settings: { user: { ...user, productAccessGroups: ['stash-users'] }, ...staff } },
      access: bitbucketDcAccess,
      warns: /^bob@corp\.example keeps Bitbucket access: Bitbucket Data Center's REST API has no deactivate/,
    },
  ];

  /** Every request that writes, on every fake of the scenario. */
  const writesEverywhere = (h: E2eHarness) =>
    [h.jira.server, h.org.server, h.confluence?.server, h.bitbucket?.server, h.dataCenter?.fake.server].flatMap((server) => (server ? server.log.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`) : []));
  const clearEverywhere = (h: E2eHarness) => {
    h.clearLogs();
    h.confluence?.server.clearLog();
    h.bitbucket?.server.clearLog();
    h.dataCenter?.fake.server.clearLog();
  };

  it.each(rows.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    await h.scenario(row.scenario);
    const bob = await h.createUser('bob@corp.example', { displayName: 'bob' });
    await h.settle();
    const accountId = h.jira.userByEmail('bob@corp.example')!.accountId;
    row.seed?.(h, accountId);
    await h.synchronize(); // links bob's account on the other products by his Atlassian account id
    await h.settle();
    const before = row.access(h, accountId);
    expect(before.length).toBeGreaterThan(0);

    await h.patch('Users', bob, disable);
    await h.settle();
    const deactivation = (await h.runs()).at(-1)!;
    const warnings = ((deactivation.summary as { warnings?: Array<{ message: string }> }).warnings ?? []).map((w) => w.message);
    const left = row.access(h, accountId);
    if (row.warns) {
      expect(deactivation.status).toBe('succeeded_with_warnings');
      expect(warnings).toEqual([expect.stringMatching(row.warns)]);
      // The history filter finds it, and its CSV export carries the warning.
      const filtered = await listRuns(h.db, { tenantId: h.tenantId, status: 'succeeded_with_warnings' });
      expect(filtered.runs.map((r) => r.id)).toEqual([deactivation.id]);
      let csv = '';
      for await (const line of exportRunOpsCsv(h.db, h.tenantId, deactivation.id)) csv += line;
      expect(csv).toMatch(/,warning,,warning,,,,bob@corp\.example,"?bob@corp\.example keeps /);
    } else {
      expect(deactivation.status).toBe('succeeded');
      expect(warnings).toEqual([]);
      expect(left).toEqual([]);
    }
    // Whatever the product lets the sync remove is gone, warning or not: no group keeps bob.
    expect(left.filter((a) => a.startsWith('group '))).toEqual([]);
    // Data Center keeps a deactivated account's groups (they grant nothing while it is inactive): none is taken away.
    if (row.kept) expect(row.kept(h)).toEqual(before.filter((a) => a.startsWith('group ')));

    clearEverywhere(h);
    await h.synchronize();
    await h.settle();
    expect(writesEverywhere(h)).toEqual([]);
    expect((await h.runs()).at(-1)!.status).toBe('succeeded'); // warned once, when it happened

    await h.patch('Users', bob, [{ op: 'Replace', path: 'active', value: 'True' }]);
    await h.settle();
    expect((await h.runs()).at(-1)!.status).toBe('succeeded');
    expect(row.access(h, accountId)).toEqual(before);

    clearEverywhere(h);
    await h.synchronize();
    await h.settle();
    expect(writesEverywhere(h)).toEqual([]);
  });
});

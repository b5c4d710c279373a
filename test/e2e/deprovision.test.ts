import { E2eHarness, JIRA_ADMIN } from './harness';

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

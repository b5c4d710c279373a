import { plan, type ActualState, type CreatedGroup, type DeprovisionRecord, type LinkRecord, type PlanTarget, type SyncOp } from '../../src/sync/plan';
import { desiredState, type SnapshotUser } from '../../src/sync/rules';
import { parseSettings, type SyncSettingsInput } from '../../src/sync/settings';
import type { ProjectLead, ComponentLead, TargetAccount, TargetKind } from '../../src/targets/types';
import { CAPABILITIES } from './memory-target';

/** A compact world: directory users/groups by name, target accounts/groups by name, links by user. */
interface World {
  settings?: Omit<SyncSettingsInput, 'schemaVersion'>;
  kind?: TargetKind;
  withOrg?: boolean;
  users: Array<Partial<SnapshotUser> & { id: string }>;
  idpGroups?: Record<string, string[]>; // group name → user ids
  accounts?: Array<Partial<TargetAccount> & { accountId: string }>;
  groups?: Record<string, string[]>; // target group name → account ids
  links?: Array<Partial<LinkRecord> & { directoryUserId: string }>;
  createdGroups?: string[];
  leads?: { projects?: ProjectLead[]; components?: ComponentLead[] };
  complete?: boolean;
  /** Group names the product reports as granting access (Jira application roles); undefined = not read. */
  accessGroups?: string[];
  accessGroupsReadable?: boolean;
  alsoServes?: TargetKind[];
  deprovisioned?: DeprovisionRecord[];
}

function run(world: World) {
  const settings = parseSettings({ schemaVersion: 1, ...world.settings });
  const users: SnapshotUser[] = world.users.map((u) => ({
    userName: u.id,
    email: `${u.id}@corp.com`,
    displayName: u.id.toUpperCase(),
    givenName: null,
    familyName: null,
    active: true,
    ...u,
  }));
  const idpGroups = Object.entries(world.idpGroups ?? {});
  const desired = desiredState(
    {
      users,
      groups: idpGroups.map(([name]) => ({ id: `idp-${name}`, displayName: name })),
      memberships: idpGroups.flatMap(([name, members]) => members.map((userId) => ({ groupId: `idp-${name}`, userId }))),
    },
    settings,
  );
  const groups = Object.keys(world.groups ?? {}).map((name) => ({ groupId: `gid-${name}`, name }));
  const memberOf = new Map<string, Set<string>>();
  for (const [name, members] of Object.entries(world.groups ?? {})) {
    for (const accountId of members) {
      if (!memberOf.has(accountId)) memberOf.set(accountId, new Set());
      memberOf.get(accountId)!.add(`gid-${name}`);
    }
  }
  const actual: ActualState = {
    accounts: (world.accounts ?? []).map((a) => ({ email: `${a.accountId}@corp.com`, displayName: a.accountId.toUpperCase(), active: true, ...a })),
    groups,
    memberOf,
    membershipKnown: 'all',
    leads: world.leads ? { projects: world.leads.projects ?? [], components: world.leads.components ?? [] } : undefined,
    accessGroups: world.accessGroups?.map((name) => ({ name, groupId: `gid-${name}`, product: 'jira-software', isDefault: true })),
  };
  const kind = world.kind ?? 'jira-dc';
  const target: PlanTarget = {
    targetId: 't1',
    kind,
    capabilities: CAPABILITIES[kind],
    lifecycleVia: world.withOrg ? { targetId: 'org', capabilities: CAPABILITIES['atlassian-org'] } : undefined,
    accessGroupsReadable: world.accessGroupsReadable,
    alsoServes: world.alsoServes,
  };
  const links: LinkRecord[] = (world.links ?? []).map((l) => ({
    accountId: l.directoryUserId,
    managed: true,
    origin: 'created',
    state: 'active',
    userName: l.directoryUserId,
    email: `${l.directoryUserId}@corp.com`,
    ...l,
  }));
  const createdGroups: CreatedGroup[] = (world.createdGroups ?? []).map((name) => ({ key: name.toLowerCase(), groupId: `gid-${name}`, name }));
  return plan({ target, desired, actual, links, createdGroups, settings, complete: world.complete ?? true, deprovisioned: world.deprovisioned });
}

/** One line per op: kind, subject and (where it matters) where it executes. */
function describe_(op: SyncOp): string {
  const on = op.executeOn !== op.targetId ? ` @${op.executeOn}` : '';
  switch (op.kind) {
    case 'create-group':
      return `create-group ${op.groupName}`;
    case 'create-user':
      return `create-user ${op.userId}`;
    case 'link-user':
      return `link-user ${op.userId}→${op.accountId} (${op.origin})`;
    case 'update-user':
      return `update-user ${op.userId} ${JSON.stringify(op.changes)}${on}`;
    case 'reactivate-user':
      return `reactivate-user ${op.userId}${on}`;
    case 'add-member':
      return `add-member ${op.groupKey} ${op.userId}${op.restore ? ' (restore)' : ''}`;
    case 'remove-member':
      return `remove-member ${op.groupKey} ${op.userId}${op.deprovision ? ' (deprovision)' : ''}`;
    case 'set-project-lead':
      return `set-project-lead ${op.projectKey} ${op.fromAccountId}→${op.toAccountId}`;
    case 'set-component-lead':
      return `set-component-lead ${op.componentId} ${op.fromAccountId}→${op.toAccountId || '(none)'}`;
    case 'deactivate-user':
      return `deactivate-user ${op.userId}${on}`;
    case 'delete-user':
      return `delete-user ${op.userId} (${op.reason})`;
    case 'delete-group':
      return `delete-group ${op.groupName}`;
    case 'mark-deprovisioned':
      return `mark-deprovisioned ${op.userId} [${op.removedGroups.map((g) => g.name).join(',')}]`;
    case 'mark-restored':
      return `mark-restored ${op.userId}`;
  }
}

const ops = (world: World) => run(world).ops.map(describe_);
const noteCodes = (world: World) => Object.keys(run(world).notes).sort();

const onTheFly = { group: { mapping: 'on-the-fly' as const } };
const linked = (...ids: string[]) => ids.map((directoryUserId) => ({ directoryUserId }));
const accounts = (...ids: string[]) => ids.map((accountId) => ({ accountId }));

describe('plan: creating and adopting', () => {
  it.each<[string, World, string[]]>([
    [
      'creates groups before users before memberships',
      { settings: onTheFly, users: [{ id: 'u1' }], idpGroups: { Devs: ['u1'] } },
      ['create-group Devs', 'create-user u1', 'add-member devs u1'],
    ],
    [
      'adopts an existing account with the same email instead of creating it, and adds new-user defaults',
      { settings: { group: { defaultGroups: { newUsers: ['welcome'] } } }, users: [{ id: 'u1' }], accounts: accounts('u1'), groups: { welcome: [] } },
      ['link-user u1→u1 (adopted)', 'add-member welcome u1'],
    ],
    [
      'does not adopt when adoption is off (and does not create a duplicate)',
      { settings: { user: { adoptByEmail: false } }, users: [{ id: 'u1' }], accounts: accounts('u1') },
      [],
    ],
    [
      'links the account a create cut off by a crash made (pending link), even with adoption off',
      { settings: { user: { adoptByEmail: false } }, users: [{ id: 'u1' }], accounts: accounts('u1'), links: [{ directoryUserId: 'u1', accountId: null, state: 'pending' }] },
      ['link-user u1→u1 (created)'],
    ],
    [
      'creates again an account removed from the site when the user is active again',
      { users: [{ id: 'u1' }], links: [{ directoryUserId: 'u1', state: 'removed' }] },
      ['create-user u1'],
    ],
    ['creates nothing for a user who is inactive in the IdP', { users: [{ id: 'u1', active: false }] }, []],
    ['creates nothing when create is not allowed', { settings: { user: { operations: { create: false } } }, users: [{ id: 'u1' }] }, []],
    ['creates nothing without an email', { users: [{ id: 'u1', email: null }] }, []],
    ['creates nothing on a target that cannot create users (Confluence Cloud)', { kind: 'confluence-cloud', users: [{ id: 'u1' }] }, []],
  ])('%s', (_name, world, expected) => {
    expect(ops(world)).toEqual(expected);
  });

  it('says why it did not do what the rules asked', () => {
    expect(noteCodes({ settings: { user: { adoptByEmail: false } }, users: [{ id: 'u1' }], accounts: accounts('u1') })).toEqual(['email-in-use-not-adopted']);
    expect(noteCodes({ users: [{ id: 'u1', email: null }] })).toEqual(['create-without-email']);
    expect(noteCodes({ kind: 'confluence-cloud', users: [{ id: 'u1' }] })).toEqual(['create-unsupported']);
    expect(noteCodes({ settings: { group: { mapping: 'on-the-fly', createMissingGroups: false } }, users: [{ id: 'u1' }], idpGroups: { Devs: ['u1'] } })).toEqual(['group-missing']);
  });

  it('a create-user carries the transformed identity and Jira products only on Jira Cloud', () => {
    const settings = { user: { productsOnCreate: ['jira-software' as const], usernameTransform: { pattern: '^(.*)$', replacement: 'x-$1' } } };
    const cloud = run({ kind: 'jira-cloud', settings, users: [{ id: 'u1' }] }).ops[0]!;
    const dc = run({ kind: 'jira-dc', settings, users: [{ id: 'u1' }] }).ops[0]!;
    expect(cloud.kind === 'create-user' && cloud.account).toEqual({ email: 'u1@corp.com', displayName: 'U1', username: 'x-u1', givenName: null, familyName: null, products: ['jira-software'] });
    expect(dc.kind === 'create-user' && dc.account.products).toEqual([]);
  });

  it('memberships of a user being created depend on the create and on the group create', () => {
    const result = run({ settings: onTheFly, users: [{ id: 'u1' }], idpGroups: { Devs: ['u1'] } });
    const add = result.ops.find((op) => op.kind === 'add-member')!;
    expect(add.dependsOn).toEqual(['t1|create-group|devs', 't1|create-user|u1']);
  });
});

describe('plan: nothing differs, nothing to do', () => {
  it('makes zero ops when the target already matches', () => {
    expect(
      ops({
        settings: { group: { mapping: 'on-the-fly', defaultGroups: { allUsers: ['everyone'] } } },
        users: [{ id: 'u1' }, { id: 'u2', active: false }],
        idpGroups: { Devs: ['u1'] },
        accounts: [{ accountId: 'u1' }, { accountId: 'u2', active: false }],
        groups: { devs: ['u1'], everyone: ['u1'] },
        links: linked('u1', 'u2'),
      }),
    ).toEqual([]);
  });
});

describe('plan: updates and reactivation', () => {
  it.each<[string, World, string[]]>([
    ['updates a changed display name where the product can', { users: [{ id: 'u1', displayName: 'New Name' }], accounts: accounts('u1'), links: linked('u1') }, ['update-user u1 {"displayName":"New Name"}']],
    ['updates a changed email', { users: [{ id: 'u1', email: 'new@corp.com' }], accounts: accounts('u1'), links: linked('u1') }, ['update-user u1 {"email":"new@corp.com"}']],
    ['never "changes" an email the product hides', { users: [{ id: 'u1' }], accounts: [{ accountId: 'u1', email: null }], links: linked('u1') }, []],
    ['does not update when update is off', { settings: { user: { operations: { update: false } } }, users: [{ id: 'u1', displayName: 'X' }], accounts: accounts('u1'), links: linked('u1') }, []],
    ['cannot update on Jira Cloud alone', { kind: 'jira-cloud', users: [{ id: 'u1', displayName: 'X' }], accounts: accounts('u1'), links: linked('u1') }, []],
    ['updates on Jira Cloud through the org API', { kind: 'jira-cloud', withOrg: true, users: [{ id: 'u1', displayName: 'X' }], accounts: accounts('u1'), links: linked('u1') }, ['update-user u1 {"displayName":"X"} @org']],
    ['reactivates a managed account active again in the IdP', { users: [{ id: 'u1' }], accounts: [{ accountId: 'u1', active: false }], links: linked('u1') }, ['reactivate-user u1']],
  ])('%s', (_name, world, expected) => {
    expect(ops(world)).toEqual(expected);
  });
});

describe('plan: memberships (keep existing, managed groups, filters)', () => {
  const base = (group: Record<string, unknown>, extraGroups: Record<string, string[]> = {}): World => ({
    settings: { group: { mapping: 'manual', manual: { mappings: [{ idpGroup: 'Devs', targetGroups: ['devs'] }, { idpGroup: 'Ops', targetGroups: ['ops'] }] }, ...group } },
    users: [{ id: 'u1' }],
    idpGroups: { Devs: ['u1'], Ops: [] },
    accounts: accounts('u1'),
    groups: { devs: ['u1'], ops: ['u1'], other: ['u1'], welcome: ['u1'], ...extraGroups },
    links: linked('u1'),
  });
  it.each<[string, World, string[]]>([
    ['keep existing (default): a membership the IdP dropped stays', base({}), []],
    ['keep existing off: removed from a managed group the IdP dropped', base({ manual: { mappings: [{ idpGroup: 'Devs', targetGroups: ['devs'] }, { idpGroup: 'Ops', targetGroups: ['ops'] }], keepExistingMemberships: false } }), ['remove-member ops u1']],
    [
      'keep existing off + remove unmanaged: also from unmanaged groups, never from new-user defaults',
      base({ manual: { mappings: [{ idpGroup: 'Devs', targetGroups: ['devs'] }, { idpGroup: 'Ops', targetGroups: ['ops'] }], keepExistingMemberships: false }, removeUnmanagedMemberships: true, defaultGroups: { newUsers: ['welcome'] } }),
      ['remove-member ops u1', 'remove-member other u1'],
    ],
    [
      'on-the-fly keep-existing-user-groups off: removed from groups this connection created',
      {
        settings: { group: { mapping: 'on-the-fly', onTheFly: { keepExistingUserGroups: false } } },
        users: [{ id: 'u1' }],
        idpGroups: { Devs: ['u1'] },
        accounts: accounts('u1'),
        groups: { devs: ['u1'], 'old-name': ['u1'], manual: ['u1'] },
        links: linked('u1'),
        createdGroups: ['old-name'],
      },
      ['remove-member old-name u1'],
    ],
    [
      'adds the all-users default groups to every managed account',
      { settings: { group: { defaultGroups: { allUsers: ['everyone'] } } }, users: [{ id: 'u1' }, { id: 'u2' }], accounts: accounts('u1', 'u2'), groups: { everyone: ['u2'] }, links: linked('u1', 'u2') },
      ['add-member everyone u1'],
    ],
    [
      'new-user defaults are not added to accounts the connection already had',
      { settings: { group: { defaultGroups: { newUsers: ['welcome'] } } }, users: [{ id: 'u1' }], accounts: accounts('u1'), groups: { welcome: [] }, links: linked('u1') },
      [],
    ],
  ])('%s', (_name, world, expected) => {
    expect(ops(world)).toEqual(expected);
  });

  it('never touches an account it does not manage', () => {
    expect(
      ops({ settings: onTheFly, users: [{ id: 'u1', active: false }], idpGroups: { Devs: ['u1'] }, accounts: accounts('u1'), groups: { devs: [] }, links: [{ directoryUserId: 'u1', managed: false }] }),
    ).toEqual([]);
  });
});

describe('plan: deprovisioning and capability fallbacks', () => {
  it.each<[string, World, string[]]>([
    ['deactivates a managed account inactive in the IdP', { users: [{ id: 'u1', active: false }], accounts: accounts('u1'), links: linked('u1') }, ['deactivate-user u1']],
    ['does nothing to an account already deactivated', { users: [{ id: 'u1', active: false }], accounts: [{ accountId: 'u1', active: false }], links: linked('u1') }, []],
    ['deactivates a managed account gone from the IdP', { users: [], accounts: accounts('u1'), links: linked('u1') }, ['deactivate-user u1']],
    ['ignores a gone user when told to', { settings: { user: { onGone: 'ignore' } }, users: [], accounts: accounts('u1'), links: linked('u1') }, []],
    ['deletes a gone user when delete is chosen and allowed', { settings: { user: { onGone: 'delete', operations: { delete: true } } }, users: [], accounts: accounts('u1'), links: linked('u1') }, ['delete-user u1 (gone)']],
    ['falls back to deactivation when delete is chosen but not allowed', { settings: { user: { onGone: 'delete' } }, users: [], accounts: accounts('u1'), links: linked('u1') }, ['deactivate-user u1']],
    ['never deprovisions when deactivation is not allowed (only records it, for the warning)', { settings: { user: { operations: { deactivate: false } } }, users: [{ id: 'u1', active: false }], accounts: accounts('u1'), links: linked('u1') }, ['mark-deprovisioned u1 []']],
    ['never deprovisions an account it did not create or adopt', { users: [], accounts: accounts('u1'), links: [{ directoryUserId: 'u1', managed: false }] }, []],
    ['never deprovisions an account without a link', { users: [{ id: 'u1', active: false }], accounts: accounts('u1') }, []],
    ['Jira Cloud with an org API key deactivates through the org', { kind: 'jira-cloud', withOrg: true, users: [{ id: 'u1', active: false }], accounts: accounts('u1'), links: linked('u1') }, ['deactivate-user u1 @org']],
    [
      'Jira Cloud without an org key, fallback remove-groups: out of managed and product-access groups only',
      {
        kind: 'jira-cloud',
        settings: { ...onTheFly, user: { productAccessGroups: ['jira-software-users'] } },
        users: [{ id: 'u1', active: false }],
        idpGroups: { Devs: ['u1'] },
        accounts: accounts('u1'),
        groups: { devs: ['u1'], 'jira-software-users': ['u1'], unrelated: ['u1'] },
        links: linked('u1'),
      },
      ['remove-member devs u1 (deprovision)', 'remove-member jira-software-users u1 (deprovision)', 'mark-deprovisioned u1 [devs,jira-software-users]'],
    ],
    ['Jira Cloud without an org key, fallback remove-from-site', { kind: 'jira-cloud', settings: { user: { deactivateFallback: 'remove-from-site' } }, users: [{ id: 'u1', active: false }], accounts: accounts('u1'), links: linked('u1') }, ['delete-user u1 (remove-from-site)']],
    ['Jira Cloud without an org key, fallback none', { kind: 'jira-cloud', settings: { user: { deactivateFallback: 'none' } }, users: [{ id: 'u1', active: false }], accounts: accounts('u1'), links: linked('u1') }, ['mark-deprovisioned u1 []']],
  ])('%s', (_name, world, expected) => {
    expect(ops({ ...world, leads: world.leads ?? {} })).toEqual(expected);
  });

  it('reports the deprovisioned users (for the safety threshold)', () => {
    expect(run({ users: [{ id: 'u1', active: false }, { id: 'u2' }], accounts: accounts('u1', 'u2', 'u3'), links: linked('u1', 'u2', 'u3'), leads: {} }).deprovisionedUsers).toEqual(['u1', 'u3']);
  });
});

describe('plan: deprovisioning removes access, never silently, and reactivation restores exactly that', () => {
  const deactivated = (world: Partial<World>): World => ({ kind: 'jira-cloud', users: [{ id: 'bob', active: false }], accounts: accounts('bob'), links: linked('bob'), ...world });

  it('Jira Cloud without an org: out of every application-role group and the new-user defaults, besides managed groups; no warning', () => {
    const world = deactivated({
      settings: { group: { defaultGroups: { newUsers: ['welcome'], allUsers: ['staff'] } } },
      groups: { 'jira-software-users': ['bob'], 'jira-servicedesk-users': ['bob'], staff: ['bob'], welcome: ['bob'], unrelated: ['bob'] },
      accessGroups: ['jira-software-users', 'jira-servicedesk-users'],
      accessGroupsReadable: true,
    });
    expect(ops(world)).toEqual([
      'remove-member jira-servicedesk-users bob (deprovision)',
      'remove-member jira-software-users bob (deprovision)',
      'remove-member staff bob (deprovision)',
      'remove-member welcome bob (deprovision)',
      'mark-deprovisioned bob [jira-servicedesk-users,jira-software-users,staff,welcome]',
    ]);
    expect(run(world).warnings).toEqual([]);
  });

  it('asks for the access groups and the account\'s groups when they were not read', () => {
    const world = deactivated({ accessGroupsReadable: true, groups: { 'jira-software-users': ['bob'] } });
    expect(run(world).needsAccess).toEqual({ accessGroups: true, accounts: [] });
    expect(run({ ...world, accessGroups: ['jira-software-users'] }).needsAccess).toBeNull();
  });

  it('Confluence Cloud without an org: groups removed, and a warning that says why access stays', () => {
    const result = run(deactivated({ kind: 'confluence-cloud', groups: { 'confluence-users': ['bob'] }, settings: { user: { productAccessGroups: ['confluence-users'] } } }));
    expect(result.ops.map(describe_)).toEqual(['remove-member confluence-users bob (deprovision)', 'mark-deprovisioned bob [confluence-users]']);
    expect(result.warnings).toEqual([
      expect.objectContaining({ kind: 'confluence-cloud', userId: 'bob', message: expect.stringMatching(/^bob keeps Confluence access: Confluence Cloud has no API to deactivate a user or remove site access without an organization target/) }),
    ]);
  });

  it('a Confluence site served through the Jira target is warned for, unless an org suspends', () => {
    const world = deactivated({ accessGroups: [], alsoServes: ['confluence-cloud'] });
    expect(run(world).warnings.map((w) => `${w.kind} ${w.userId}`)).toEqual(['confluence-cloud bob']);
    expect(run({ ...world, withOrg: true }).warnings).toEqual([]);
    expect(ops({ ...world, withOrg: true })).toEqual(['deactivate-user bob @org']);
  });

  it('Bitbucket Cloud: managed groups removed, and the workspace membership the API cannot remove is a warning', () => {
    const result = run(deactivated({ kind: 'bitbucket-cloud', groups: { devs: ['bob'] }, settings: { group: { defaultGroups: { allUsers: ['devs'] } } } }));
    expect(result.ops.map(describe_)).toEqual(['remove-member devs bob (deprovision)', 'mark-deprovisioned bob [devs]']);
    expect(result.warnings[0]!.message).toMatch(/^bob keeps Bitbucket access: Bitbucket Cloud workspace membership is read-only/);
  });

  it('deactivation turned off is a warning too; "do nothing" (ignore) is not', () => {
    expect(run(deactivated({ settings: { user: { operations: { deactivate: false } } } })).warnings[0]!.message).toBe(
      'bob keeps Jira access: deactivation is turned off in the sync settings',
    );
    expect(run(deactivated({ settings: { user: { onInactive: 'ignore' } } })).warnings).toEqual([]);
  });

  it('an account already deprovisioned is not warned about again, and a no-change run plans nothing', () => {
    const world = deactivated({
      kind: 'confluence-cloud',
      links: linked('bob').map((l) => ({ ...l, state: 'deactivated' as const })),
      deprovisioned: [{ directoryUserId: 'bob', accountId: 'bob', method: 'groups-removed', removedGroups: [{ groupId: 'gid-devs', name: 'devs' }] }],
    });
    expect(run(world).ops).toEqual([]);
    expect(run(world).warnings).toEqual([]);
    // Nor are its groups read again on every full run (one call per former user).
    expect(run({ ...world, kind: 'jira-cloud', accessGroupsReadable: true }).needsAccess).toBeNull();
  });

  it('reactivation adds back exactly the groups removed, then records the restore', () => {
    const result = run({
      kind: 'jira-cloud',
      users: [{ id: 'bob' }],
      accounts: accounts('bob'),
      links: linked('bob').map((l) => ({ ...l, state: 'deactivated' as const })),
      groups: { 'jira-software-users': [], devs: [], other: [] },
      deprovisioned: [
        { directoryUserId: 'bob', accountId: 'bob', method: 'groups-removed', removedGroups: [{ groupId: 'gid-jira-software-users', name: 'jira-software-users' }, { groupId: 'gid-devs', name: 'devs' }] },
      ],
    });
    expect(result.ops.map(describe_)).toEqual(['add-member devs bob (restore)', 'add-member jira-software-users bob (restore)', 'mark-restored bob']);
    expect(result.ops.at(-1)!.dependsOn).toEqual(['t1|add-member|devs|bob', 't1|add-member|jira-software-users|bob']);
  });

  it('Data Center deactivates with its own API (recorded as deactivated) and reactivation activates it again', () => {
    const deactivation = run({ kind: 'jira-dc', users: [{ id: 'bob', active: false }], accounts: accounts('bob'), links: linked('bob') });
    expect(deactivation.ops).toEqual([expect.objectContaining({ kind: 'deactivate-user', executeOn: 't1', method: 'deactivated' })]);
    expect(deactivation.warnings).toEqual([]);
    expect(
      ops({
        kind: 'confluence-dc',
        users: [{ id: 'bob' }],
        accounts: [{ accountId: 'bob', active: false }],
        links: linked('bob').map((l) => ({ ...l, state: 'deactivated' as const })),
        deprovisioned: [{ directoryUserId: 'bob', accountId: 'bob', method: 'deactivated', removedGroups: [] }],
      }),
    ).toEqual(['reactivate-user bob']);
  });

  it('reactivation of a suspended account restores it through the org (its Jira account never looked inactive)', () => {
    expect(
      ops({
        kind: 'jira-cloud',
        withOrg: true,
        users: [{ id: 'bob' }],
        accounts: accounts('bob'),
        links: linked('bob').map((l) => ({ ...l, state: 'deactivated' as const })),
        deprovisioned: [{ directoryUserId: 'bob', accountId: 'bob', method: 'suspended', removedGroups: [] }],
      }),
    ).toEqual(['reactivate-user bob @org']);
    // An Atlassian account deactivated outside this sync is not "restored" on every run: noted instead.
    const disabled: World = { kind: 'jira-cloud', withOrg: true, users: [{ id: 'bob' }], accounts: [{ accountId: 'bob', active: false }], links: linked('bob') };
    expect(ops(disabled)).toEqual([]);
    expect(noteCodes(disabled)).toEqual(['account-deactivated-not-suspended']);
  });
});

describe('plan: leads are reassigned before a lead is deprovisioned', () => {
  const leadWorld = (settings: World['settings']): World => ({
    kind: 'jira-dc',
    settings,
    users: [{ id: 'u1', active: false }, { id: 'boss' }],
    accounts: accounts('u1', 'boss'),
    links: linked('u1', 'boss'),
    leads: {
      projects: [
        { projectKey: 'PRJ', projectName: 'Project', leadAccountId: 'u1' },
        { projectKey: 'OTH', projectName: 'Other', leadAccountId: 'boss' },
      ],
      components: [{ componentId: '10', componentName: 'API', projectKey: 'PRJ', leadAccountId: 'u1' }],
    },
  });

  it('asks for the leads first when it deprovisions on a target with leads', () => {
    const result = run({ ...leadWorld({}), leads: undefined });
    expect(result.needsLeads).toBe(true);
  });

  it('moves project and component leads to the defaults, then deactivates', () => {
    const result = run(leadWorld({ user: { defaultProjectLead: 'boss', defaultComponentLead: 'boss' } }));
    expect(result.ops.map(describe_)).toEqual(['set-component-lead 10 u1→boss', 'set-project-lead PRJ u1→boss', 'deactivate-user u1']);
    expect(result.ops[2]!.dependsOn).toEqual(['t1|set-component-lead|10', 't1|set-project-lead|PRJ']);
  });

  it('clears a component lead without a default component lead', () => {
    expect(ops(leadWorld({ user: { defaultProjectLead: 'boss' } }))).toEqual(['set-component-lead 10 u1→(none)', 'set-project-lead PRJ u1→boss', 'deactivate-user u1']);
  });

  it('keeps a project lead (and says so) when there is no default project lead', () => {
    const result = run(leadWorld({}));
    expect(result.ops).toEqual([]);
    expect(result.notes['project-lead-without-default']).toEqual({ count: 1, examples: ['u1'] });
  });
});

describe('plan: group deletion', () => {
  const world = (extra: Partial<World>): World => ({
    settings: { group: { mapping: 'on-the-fly', deleteGroupsGoneFromIdp: true } },
    users: [],
    groups: { 'old-idp-group': [], 'someone-elses': [] },
    createdGroups: ['old-idp-group'],
    ...extra,
  });
  it('deletes only groups this connection created, only on full runs, only when allowed', () => {
    expect(ops(world({}))).toEqual(['delete-group old-idp-group']);
    expect(ops(world({ complete: false }))).toEqual([]);
    expect(ops(world({ settings: onTheFly }))).toEqual([]);
    expect(ops(world({ createdGroups: [] }))).toEqual([]);
  });
});

describe('plan: deterministic order', () => {
  it('gives the same ops in the same order whatever the input order, sorted by step then key', () => {
    const world: World = {
      settings: { group: { mapping: 'on-the-fly', manual: {}, defaultGroups: { allUsers: ['everyone'] } } },
      users: [{ id: 'u3' }, { id: 'u1', active: false }, { id: 'u2', displayName: 'Changed' }],
      idpGroups: { Devs: ['u2', 'u3'], Ops: ['u3'] },
      accounts: accounts('u1', 'u2'),
      groups: { everyone: ['u1'] },
      links: linked('u1', 'u2'),
      leads: {},
    };
    const first = run(world).ops;
    const reversed = run({ ...world, users: [...world.users].reverse(), accounts: [...world.accounts!].reverse(), links: [...world.links!].reverse() }).ops;
    expect(reversed).toEqual(first);
    expect(first.map(describe_)).toEqual([
      'create-group Devs',
      'create-group Ops',
      'create-user u3',
      'update-user u2 {"displayName":"Changed"}',
      'add-member devs u2',
      'add-member devs u3',
      'add-member everyone u2',
      'add-member everyone u3',
      'add-member ops u3',
      'deactivate-user u1',
    ]);
    expect(new Set(first.map((op) => op.key)).size).toBe(first.length);
  });
});

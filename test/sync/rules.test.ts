import { applyTransform, desiredState, mapIdpGroup, passesFilters, type DirectorySnapshot } from '../../src/sync/rules';
import { defaultSettings, parseSettings, type SyncSettingsInput } from '../../src/sync/settings';

const settingsWith = (patch: Omit<SyncSettingsInput, 'schemaVersion'>) => parseSettings({ schemaVersion: 1, ...patch });

describe('applyTransform (regex with $1 groups)', () => {
  it.each([
    ['keeps the value without a transform', 'jdoe@corp.com', null, 'jdoe@corp.com'],
    ['takes the local part with $1', 'jdoe@corp.com', { pattern: '^([^@]+)@.*$', replacement: '$1' }, 'jdoe'],
    ['moves a domain keeping $1', 'jdoe@corp.com', { pattern: '^(.*)@corp\\.com$', replacement: '$1@example.com' }, 'jdoe@example.com'],
    ['uses several groups', 'Doe, John', { pattern: '^(\\w+), (\\w+)$', replacement: '$2.$1' }, 'John.Doe'],
    ['leaves a value the pattern does not match', 'jdoe@other.org', { pattern: '^(.*)@corp\\.com$', replacement: '$1@example.com' }, 'jdoe@other.org'],
  ])('%s', (_name, value, transform, expected) => {
    expect(applyTransform(value, transform)).toBe(expected);
  });
});

describe('passesFilters (include/exclude, case-insensitive)', () => {
  it.each([
    ['no filters pass everything', 'Engineering', [], [], true],
    ['an include match passes', 'jira-devs', ['^jira-'], [], true],
    ['no include match fails', 'wiki-devs', ['^jira-'], [], false],
    ['an exclude match wins over include', 'jira-admins', ['^jira-'], ['admins$'], false],
    ['case does not matter', 'JIRA-Devs', ['^jira-'], [], true],
  ])('%s', (_name, name, include, exclude, expected) => {
    expect(passesFilters(name, { include, exclude })).toBe(expected);
  });
});

describe('mapIdpGroup', () => {
  const manual = (extra: Record<string, unknown> = {}) =>
    settingsWith({ group: { mapping: 'manual', manual: { mappings: [{ idpGroup: 'Engineering', targetGroups: ['jira-software-users', 'devs'] }], ...extra } } });
  it.each([
    ['manual: a mapped group gives its target groups (name case-insensitive)', 'engineering', manual(), ['jira-software-users', 'devs']],
    ['manual: an unmapped group gives nothing', 'Sales', manual(), []],
    ['manual: import gives an unmapped group its own name', 'Sales', manual({ importIdpGroups: true }), ['Sales']],
    ['manual: a filtered-out group gives nothing even when mapped', 'Engineering', manual({ filters: { exclude: ['^eng'] } }), []],
    ['manual: import respects the include filter', 'Sales', manual({ importIdpGroups: true, filters: { include: ['^eng'] } }), []],
    ['on-the-fly: same name', 'Engineering', settingsWith({ group: { mapping: 'on-the-fly' } }), ['Engineering']],
    [
      'on-the-fly: regex rename with $1',
      'idp-devs',
      settingsWith({ group: { mapping: 'on-the-fly', onTheFly: { rename: { pattern: '^idp-(.*)$', replacement: 'jira-$1' } } } }),
      ['jira-devs'],
    ],
    ['on-the-fly: filtered out', 'Everyone', settingsWith({ group: { mapping: 'on-the-fly', onTheFly: { filters: { exclude: ['^everyone$'] } } } }), []],
    ['none: no group mapping', 'Engineering', defaultSettings(), []],
  ])('%s', (_name, group, settings, expected) => {
    expect(mapIdpGroup(group, settings)).toEqual(expected);
  });
});

const snapshot: DirectorySnapshot = {
  users: [
    { id: 'u2', userName: 'bob@corp.com', email: null, displayName: null, givenName: 'Bob', familyName: 'Builder', active: false },
    { id: 'u1', userName: 'alice', email: 'alice@corp.com', displayName: 'Alice A', givenName: null, familyName: null, active: true },
    { id: 'u3', userName: 'carol', email: null, displayName: 'Carol', givenName: null, familyName: null, active: true },
  ],
  groups: [
    { id: 'g1', displayName: 'Engineering' },
    { id: 'g2', displayName: 'Sales' },
  ],
  memberships: [
    { groupId: 'g1', userId: 'u1' },
    { groupId: 'g2', userId: 'u1' },
    { groupId: 'g1', userId: 'u2' },
  ],
};

describe('desiredState', () => {
  it('maps each user: transforms, email fallback to userName, display name from parts, active flag, products', () => {
    const settings = settingsWith({
      user: { usernameTransform: { pattern: '^([^@]+)@.*$', replacement: '$1' }, emailTransform: { pattern: '@corp\\.com$', replacement: '@example.com' }, productsOnCreate: ['jira-software'] },
    });
    const desired = desiredState(snapshot, settings);
    expect(desired.accounts.map((a) => [a.userId, a.userName, a.email, a.displayName, a.active, a.products])).toEqual([
      ['u1', 'alice', 'alice@example.com', 'Alice A', true, ['jira-software']],
      ['u2', 'bob', 'bob@example.com', 'Bob Builder', false, ['jira-software']],
      ['u3', 'carol', null, 'Carol', true, ['jira-software']],
    ]);
  });

  it('puts every user in the all-users default groups, and keeps new-user defaults apart and protected', () => {
    const desired = desiredState(snapshot, settingsWith({ group: { defaultGroups: { allUsers: ['Everyone'], newUsers: ['Welcome'] } } }));
    expect(desired.accounts.map((a) => a.groups)).toEqual([['everyone'], ['everyone'], ['everyone']]);
    expect(desired.newUserGroups).toEqual(['welcome']);
    expect(desired.managedGroups).toEqual(['everyone']);
    expect(desired.protectedGroups).toEqual(['welcome']);
    expect(desired.groups.map((g) => g.name)).toEqual(['Everyone', 'Welcome']);
  });

  it('manual mapping: memberships follow the mapping; every mapping target is managed; keep-existing from the manual settings', () => {
    const desired = desiredState(
      snapshot,
      settingsWith({
        group: {
          mapping: 'manual',
          manual: {
            mappings: [
              { idpGroup: 'Engineering', targetGroups: ['devs'] },
              { idpGroup: 'Ghost', targetGroups: ['ghosts'] },
            ],
            keepExistingMemberships: false,
          },
        },
        user: { productAccessGroups: ['jira-software-users'] },
      }),
    );
    expect(desired.accounts.find((a) => a.userId === 'u1')!.groups).toEqual(['devs']);
    expect(desired.accounts.find((a) => a.userId === 'u3')!.groups).toEqual([]);
    expect(desired.managedGroups).toEqual(['devs', 'ghosts']);
    expect(desired.groups.map((g) => g.key)).toEqual(['devs']);
    expect(desired.protectedGroups).toEqual(['jira-software-users']);
    expect(desired.keepExistingMemberships).toBe(false);
  });

  it('on-the-fly mapping: renamed groups, created when missing unless turned off', () => {
    const on = desiredState(snapshot, settingsWith({ group: { mapping: 'on-the-fly', onTheFly: { rename: { pattern: '^(.*)$', replacement: 'idp-$1' }, keepExistingUserGroups: false } } }));
    expect(on.accounts.find((a) => a.userId === 'u1')!.groups).toEqual(['idp-engineering', 'idp-sales']);
    expect(on.groups).toEqual([
      { key: 'idp-engineering', name: 'idp-Engineering', createIfMissing: true },
      { key: 'idp-sales', name: 'idp-Sales', createIfMissing: true },
    ]);
    expect(on.keepExistingMemberships).toBe(false);
    const off = desiredState(snapshot, settingsWith({ group: { mapping: 'on-the-fly', createMissingGroups: false } }));
    expect(off.groups.every((g) => !g.createIfMissing)).toBe(true);
  });

  it('is deterministic: the order of the input does not matter', () => {
    const settings = settingsWith({ group: { mapping: 'on-the-fly', defaultGroups: { allUsers: ['Everyone'] } } });
    const shuffled: DirectorySnapshot = {
      users: [...snapshot.users].reverse(),
      groups: [...snapshot.groups].reverse(),
      memberships: [...snapshot.memberships].reverse(),
    };
    expect(desiredState(shuffled, settings)).toEqual(desiredState(snapshot, settings));
  });
});

describe('settings', () => {
  it('defaults are safe: nothing deleted, deprovisioning only by deactivation, memberships kept', () => {
    const settings = defaultSettings();
    expect(settings.user.operations).toEqual({ create: true, update: true, deactivate: true, delete: false });
    expect(settings.user.onGone).toBe('deactivate');
    expect(settings.group.mapping).toBe('none');
    expect(settings.group.removeUnmanagedMemberships).toBe(false);
    expect(settings.group.deleteGroupsGoneFromIdp).toBe(false);
    expect(settings.safety).toEqual({ deprovisionThresholdPercent: 10, deprovisionThresholdMin: 10 });
  });

  it('rejects an invalid regex and unknown products with the path of the problem', () => {
    expect(() => settingsWith({ user: { usernameTransform: { pattern: '([a-z', replacement: '$1' } } })).toThrow(/user\.usernameTransform\.pattern/);
    expect(() => parseSettings({ schemaVersion: 1, user: { productsOnCreate: ['jira-nope'] } })).toThrow(/productsOnCreate/);
  });
});

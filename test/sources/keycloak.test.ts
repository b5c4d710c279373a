import { IdpDirectory } from '../fakes/idp/directory-data';
import { FakeKeycloak } from '../fakes/idp/fake-keycloak';
import { describeSourceContract, seedDirectory } from './harness';
import { KeycloakSource } from '../../src/sources/keycloak';
import { parsePullConfig, type KeycloakPullConfig } from '../../src/sources/config';
import type { SourceGroup } from '../../src/sources/types';

const directory = new IdpDirectory();
seedDirectory(directory, (n) => `kc-user-${n}`, (name) => `kc-group-${name}`);
const fake = new FakeKeycloak({ data: directory, realm: 'acme', clientId: 'atlassian-sync', clientSecret: 'kc-secret' });

const baseConfig = () => ({ kind: 'keycloak' as const, baseUrl: fake.baseUrl, realm: 'acme', clientId: 'atlassian-sync', clientSecret: 'kc-secret', pageSize: 3 });

describeSourceContract(() => ({
  name: 'Keycloak',
  fake,
  directory,
  seed: () => seedDirectory(directory, (n) => `kc-user-${n}`, (name) => `kc-group-${name}`),
  provider: 'keycloak',
  config: baseConfig,
  badConfig: () => ({ ...baseConfig(), clientSecret: 'nope' }),
  userListPath: /^\/admin\/realms\/acme\/users$/,
  memberPath: /\/groups\/[^/]+\/members$/,
  throttleOnce: () => {
    // Keycloak itself does not throttle; a proxy in front of it answers 503 with Retry-After.
    fake.server.queueStatus(1, 503, { path: /\/users$/ }, { 'Retry-After': '2' });
    return 2000;
  },
  externalIdOf: (n) => `kc-user-${n}`,
  userNameOf: (n) => `user${n}@example.com`,
}));

describe('Keycloak group tree', () => {
  const collect = async (source: KeycloakSource) => {
    const groups: SourceGroup[] = [];
    for await (const group of source.groups()) groups.push(group);
    return groups;
  };
  const members = async (source: KeycloakSource, id: string) => {
    const out: string[] = [];
    for await (const member of source.groupMembers(id)) out.push(member);
    return out.sort();
  };

  beforeAll(async () => {
    seedDirectory(directory, (n) => `kc-user-${n}`, (name) => `kc-group-${name}`);
    directory.addGroup({ id: 'kc-backend', name: 'backend', parentId: 'kc-group-engineering', members: ['kc-user-7'] });
    directory.addGroup({ id: 'kc-db', name: 'db', parentId: 'kc-backend', members: ['kc-user-6'] });
    await fake.start();
  });
  afterAll(() => fake.stop());

  for (const legacyTree of [false, true]) {
    test(`subgroups are listed by path and flattened into their parents (${legacyTree ? 'before Keycloak 23: whole tree' : 'Keycloak 23+: /children'})`, async () => {
      fake.options.legacyTree = legacyTree;
      const source = new KeycloakSource(parsePullConfig({ ...baseConfig(), pageSize: 2 }) as KeycloakPullConfig);
      const groups = await collect(source);
      expect(groups.map((g) => g.displayName).sort()).toEqual(['engineering', 'engineering/backend', 'engineering/backend/db', 'everyone', 'sales']);
      expect(await members(source, 'kc-group-engineering')).toEqual(['kc-user-1', 'kc-user-2', 'kc-user-3', 'kc-user-6', 'kc-user-7']);
      expect(await members(source, 'kc-backend')).toEqual(['kc-user-6', 'kc-user-7']);
    });
  }

  test('flattenSubgroups off: a group has only its direct members', async () => {
    fake.options.legacyTree = false;
    const source = new KeycloakSource(parsePullConfig({ ...baseConfig(), flattenSubgroups: false }) as KeycloakPullConfig);
    await collect(source);
    expect(await members(source, 'kc-group-engineering')).toEqual(['kc-user-1', 'kc-user-2', 'kc-user-3']);
  });
});

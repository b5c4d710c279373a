import { IdpDirectory } from '../fakes/idp/directory-data';
import { FakeMiniOrange } from '../fakes/idp/fake-miniorange';
import { describeSourceContract, seedDirectory } from './harness';
import { MINIORANGE_ENDPOINTS, MiniOrangeSource, miniOrangeSignature } from '../../src/sources/miniorange';
import { parsePullConfig, type MiniOrangePullConfig } from '../../src/sources/config';

/**
 * NOTE: the fake's list-users, list-groups and group-members endpoints implement what the connector
 * ASSUMES (MINIORANGE_ENDPOINTS; see docs/sources.md), not a documented miniOrange API. These tests prove
 * the connector keeps its own contract and the documented signature scheme, nothing more.
 */

const directory = new IdpDirectory();
seedDirectory(directory);
const fake = new FakeMiniOrange({ data: directory, customerKey: '241765', apiKey: 'mo-api-key-1' });

describeSourceContract(() => ({
  name: 'miniOrange',
  fake,
  directory,
  seed: () => seedDirectory(directory),
  provider: 'miniorange',
  config: () => ({ kind: 'miniorange', baseUrl: fake.baseUrl, customerKey: '241765', apiKey: 'mo-api-key-1', pageSize: 3 }),
  badConfig: () => ({ kind: 'miniorange', baseUrl: fake.baseUrl, customerKey: '241765', apiKey: 'not-the-key', pageSize: 3 }),
  userListPath: /\/moas\/api\/admin\/users\/list$/,
  memberPath: /\/moas\/api\/admin\/groups\/members$/,
  throttleOnce: () => {
    fake.server.queueRateLimit(1, 2, { path: /\/users\/list$/ });
    return 2000;
  },
  externalIdOf: (n) => `u${n}`,
  userNameOf: (n) => `user${n}@example.com`,
}));

describe('miniOrange specifics', () => {
  const config = (extra: Partial<MiniOrangePullConfig> = {}) =>
    parsePullConfig({ kind: 'miniorange', baseUrl: fake.baseUrl, customerKey: '241765', apiKey: 'mo-api-key-1', pageSize: 5, ...extra }) as MiniOrangePullConfig;

  beforeAll(async () => {
    seedDirectory(directory);
    await fake.start();
  });
  afterAll(() => fake.stop());
  beforeEach(() => {
    fake.server.clearLog();
    fake.server.clearFaults();
    fake.options.clockOffsetMs = 0;
  });

  test('the Authorization header is the documented lowercase hex SHA-512 of customerKey + timestamp + apiKey', () => {
    // sha512("1" + "2" + "3") computed independently
    expect(miniOrangeSignature('1', '2', '3')).toBe(
      '3c9909afec25354d551dae21590bb26e38d53f2173b8d3dc3eee4c047e7ab1c1eb8b85103e3be7ba613b31bb5c9c36214dc9f14a42fd7a2fdb84856bca5c44c2',
    );
    expect(miniOrangeSignature('1', '2', '3')).toMatch(/^[0-9a-f]{128}$/);
  });

  test('group calls carry Api-Key (as the Groups API guide lists), user calls do not', async () => {
    const source = new MiniOrangeSource(config());
    const groups = [];
    for await (const group of source.groups()) groups.push(group);
    expect(groups).toHaveLength(3);
    await source.testConnection();
    // the fake refuses group calls without Api-Key, so listing them proves the header was sent
    expect(fake.server.log.every((entry) => entry.status === 200)).toBe(true);
  });

  test('a clock the server disagrees with is refused unless useServerTime signs with the server clock', async () => {
    fake.options.clockOffsetMs = 10 * 60_000;
    await expect(new MiniOrangeSource(config()).testConnection()).rejects.toThrow(/authentication failed \(401\)/);
    const check = await new MiniOrangeSource(config({ useServerTime: true })).testConnection();
    expect(check.ok).toBe(true);
    expect(fake.server.log.some((entry) => entry.path === MINIORANGE_ENDPOINTS.serverTime)).toBe(true);
  });

  test('endpoint paths are configurable per connection', async () => {
    const source = new MiniOrangeSource(config({ endpoints: { listUsers: '/custom/users/list' } }));
    await expect(source.testConnection()).rejects.toThrow(/\/custom\/users\/list: answered 404/);
  });

  test('an ERROR status in a 200 body is a failure with miniOrange\'s message', async () => {
    const source = new MiniOrangeSource(config());
    const members = source.groupMembers('no-such-group');
    await expect((async () => { for await (const _ of members) void _; })()).rejects.toThrow(/miniOrange answered ERROR — Group not found/);
  });
});

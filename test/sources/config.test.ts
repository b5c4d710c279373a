import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { TEST_ENCRYPTION_KEYS } from '../helpers/runtime';
import { SecretBox } from '../../src/security/crypto';
import { describePullConfig, parsePullConfig, PullConfigError, readPullConfig, savePullConfig } from '../../src/sources/config';
import { createConnection } from './harness';

describe('pull configuration', () => {
  let testDb: TestDatabase;
  const secrets = SecretBox.fromKeyList(TEST_ENCRYPTION_KEYS);

  beforeAll(async () => {
    testDb = await createTestDatabase();
  });
  afterAll(() => testDb.destroy());

  test('is stored sealed and read back with its defaults', async () => {
    const id = await createConnection(testDb.db, 'okta');
    await savePullConfig(testDb.db, secrets, id, { kind: 'okta', baseUrl: 'https://acme.okta.com/', apiToken: '00-very-secret-token' });
    const { rows } = await testDb.db.query<{ pull_kind: string; pull_config_sealed: string }>('SELECT pull_kind, pull_config_sealed FROM connections WHERE id = $1', [id]);
    expect(rows[0]!.pull_kind).toBe('okta');
    expect(rows[0]!.pull_config_sealed).toMatch(/^v1\./);
    expect(rows[0]!.pull_config_sealed).not.toContain('very-secret');
    expect(await readPullConfig(testDb.db, secrets, id)).toEqual({ kind: 'okta', baseUrl: 'https://acme.okta.com', apiToken: '00-very-secret-token', pageSize: 200 });
  });

  test('an update without the secret keeps the stored one; removing the config makes the connection push-only', async () => {
    const id = await createConnection(testDb.db, 'entra');
    await savePullConfig(testDb.db, secrets, id, { kind: 'entra', tenantId: 't', clientId: 'c', clientSecret: 's3cret' });
    await savePullConfig(testDb.db, secrets, id, { kind: 'entra', tenantId: 't', clientId: 'c', clientSecret: '', pageSize: 500 });
    expect(await readPullConfig(testDb.db, secrets, id)).toMatchObject({ clientSecret: 's3cret', pageSize: 500, graphBaseUrl: 'https://graph.microsoft.com' });
    await savePullConfig(testDb.db, secrets, id, null);
    expect(await readPullConfig(testDb.db, secrets, id)).toBeNull();
  });

  test('invalid input names every problem and never echoes a secret', () => {
    let error: unknown;
    try {
      parsePullConfig({ kind: 'keycloak', baseUrl: 'ftp://sso', realm: '', clientId: 'x', clientSecret: 'hunter2', pageSize: 0 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PullConfigError);
    const problems = (error as PullConfigError).problems.join(' | ');
    expect(problems).toMatch(/baseUrl/);
    expect(problems).toMatch(/realm/);
    expect(problems).toMatch(/pageSize/);
    expect(problems).not.toContain('hunter2');
    expect(() => parsePullConfig({ kind: 'ldap' })).toThrow(PullConfigError);
  });

  test('the admin view masks secrets', () => {
    const shown = describePullConfig(parsePullConfig({ kind: 'scim', baseUrl: 'https://idp.example/scim/v2', bearerToken: 'tok-123' }));
    expect(JSON.stringify(shown)).not.toContain('tok-123');
    expect(shown.baseUrl).toBe('https://idp.example/scim/v2');
  });
});

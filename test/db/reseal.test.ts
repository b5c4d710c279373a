import { randomBytes } from 'node:crypto';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../helpers/database';
import { SecretBox } from '../../src/security/crypto';
import { resealAll, SEALED_COLUMNS } from '../../src/security/reseal';
import { TenantStore } from '../../src/connect/tenants';
import { ConnectionService } from '../../src/connections/service';
import { TargetStore } from '../../src/targets/store';
import { readPullConfig, savePullConfig } from '../../src/sources/config';

const key = () => randomBytes(32).toString('base64');

describe(`key rotation re-seals every sealed column (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(() => t.destroy());

  it('moves tenants, targets and pull configs to the new primary key, and nothing else changes', async () => {
    const oldKey = key();
    const before = SecretBox.fromKeyList(`old:${oldKey}`);
    const { tenant } = await new TenantStore(t.db, before).createLocal({ clientKey: 'rotate', baseUrl: 'https://rotate.atlassian.net', sharedSecret: 'shh' });
    const { connection } = await new ConnectionService(t.db, { baseUrl: 'https://app.example.test', tokenGraceSeconds: 60 }).create({
      tenantClientKey: 'rotate',
      name: 'IdP',
      provider: 'okta',
    });
    await savePullConfig(t.db, before, connection.id, { kind: 'okta', baseUrl: 'https://acme.okta.com', apiToken: 'okta-secret' });
    const target = await new TargetStore(t.db, before).create(tenant.id, {
      kind: 'jira-cloud',
      name: 'Jira',
      baseUrl: 'https://rotate.atlassian.net',
      credentials: { email: 'admin@rotate.test', apiToken: 'jira-secret' },
    });

    const newKey = key();
    const after = SecretBox.fromKeyList(`new:${newKey},old:${oldKey}`);
    const counts = await resealAll(t.db, after);
    expect(counts).toEqual({ 'tenants.shared_secret_sealed': 1, 'targets.credentials_sealed': 1, 'connections.pull_config_sealed': 1 });
    for (const { table, column } of SEALED_COLUMNS) {
      const { rows } = await t.db.query<{ sealed: string }>(`SELECT ${column} AS sealed FROM ${table} WHERE ${column} IS NOT NULL`);
      expect(rows.every((r) => r.sealed.startsWith('v1.new.'))).toBe(true);
    }
    // The old key can now be dropped: the new key alone opens everything.
    const onlyNew = SecretBox.fromKeyList(`new:${newKey}`);
    expect((await new TenantStore(t.db, onlyNew).clientInfo('rotate'))?.sharedSecret).toBe('shh');
    expect(await readPullConfig(t.db, onlyNew, connection.id)).toMatchObject({ kind: 'okta', apiToken: 'okta-secret' });
    expect((await new TargetStore(t.db, onlyNew).definition(tenant.id, target.id)).credentials).toMatchObject({ apiToken: 'jira-secret' });

    expect(await resealAll(t.db, after)).toEqual({ 'tenants.shared_secret_sealed': 0, 'targets.credentials_sealed': 0, 'connections.pull_config_sealed': 0 });
  });
});

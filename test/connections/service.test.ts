import { TenantStore } from '../../src/connect/tenants';
import { ConnectionError, ConnectionService } from '../../src/connections/service';
import { hashToken, SecretBox } from '../../src/security/crypto';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../helpers/database';
import { TEST_ENCRYPTION_KEYS } from '../helpers/runtime';

describe(`connections and SCIM tokens (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  let t: TestDatabase;
  let service: ConnectionService;
  let tenants: TenantStore;

  beforeAll(async () => {
    t = await createTestDatabase();
    service = new ConnectionService(t.db, { baseUrl: 'https://sync.example.com', tokenGraceSeconds: 3600 });
    tenants = new TenantStore(t.db, SecretBox.fromKeyList(TEST_ENCRYPTION_KEYS));
  }, 60_000);
  beforeEach(async () => {
    await t.truncate();
    await tenants.createLocal({ clientKey: 'site-a', baseUrl: 'https://a.atlassian.net' });
    await tenants.createLocal({ clientKey: 'site-b', baseUrl: 'https://b.atlassian.net' });
  });
  afterAll(async () => {
    await t.destroy();
  });

  const code = async (work: Promise<unknown>) => {
    try {
      await work;
    } catch (error) {
      if (error instanceof ConnectionError) return error.code;
      throw error;
    }
    return 'resolved';
  };

  it('creates several connections per tenant, each with its own SCIM base URL and a 256-bit token stored only as a hash', async () => {
    const entra = await service.create({ tenantClientKey: 'site-a', name: 'Entra', provider: 'entra' });
    const okta = await service.create({ tenantClientKey: 'site-a', name: 'Okta', provider: 'okta' });
    expect(entra.connection.scimBaseUrl).toBe(`https://sync.example.com/scim/v2/${entra.connection.id}`);
    expect(entra.connection.id).not.toBe(okta.connection.id);
    expect(Buffer.from(entra.token, 'base64url')).toHaveLength(32);
    const { rows } = await t.db.query<{ token_hash: string }>('SELECT token_hash FROM connection_tokens');
    expect(rows.map((r) => r.token_hash).sort()).toEqual([hashToken(entra.token), hashToken(okta.token)].sort());
    expect(JSON.stringify(rows)).not.toContain(entra.token);
    expect((await service.list({ tenantClientKey: 'site-a' })).map((c) => c.name)).toEqual(['Entra', 'Okta']);
    expect(await service.list({ tenantClientKey: 'site-b' })).toEqual([]);
  });

  it('refuses unknown tenants, duplicate names, bad names and unknown providers', async () => {
    await service.create({ tenantClientKey: 'site-a', name: 'Entra', provider: 'entra' });
    expect(await code(service.create({ tenantClientKey: 'nope', name: 'x', provider: 'entra' }))).toBe('not_found');
    expect(await code(service.create({ tenantClientKey: 'site-a', name: 'Entra', provider: 'okta' }))).toBe('conflict');
    expect(await code(service.create({ tenantClientKey: 'site-b', name: 'Entra', provider: 'okta' }))).toBe('resolved');
    expect(await code(service.create({ tenantClientKey: 'site-a', name: '  ', provider: 'okta' }))).toBe('invalid');
    expect(await code(service.create({ tenantClientKey: 'site-a', name: 'x', provider: 'azure' as never }))).toBe('invalid');
    await tenants.markUninstalled('site-b');
    expect(await code(service.create({ tenantClientKey: 'site-b', name: 'y', provider: 'okta' }))).toBe('not_found');
  });

  it('authenticates a token only for its own connection', async () => {
    const a = await service.create({ tenantClientKey: 'site-a', name: 'A', provider: 'generic' });
    const b = await service.create({ tenantClientKey: 'site-a', name: 'B', provider: 'generic' });
    expect(await service.authenticate(a.connection.id, a.token)).toMatchObject({ connectionId: a.connection.id, provider: 'generic' });
    expect(await service.authenticate(b.connection.id, a.token)).toBeNull();
    expect(await service.authenticate(a.connection.id, `${a.token}x`)).toBeNull();
    expect(await service.authenticate(a.connection.id, '')).toBeNull();
    expect(await service.authenticate('not-a-uuid', a.token)).toBeNull();
  });

  it('records when a token was last used, at most once a minute', async () => {
    const a = await service.create({ tenantClientKey: 'site-a', name: 'A', provider: 'generic' });
    await service.authenticate(a.connection.id, a.token);
    const [first] = await service.listTokens(a.connection.id);
    expect(first!.lastUsedAt).toBeInstanceOf(Date);
    await service.authenticate(a.connection.id, a.token);
    const [second] = await service.listTokens(a.connection.id);
    expect(second!.lastUsedAt).toEqual(first!.lastUsedAt);
  });

  it('rotates: the old token lives for the grace period, then only the new one works', async () => {
    const a = await service.create({ tenantClientKey: 'site-a', name: 'A', provider: 'entra' });
    const rotated = await service.rotateToken(a.connection.id);
    expect(rotated.previousTokensExpireAt.getTime()).toBeGreaterThan(Date.now() + 3500_000);
    expect(await service.authenticate(a.connection.id, a.token)).not.toBeNull();
    expect(await service.authenticate(a.connection.id, rotated.token)).not.toBeNull();
    // A second rotation never extends an earlier deadline, and grace 0 ends the old tokens now.
    const again = await service.rotateToken(a.connection.id, { graceSeconds: 0 });
    expect(await service.authenticate(a.connection.id, a.token)).toBeNull();
    expect(await service.authenticate(a.connection.id, rotated.token)).toBeNull();
    expect(await service.authenticate(a.connection.id, again.token)).not.toBeNull();
    expect((await service.listTokens(a.connection.id)).map((tk) => tk.active)).toEqual([false, false, true]);
    expect(await code(service.rotateToken(a.connection.id, { graceSeconds: -1 }))).toBe('invalid');
  });

  it('revokes one token or all of them at once', async () => {
    const a = await service.create({ tenantClientKey: 'site-a', name: 'A', provider: 'okta' });
    const second = await service.rotateToken(a.connection.id);
    const [firstToken] = await service.listTokens(a.connection.id);
    expect(await service.revokeTokens(a.connection.id, firstToken!.id)).toBe(1);
    expect(await service.authenticate(a.connection.id, a.token)).toBeNull();
    expect(await service.authenticate(a.connection.id, second.token)).not.toBeNull();
    expect(await service.revokeTokens(a.connection.id)).toBe(1);
    expect(await service.authenticate(a.connection.id, second.token)).toBeNull();
  });

  it('refuses every token of an uninstalled tenant, and accepts them again after a reinstall', async () => {
    const a = await service.create({ tenantClientKey: 'site-a', name: 'A', provider: 'okta' });
    await tenants.markUninstalled('site-a');
    expect(await service.authenticate(a.connection.id, a.token)).toBeNull();
    await tenants.saveInstall({ key: 'app', clientKey: 'site-a', sharedSecret: 's', baseUrl: 'https://a.atlassian.net' });
    expect(await service.authenticate(a.connection.id, a.token)).not.toBeNull();
  });

  it('renames and deletes, deleting tokens and the directory with it', async () => {
    const a = await service.create({ tenantClientKey: 'site-a', name: 'A', provider: 'okta' });
    await service.create({ tenantClientKey: 'site-a', name: 'B', provider: 'okta' });
    expect((await service.rename(a.connection.id, 'Renamed')).name).toBe('Renamed');
    expect(await code(service.rename(a.connection.id, 'B'))).toBe('conflict');
    await t.db.query("INSERT INTO directory_users (connection_id, user_name, resource) VALUES ($1, 'u', '{}')", [a.connection.id]);
    expect(await service.delete(a.connection.id)).toBe(true);
    expect(await service.delete(a.connection.id)).toBe(false);
    expect(await service.get(a.connection.id)).toBeNull();
    const { rows } = await t.db.query<{ n: number }>('SELECT (SELECT count(*) FROM directory_users) + (SELECT count(*) FROM connection_tokens WHERE connection_id = $1) AS n', [a.connection.id]);
    expect(rows[0]!.n).toBe(0);
    expect(await code(service.rotateToken(a.connection.id))).toBe('not_found');
  });
});

import request from 'supertest';
import { generateKeyPairSync } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { testApp } from '../helpers/runtime';
import { installPayload, signLifecycle, startKeyServer, type KeyServer } from '../helpers/connect';
import { mintContextJwt } from '../../src/connect/jwt';
import type { App } from '../../src/app';

const BASE_URL = 'https://app.example.test';

describe('Connect lifecycle and page authentication', () => {
  let t: TestDatabase;
  let keys: KeyServer;
  let app: App;

  beforeAll(async () => {
    t = await createTestDatabase();
    keys = await startKeyServer();
    app = await testApp(t.db, { APP_BASE_URL: BASE_URL, CONNECT_KEYS_CDN_URL: keys.url });
  });
  afterAll(async () => {
    await keys.close();
    await t.destroy();
  });
  beforeEach(() => t.truncate());

  // Page tokens are ACE's: 401 for missing/expired/mismatched tokens, 400 when a signature does not verify.
  // Lifecycle callbacks are ours (src/connect/lifecycle.ts): every refusal is a 401.
  const rejected = (res: request.Response) => expect([400, 401]).toContain(res.status);

  const install = (body: object, token: string) =>
    request(app.app).post('/installed').set('Authorization', `JWT ${token}`).send(body);

  const signed = (clientKey: string, overrides: Partial<Parameters<typeof signLifecycle>[0]> = {}) =>
    signLifecycle({ privateKey: keys.privateKey, kid: keys.kid, clientKey, audience: BASE_URL, path: '/installed', ...overrides });

  it('serves the descriptor with signed install and context-qsh switched on', async () => {
    const res = await request(app.app).get('/atlassian-connect.json').expect(200);
    expect(res.body.baseUrl).toBe(BASE_URL);
    expect(res.body.apiMigrations).toMatchObject({ 'signed-install': true, 'context-qsh': true });
    expect(res.body.lifecycle).toEqual({ installed: '/installed', uninstalled: '/uninstalled' });
    expect(res.body.modules.adminPages[0].url).toBe('/admin');
  });

  it('accepts a signed install and keeps the tenant with its secret sealed', async () => {
    await install(installPayload('client-a', 'secret-a'), signed('client-a')).expect(204);
    const tenant = await app.tenants.findByClientKey('client-a');
    expect(tenant).toMatchObject({ clientKey: 'client-a', baseUrl: 'https://acme.atlassian.net', uninstalledAt: null });
    const { rows } = await t.db.query<{ row: string }>('SELECT row_to_json(tenants)::text AS row FROM tenants');
    expect(rows[0]!.row).not.toContain('secret-a');
    expect((await app.tenants.clientInfo('client-a'))?.sharedSecret).toBe('secret-a');
  });

  it('rejects an install signed with a key Atlassian did not publish', async () => {
    const forger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const res = await install(installPayload('client-a', 's'), signed('client-a', { privateKey: forger })).expect(401);
    expect(res.body.message).toMatch(/signature does not verify/);
    expect(await app.tenants.findByClientKey('client-a')).toBeNull();
  });

  it.each(['../../admin', 'a/../../b', 'x?redirect=http://169.254.169.254', '@evil.example/k', 'k#frag', '%2e%2e/k'])(
    'refuses an install whose key id %s would steer the key fetch elsewhere, before any fetch',
    async (kid) => {
      const before = keys.requested.length;
      const res = await install(installPayload('client-a', 's'), signed('client-a', { kid })).expect(401);
      expect(res.body.message).toMatch(/key id/);
      expect(keys.requested.length).toBe(before);
      expect(await app.tenants.findByClientKey('client-a')).toBeNull();
    },
  );

  it('rejects an expired install', async () => {
    await install(installPayload('client-a', 's'), signed('client-a', { expiresInSeconds: -60 })).expect(401);
    expect(await app.tenants.findByClientKey('client-a')).toBeNull();
  });

  it('rejects an install for another app (wrong audience)', async () => {
    await install(installPayload('client-a', 's'), signed('client-a', { audience: 'https://other-app.example' })).expect(401);
    expect(await app.tenants.findByClientKey('client-a')).toBeNull();
  });

  it('rejects an install whose body names another tenant than the token', async () => {
    await install(installPayload('client-b', 's'), signed('client-a')).expect(401);
    expect(await app.tenants.findByClientKey('client-b')).toBeNull();
  });

  it('rejects an unsigned install and one from a host outside the allowlist', async () => {
    await request(app.app).post('/installed').send(installPayload('client-a', 's')).expect(401);
    await install(installPayload('client-a', 's'), 'not-a-jwt').expect(401);
    const symmetric = mintContextJwt({ clientKey: 'client-a', sharedSecret: 's', accountId: 'a', method: 'POST', url: '/installed' });
    await install(installPayload('client-a', 's'), symmetric).expect(401);
    await install(installPayload('client-a', 's', 'https://evil.example.com'), signed('client-a')).expect(401);
    expect(await app.tenants.findByClientKey('client-a')).toBeNull();
  });

  it('takes the new shared secret on reinstall: old tokens stop working, new ones work', async () => {
    await install(installPayload('client-a', 'first-secret'), signed('client-a')).expect(204);
    await install(installPayload('client-a', 'second-secret'), signed('client-a')).expect(204);
    expect((await app.tenants.clientInfo('client-a'))?.sharedSecret).toBe('second-secret');
    const page = (secret: string) =>
      mintContextJwt({ clientKey: 'client-a', sharedSecret: secret, accountId: 'admin-1', method: 'GET', url: '/admin' });
    rejected(await request(app.app).get('/admin').query({ jwt: page('first-secret') }));
    await request(app.app).get('/admin').query({ jwt: page('second-secret') }).expect(200);
  });

  it('marks the tenant uninstalled on a signed uninstall and then refuses its page tokens', async () => {
    await install(installPayload('client-a', 'secret-a'), signed('client-a')).expect(204);
    await request(app.app)
      .post('/uninstalled')
      .set('Authorization', `JWT ${signed('client-a', { path: '/uninstalled' })}`)
      .send({ ...installPayload('client-a', 'secret-a'), eventType: 'uninstalled' })
      .expect(204);
    const tenant = await app.tenants.findByClientKey('client-a');
    expect(tenant?.uninstalledAt).toBeInstanceOf(Date);
    const token = mintContextJwt({ clientKey: 'client-a', sharedSecret: 'secret-a', accountId: 'admin-1', method: 'GET', url: '/admin' });
    await request(app.app).get('/admin').query({ jwt: token }).expect(401);
  });

  it('refuses an uninstall that is not signed by Atlassian', async () => {
    await install(installPayload('client-a', 'secret-a'), signed('client-a')).expect(204);
    await request(app.app).post('/uninstalled').send(installPayload('client-a', 'secret-a')).expect(401);
    expect((await app.tenants.findByClientKey('client-a'))?.uninstalledAt).toBeNull();
  });

  it('serves an admin page for a valid context JWT and refuses a missing, forged or mismatched one', async () => {
    await install(installPayload('client-a', 'secret-a'), signed('client-a')).expect(204);
    const valid = mintContextJwt({ clientKey: 'client-a', sharedSecret: 'secret-a', accountId: 'admin-1', method: 'GET', url: '/admin' });
    const res = await request(app.app).get('/admin').query({ jwt: valid }).expect(200);
    expect(res.text).toContain('https://acme.atlassian.net');

    await request(app.app).get('/admin').expect(401);
    const forged = mintContextJwt({ clientKey: 'client-a', sharedSecret: 'guessed', accountId: 'admin-1', method: 'GET', url: '/admin' });
    rejected(await request(app.app).get('/admin').query({ jwt: forged }));
    const otherPage = mintContextJwt({ clientKey: 'client-a', sharedSecret: 'secret-a', accountId: 'admin-1', method: 'GET', url: '/elsewhere' });
    await request(app.app).get('/admin').query({ jwt: otherPage }).expect(401);
    const expired = mintContextJwt({
      clientKey: 'client-a', sharedSecret: 'secret-a', accountId: 'admin-1', method: 'GET', url: '/admin', lifetimeSeconds: -10,
    });
    await request(app.app).get('/admin').query({ jwt: expired }).expect(401);
    const unknownTenant = mintContextJwt({ clientKey: 'nobody', sharedSecret: 'x', accountId: 'admin-1', method: 'GET', url: '/admin' });
    await request(app.app).get('/admin').query({ jwt: unknownTenant }).expect(401);
  });
});

import request from 'supertest';
import { generateKeyPairSync } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { silentLogger, testConfig } from '../helpers/runtime';
import { installPayload, signLifecycle, startKeyServer, type KeyServer } from '../helpers/connect';
import { mintContextJwt } from '../../src/connect/jwt';
import { createApp, type App } from '../../src/app';
import { SecretBox } from '../../src/security/crypto';
import { ConnectStoreAdapter } from '../../src/connect/store';

const BASE_URL = 'https://app.example.test';
const INSTALLATION_ID = 'ari:cloud:ecosystem::installation/3b0f6f5e-6b0a-4a5e-9d43-2a7c1e0c9d11';

/**
 * A Connect-on-Forge install (manifest.yml deployed with `forge deploy`, installed with `forge install`) posts the
 * same signed /installed as plain Connect, plus `installationId`. The signature checks must not change; the
 * installation id must be kept with the tenant and shown in diagnostics.
 */
describe('Connect on Forge install and uninstall', () => {
  let t: TestDatabase;
  let keys: KeyServer;
  let app: App;

  beforeAll(async () => {
    t = await createTestDatabase();
    keys = await startKeyServer();
    const config = testConfig({ APP_BASE_URL: BASE_URL, CONNECT_KEYS_CDN_URL: keys.url, DEV_HOST_ENABLED: 'false' });
    app = createApp({
      config,
      db: t.db,
      logger: silentLogger(),
      secrets: SecretBox.fromKeyList(config.encryptionKeys!),
      // The Jira permission call is not what this suite is about: every caller with a valid token is an admin.
      web: { adminCheck: { isAdmin: async () => true } },
    });
    await app.ready;
  });
  afterAll(async () => {
    await keys.close();
    await t.destroy();
  });
  beforeEach(() => t.truncate());

  const forgePayload = (clientKey: string, secret: string) => ({ ...installPayload(clientKey, secret), installationId: INSTALLATION_ID });
  const signed = (clientKey: string, path: '/installed' | '/uninstalled' = '/installed', privateKey = keys.privateKey) =>
    signLifecycle({ privateKey, kid: keys.kid, clientKey, audience: BASE_URL, path });
  const install = (body: object, token: string) => request(app.app).post('/installed').set('Authorization', `JWT ${token}`).send(body);
  const pageToken = (clientKey: string, secret: string) =>
    mintContextJwt({ clientKey, sharedSecret: secret, accountId: 'admin-1', method: 'GET', url: '/admin' });
  const me = (clientKey: string, secret: string) =>
    request(app.app)
      .get('/api/me')
      .set('authorization', `JWT ${mintContextJwt({ clientKey, sharedSecret: secret, accountId: 'admin-1', method: 'GET', url: '/', qsh: 'context' })}`);

  it('accepts a signed Connect-on-Forge install and keeps its Forge installation id with the tenant', async () => {
    await install(forgePayload('client-f', 'secret-f'), signed('client-f')).expect(204);
    const tenant = await app.tenants.findByClientKey('client-f');
    expect(tenant).toMatchObject({ clientKey: 'client-f', forgeInstallationId: INSTALLATION_ID, uninstalledAt: null });
    expect((await app.tenants.list()).map((x) => x.forgeInstallationId)).toEqual([INSTALLATION_ID]);
    await request(app.app).get('/admin').query({ jwt: pageToken('client-f', 'secret-f') }).expect(200);
  });

  it('shows the install flavour and the Forge installation id in the admin diagnostics', async () => {
    await install(forgePayload('client-f', 'secret-f'), signed('client-f')).expect(204);
    await install(installPayload('client-c', 'secret-c'), signed('client-c')).expect(204);
    const forge = await me('client-f', 'secret-f').expect(200);
    expect(forge.body.installation).toEqual({ flavour: 'connect-on-forge', forgeInstallationId: INSTALLATION_ID });
    const plain = await me('client-c', 'secret-c').expect(200);
    expect(plain.body.installation).toEqual({ flavour: 'connect', forgeInstallationId: null });
  });

  it('lets ACE find the tenant from the Forge installation id (Forge remote calls)', async () => {
    await install(forgePayload('client-f', 'secret-f'), signed('client-f')).expect(204);
    const store = new ConnectStoreAdapter(t.db, app.tenants);
    const info = (await store.getClientSettingsForForgeInstallation(INSTALLATION_ID)) as { clientKey: string; sharedSecret: string };
    expect(info).toMatchObject({ clientKey: 'client-f', sharedSecret: 'secret-f' });
  });

  it('verifies a Connect-on-Forge install exactly like a Connect one: forged, unsigned and foreign ones are refused', async () => {
    const forger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect([400, 401]).toContain((await install(forgePayload('client-f', 's'), signed('client-f', '/installed', forger))).status);
    await request(app.app).post('/installed').send(forgePayload('client-f', 's')).expect(401);
    await install(forgePayload('client-other', 's'), signed('client-f')).expect(401);
    await install({ ...forgePayload('client-f', 's'), baseUrl: 'https://evil.example.com' }, signed('client-f')).expect(401);
    expect(await app.tenants.list()).toEqual([]);
  });

  it('on uninstall stops the tenant\'s secret working and forgets the Forge association', async () => {
    await install(forgePayload('client-f', 'secret-f'), signed('client-f')).expect(204);
    await request(app.app)
      .post('/uninstalled')
      .set('Authorization', `JWT ${signed('client-f', '/uninstalled')}`)
      .send({ ...forgePayload('client-f', 'secret-f'), eventType: 'uninstalled' })
      .expect(204);
    expect((await app.tenants.findByClientKey('client-f'))?.uninstalledAt).toBeInstanceOf(Date);
    expect(await app.tenants.clientInfo('client-f')).toBeNull();
    await request(app.app).get('/admin').query({ jwt: pageToken('client-f', 'secret-f') }).expect(401);
    const store = new ConnectStoreAdapter(t.db, app.tenants);
    expect(await store.getClientSettingsForForgeInstallation(INSTALLATION_ID)).toBeNull();
  });

  it('refuses an unsigned Connect-on-Forge uninstall', async () => {
    await install(forgePayload('client-f', 'secret-f'), signed('client-f')).expect(204);
    await request(app.app).post('/uninstalled').send({ ...forgePayload('client-f', 'secret-f'), eventType: 'uninstalled' }).expect(401);
    expect((await app.tenants.findByClientKey('client-f'))?.uninstalledAt).toBeNull();
  });

  it('follows the latest install: a plain Connect reinstall clears the Forge id, a Forge one sets it again', async () => {
    await install(forgePayload('client-f', 'one'), signed('client-f')).expect(204);
    await install(installPayload('client-f', 'two'), signed('client-f')).expect(204);
    expect((await app.tenants.findByClientKey('client-f'))?.forgeInstallationId).toBeNull();
    await install(forgePayload('client-f', 'three'), signed('client-f')).expect(204);
    expect((await app.tenants.findByClientKey('client-f'))?.forgeInstallationId).toBe(INSTALLATION_ID);
    expect((await app.tenants.clientInfo('client-f'))?.sharedSecret).toBe('three');
    // An explicit null is a plain Connect install too, not a failed one.
    await install({ ...installPayload('client-f', 'four'), installationId: null }, signed('client-f')).expect(204);
    expect((await app.tenants.findByClientKey('client-f'))?.forgeInstallationId).toBeNull();
  });
});

import request from 'supertest';
import type { Router } from 'express';
import { mintContextJwt } from '../../src/connect/jwt';
import { createAdminApi } from '../../src/web/api';
import { JiraAdminCheck, type AdminCheck, type AdminIdentity } from '../../src/web/auth';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { silentLogger, testConfig } from '../helpers/runtime';
import { createApp, type App } from '../../src/app';
import type { Config } from '../../src/config';
import { SecretBox } from '../../src/security/crypto';
import { FakeAtlassianAuth } from './fakes/fake-atlassian-auth';

jest.setTimeout(120_000);

/** Every route of the API router as [method, path], read from Express itself so no route can be left out. */
function apiRoutes(router: Router): Array<[string, string]> {
  const routes: Array<[string, string]> = [];
  for (const layer of router.stack as Array<{ route?: { path: string; methods: Record<string, boolean> } }>) {
    if (!layer.route) continue;
    for (const method of Object.keys(layer.route.methods)) routes.push([method, layer.route.path]);
  }
  return routes;
}

const SOME_ID = '00000000-0000-4000-8000-000000000000';
const concrete = (path: string) => path.replace(/:[A-Za-z]+/g, (param) => (param === ':section' ? 'user' : SOME_ID));

describe('admin API authentication and authorisation', () => {
  let tdb: TestDatabase;
  let app: App & { config: Config; secrets: SecretBox };
  let checker: AdminCheck;
  let routes: Array<[string, string]>;
  let sharedSecret: string;
  const delegate: AdminCheck = { isAdmin: (identity: AdminIdentity) => checker.isAdmin(identity) };

  beforeAll(async () => {
    tdb = await createTestDatabase();
    const config = testConfig();
    const secrets = SecretBox.fromKeyList(config.encryptionKeys!);
    app = { ...createApp({ config, db: tdb.db, logger: silentLogger(), secrets, web: { adminCheck: delegate } }), config, secrets };
    await app.ready;
    sharedSecret = (await app.tenants.createLocal({ clientKey: 'tenant-a', baseUrl: 'https://a.example.test' })).sharedSecret;
    routes = apiRoutes(createAdminApi({ ...app, config: app.config, db: tdb.db, logger: silentLogger(), secrets: app.secrets, tenants: app.tenants, adminCheck: delegate, jobs: {} as never }));
  });

  afterAll(async () => {
    await tdb.destroy();
  });

  const call = (method: string, path: string) => (request(app.app) as unknown as Record<string, (url: string) => request.Test>)[method]!(`/api${path}`);
  const token = (overrides: Partial<Parameters<typeof mintContextJwt>[0]> = {}) =>
    mintContextJwt({ clientKey: 'tenant-a', sharedSecret, accountId: 'user-1', method: 'GET', url: '/', qsh: 'context', ...overrides });

  it('finds the routes it checks from the router itself', () => {
    const paths = routes.map(([m, p]) => `${m.toUpperCase()} ${p}`);
    expect(paths).toEqual(expect.arrayContaining(['GET /connections', 'POST /connections', 'PUT /connections/:connectionId/settings', 'POST /connections/:connectionId/sync', 'GET /runs/:runId/ops.csv', 'POST /targets']));
    expect(routes.length).toBeGreaterThan(30);
  });

  it('answers 401 on every route without a JWT, with a forged one, an expired one, one with an implausible lifetime, or one of an unknown tenant', async () => {
    checker = { isAdmin: async () => true };
    const invalid = [
      undefined,
      token({ sharedSecret: 'guessed' }),
      token({ lifetimeSeconds: -5 }),
      // Valid signature, but a lifetime no context token has (Atlassian's live minutes): refused.
      token({ lifetimeSeconds: 2 * 3600 }),
      token({ clientKey: 'nobody' }),
      token({ qsh: 'request', url: '/elsewhere' }),
    ];
    for (const [method, path] of routes) {
      for (const jwt of invalid) {
        const req = call(method, concrete(path));
        if (jwt) req.set('authorization', `JWT ${jwt}`);
        const res = await req.send({});
        expect({ route: `${method} ${path}`, jwt: Boolean(jwt), status: res.status }).toEqual({ route: `${method} ${path}`, jwt: Boolean(jwt), status: 401 });
      }
    }
  });

  it('answers 403 on every route for a valid JWT of a user who is not a Jira administrator', async () => {
    checker = { isAdmin: async () => false };
    for (const [method, path] of routes) {
      const res = await call(method, concrete(path)).set('authorization', `JWT ${token()}`).send({});
      expect({ route: `${method} ${path}`, status: res.status }).toEqual({ route: `${method} ${path}`, status: 403 });
    }
    // And the same token passes once the user is an admin.
    checker = { isAdmin: async () => true };
    await call('get', '/connections').set('authorization', `JWT ${token()}`).expect(200);
  });

  it('does not accept the JWT in the query string (it would be logged)', async () => {
    checker = { isAdmin: async () => true };
    await request(app.app).get('/api/connections').query({ jwt: token() }).expect(401);
  });

  describe('JiraAdminCheck (OAuth 2.0 JWT bearer grant + mypermissions, against a loopback fake)', () => {
    let fake: FakeAtlassianAuth;
    let connectSecret: string;
    let now = Date.now();

    beforeAll(async () => {
      connectSecret = 'connect-shared-secret';
      fake = new FakeAtlassianAuth('oauth-client-1', connectSecret);
      await fake.start();
      fake.admins.add('jira-admin');
      await app.tenants.saveInstall({ key: 'k', clientKey: 'tenant-c', sharedSecret: connectSecret, baseUrl: fake.url, productType: 'jira', oauthClientId: 'oauth-client-1' } as never);
      checker = new JiraAdminCheck({ oauthServerUrl: fake.url, cacheMs: 60_000, isProduction: false, now: () => now });
    });

    afterAll(() => fake.stop());

    const connectToken = (accountId: string) =>
      mintContextJwt({ clientKey: 'tenant-c', sharedSecret: connectSecret, accountId, method: 'GET', url: '/', qsh: 'context' });

    it('lets a Jira administrator in and keeps others out, asking Jira as the user', async () => {
      await call('get', '/connections').set('authorization', `JWT ${connectToken('jira-admin')}`).expect(200);
      await call('get', '/connections').set('authorization', `JWT ${connectToken('ordinary-user')}`).expect(403);
      expect(fake.tokenRequests).toBe(2);
      expect(fake.permissionRequests).toBe(2);
    });

    it('caches each answer per tenant and account for the configured time', async () => {
      const before = fake.permissionRequests;
      await call('get', '/me').set('authorization', `JWT ${connectToken('jira-admin')}`).expect(200);
      await call('get', '/me').set('authorization', `JWT ${connectToken('ordinary-user')}`).expect(403);
      expect(fake.permissionRequests).toBe(before);
      fake.admins.add('ordinary-user');
      now += 61_000;
      await call('get', '/me').set('authorization', `JWT ${connectToken('ordinary-user')}`).expect(200);
      expect(fake.permissionRequests).toBe(before + 1);
    });

    it('answers 503 (never yes) when the authorization server fails', async () => {
      now += 61_000;
      fake.tokenFailure = 500;
      const res = await call('get', '/me').set('authorization', `JWT ${connectToken('jira-admin')}`).expect(503);
      expect(res.body.error).toBe('admin_check_unavailable');
      fake.tokenFailure = null;
    });

    it('treats the user of a local tenant as admin outside production only', async () => {
      const identity = { tenant: { origin: 'local' }, clientInfo: {}, accountId: 'x' } as unknown as AdminIdentity;
      await expect(new JiraAdminCheck({ oauthServerUrl: fake.url, cacheMs: 0, isProduction: false }).isAdmin(identity)).resolves.toBe(true);
      await expect(new JiraAdminCheck({ oauthServerUrl: fake.url, cacheMs: 0, isProduction: true }).isAdmin(identity)).resolves.toBe(false);
    });
  });
});

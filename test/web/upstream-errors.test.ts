import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { mintContextJwt } from '../../src/connect/jwt';
import { createApp, type App } from '../../src/app';
import { SecretBox } from '../../src/security/crypto';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { silentLogger, testConfig } from '../helpers/runtime';

jest.setTimeout(120_000);

/**
 * A target or IdP that answers badly is the upstream's fault: the admin API answers 502 with a short message,
 * never a 500, and never echoes what an arbitrary host sent (an internal page, a metadata document).
 */
describe('admin API: upstream failures', () => {
  let tdb: TestDatabase;
  let app: App;
  let sharedSecret = '';
  let server: http.Server;
  let base = '';
  let answer: { status: number; type: string; body: string } = { status: 200, type: 'application/json', body: '{}' };

  beforeAll(async () => {
    tdb = await createTestDatabase();
    const config = testConfig({ DEV_HOST_ENABLED: 'false' });
    app = createApp({ config, db: tdb.db, logger: silentLogger(), secrets: SecretBox.fromKeyList(config.encryptionKeys!) });
    await app.ready;
    sharedSecret = (await app.tenants.createLocal({ clientKey: 'up', baseUrl: 'https://up.example.test' })).sharedSecret;
    server = http.createServer((_req, res) => {
      res.writeHead(answer.status, { 'content-type': answer.type });
      res.end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await tdb.destroy();
  });

  const auth = () => `JWT ${mintContextJwt({ clientKey: 'up', sharedSecret, accountId: 'up-admin', method: 'GET', url: '/', qsh: 'context' })}`;
  const get = (path: string) => request(app.app).get(`/api${path}`).set('authorization', auth());
  const post = (path: string, body: object = {}) => request(app.app).post(`/api${path}`).set('authorization', auth()).send(body);

  const SECRET_PAGE = '<html><body>internal admin console: db password hunter2</body></html>';
  const KINDS: Array<[string, object, object]> = [
    ['jira-cloud', {}, { email: 'a@example.com', apiToken: 't' }],
    ['confluence-cloud', {}, { email: 'a@example.com', apiToken: 't' }],
    ['bitbucket-cloud', { workspace: 'w' }, { username: 'u', apiToken: 't' }],
    ['bitbucket-dc', {}, { token: 't' }],
    ['jira-dc', {}, { token: 't' }],
    ['confluence-dc', {}, { token: 't' }],
    ['atlassian-org', { orgId: 'o' }, { apiKey: 'k' }],
  ];
  const BODIES: Array<[string, { status: number; type: string; body: string }]> = [
    ['an HTML page', { status: 200, type: 'text/html', body: SECRET_PAGE }],
    ['a JSON string', { status: 200, type: 'application/json', body: '"hunter2"' }],
    ['JSON null', { status: 200, type: 'application/json', body: 'null' }],
    ['an object of the wrong shape', { status: 200, type: 'application/json', body: '{"values":"hunter2","results":7,"data":{"x":1}}' }],
    ['a list of garbage', { status: 200, type: 'application/json', body: '[1,"hunter2",null]' }],
    ['a 401 with a page', { status: 401, type: 'text/html', body: SECRET_PAGE }],
    ['a 404 with a page', { status: 404, type: 'text/html', body: SECRET_PAGE }],
  ];

  describe.each(KINDS)('%s target', (kind, settings, credentials) => {
    let targetId = '';
    beforeAll(async () => {
      const created = await post('/targets', { kind, name: `T ${kind}`, baseUrl: base, settings: { ...settings, limits: { maxRetries: 0 } }, credentials }).expect(201);
      targetId = created.body.target.id;
    });

    it.each(BODIES)('the group picker, the lead picker and Test connection survive %s', async (_label, body) => {
      answer = body;
      for (const path of [`/targets/${targetId}/groups?q=`, `/targets/${targetId}/leads`]) {
        const res = await get(path);
        expect([200, 502]).toContain(res.status);
        if (res.status === 502) expect(res.body).toMatchObject({ error: 'upstream', message: expect.any(String) });
        expect(JSON.stringify(res.body)).not.toContain('hunter2');
      }
      const check = await post(`/targets/${targetId}/test`).expect(200);
      expect(JSON.stringify(check.body)).not.toContain('hunter2');
    });
  });

  it('shows a target error as status plus the product\'s own JSON error message, short', async () => {
    const created = await post('/targets', { kind: 'jira-dc', name: 'Words', baseUrl: base, settings: { limits: { maxRetries: 0 } }, credentials: { token: 't' } }).expect(201);
    answer = { status: 400, type: 'application/json', body: JSON.stringify({ errorMessages: ['Group name is invalid'], errors: {}, debug: 'x'.repeat(5000) }) };
    const res = await get(`/targets/${created.body.target.id}/groups?q=`).expect(502);
    expect(res.body.message).toMatch(/answered 400: Group name is invalid/);
    expect(res.body.message.length).toBeLessThan(300);
  });

  it('a pull source\'s Test connection shows the IdP\'s JSON error fields, never its page', async () => {
    const connection = await post('/connections', { provider: 'generic', name: 'IdP' }).expect(201);
    const path = `/connections/${connection.body.connection.id}/pull/test`;
    answer = { status: 500, type: 'text/html', body: SECRET_PAGE };
    const page = await post(path, { kind: 'scim', baseUrl: base, bearerToken: 't' }).expect(200);
    expect(page.body.ok).toBe(false);
    expect(page.body.message).toMatch(/answered 500/);
    expect(page.body.message).not.toContain('hunter2');
    answer = { status: 400, type: 'application/json', body: JSON.stringify({ detail: 'filter not supported', schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '400', stack: 'hunter2' }) };
    const json = await post(path, { kind: 'scim', baseUrl: base, bearerToken: 't' }).expect(200);
    expect(json.body.message).toMatch(/answered 400 — filter not supported/);
    expect(json.body.message).not.toContain('hunter2');
  });
});

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { mintContextJwt } from '../../src/connect/jwt';
import { createApp, type App } from '../../src/app';
import { configureEgress, type Resolver } from '../../src/egress';
import { SecretBox } from '../../src/security/crypto';
import { createSyncServices } from '../../src/runtime';
import { pullConnection } from '../../src/sources/pull';
import type { SyncEngine } from '../../src/sync/runs';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { silentLogger, testConfig } from '../helpers/runtime';

jest.setTimeout(180_000);

/**
 * Server-side request forgery, tried as a tenant admin would: every non-public address class, as a literal
 * and as a name that resolves to it, for a target and for a pull source, through the three ways a URL is
 * used: saved through the admin API, "Test connection", and a background run (sync run / pull). A loopback
 * listener on the port every URL names proves that nothing connected.
 *
 * The egress here is the production one (no EGRESS_ALLOW); only DNS is stubbed, so that names can resolve
 * to any address. A literal that save refuses is then written straight into the database, as a row saved
 * before these rules existed would be, so "test" and "run" meet it too.
 */

const CLASSES: Array<[label: string, address: string, rule: RegExp]> = [
  ['loopback 127.0.0.1', '127.0.0.1', /loopback/],
  ['loopback ::1', '::1', /loopback/],
  ['IPv4-mapped ::ffff:127.0.0.1', '::ffff:127.0.0.1', /IPv4-mapped/],
  ['decimal 2130706433', '2130706433', /loopback/],
  ['unspecified 0.0.0.0', '0.0.0.0', /unspecified/],
  ['private 10.0.0.1', '10.0.0.1', /private address \(RFC 1918\)/],
  ['private 172.16.0.1', '172.16.0.1', /private address \(RFC 1918\)/],
  ['private 192.168.1.1', '192.168.1.1', /private address \(RFC 1918\)/],
  ['metadata 169.254.169.254', '169.254.169.254', /link-local/],
  ['CGNAT 100.64.0.1', '100.64.0.1', /carrier-grade NAT/],
  ['ULA fc00::1', 'fc00::1', /unique local/],
  ['multicast 224.0.0.1', '224.0.0.1', /multicast/],
];

/** The URL host for an address as written in a URL (IPv6 in brackets); the decimal form stays as typed. */
const literalHost = (address: string) => (address.includes(':') ? `[${address}]` : address);
/** The address a stubbed name resolves to (the decimal form is what the URL parser makes of it). */
const resolvedAddress = (address: string) => (address === '2130706433' ? '127.0.0.1' : address);
const nameFor = (address: string) => `h-${address.replace(/[.:]/g, '-')}.tenant-chosen.example`;

describe('SSRF: no outbound call reaches a non-public address', () => {
  let tdb: TestDatabase;
  let app: App;
  let engine: SyncEngine;
  let secrets: SecretBox;
  let tenantId = '';
  let sharedSecret = '';
  let connectionId = '';
  let port = 0;
  const listeners: http.Server[] = [];
  let accepted = 0;
  /** While true, every stubbed name resolves to a public address (the name looked harmless when saved). */
  let rebindLater = false;

  const resolve: Resolver = async (hostname) => {
    if (rebindLater) return [{ address: '93.184.216.34', family: 4 }];
    if (hostname === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
    const hit = CLASSES.find(([, address]) => nameFor(address) === hostname);
    if (!hit) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    const address = resolvedAddress(hit[1]);
    return [{ address, family: address.includes(':') ? 6 : 4 }];
  };

  beforeAll(async () => {
    tdb = await createTestDatabase();
    // The production egress: nothing beyond the public internet is listed.
    const config = testConfig({ DEV_HOST_ENABLED: 'false', EGRESS_ALLOW: '' });
    secrets = SecretBox.fromKeyList(config.encryptionKeys!);
    app = createApp({ config, db: tdb.db, logger: silentLogger(), secrets });
    await app.ready;
    ({ engine } = createSyncServices({ config, db: tdb.db, logger: silentLogger(), secrets }));
    configureEgress(config.egress, { resolve });
    const local = await app.tenants.createLocal({ clientKey: 'ssrf', baseUrl: 'https://ssrf.example.test' });
    tenantId = local.tenant.id;
    sharedSecret = local.sharedSecret;

    // One port on both loopbacks: whatever form a URL takes, an unchecked call would land here.
    const first = http.createServer((_req, res) => res.end('{}'));
    await new Promise<void>((done) => first.listen(0, '127.0.0.1', done));
    port = (first.address() as AddressInfo).port;
    listeners.push(first);
    const second = http.createServer((_req, res) => res.end('{}'));
    await new Promise<void>((done) => second.listen(port, '::1', done)).catch(() => undefined);
    listeners.push(second);
    for (const server of listeners) server.on('connection', () => accepted++);

    const created = await api().post('/connections', { provider: 'generic', name: 'SSRF' }).expect(201);
    connectionId = created.body.connection.id;
  });

  afterAll(async () => {
    for (const server of listeners) server.close();
    await tdb.destroy();
  });

  afterEach(async () => {
    rebindLater = false;
    await tdb.db.query('DELETE FROM targets WHERE tenant_id = $1', [tenantId]);
    await tdb.db.query('UPDATE connections SET pull_kind = NULL, pull_config_sealed = NULL WHERE id = $1', [connectionId]);
    expect(accepted).toBe(0);
  });

  const auth = () => `JWT ${mintContextJwt({ clientKey: 'ssrf', sharedSecret, accountId: 'ssrf-admin', method: 'GET', url: '/', qsh: 'context' })}`;
  const api = () => ({
    post: (path: string, body: object = {}) => request(app.app).post(`/api${path}`).set('authorization', auth()).send(body),
  });

  const forms = CLASSES.flatMap(([label, address, rule]) => [
    [`${label} as a literal`, address, rule, 'literal'] as const,
    [`${label} behind a name`, address, rule, 'name'] as const,
  ]);
  // Built inside each test: the listener's port is known only after beforeAll.
  const urlOf = (form: (typeof forms)[number]) => (form[3] === 'literal' ? `http://${literalHost(form[1])}:${port}` : `http://${nameFor(form[1])}:${port}`);

  describe.each(forms.map((form) => [form[0], form] as const))('%s', (_label, form) => {
    const rule = form[2];

    it('target: refused on save, on Test connection and in a sync run', async () => {
      const url = urlOf(form);
      const saved = await api().post('/targets', { kind: 'jira-dc', name: 'DC', baseUrl: url, credentials: { token: 't' } }).expect(400);
      expect(JSON.stringify(saved.body)).toMatch(rule);
      expect(JSON.stringify(saved.body)).toMatch(/EGRESS_ALLOW/);

      const { rows } = await tdb.db.query<{ id: string }>(
        `INSERT INTO targets (tenant_id, name, kind, base_url, settings, credentials_sealed) VALUES ($1, 'DC', 'jira-dc', $2, $3, $4) RETURNING id`,
        [tenantId, url, JSON.stringify({ limits: { concurrency: 1, maxRetries: 0, timeoutMs: 5000 }, notifyOnCreate: false }), secrets.sealJson({ token: 't' })],
      );
      const check = await api().post(`/targets/${rows[0]!.id}/test`).expect(200);
      expect(check.body.ok).toBe(false);
      expect(check.body.message).toMatch(rule);

      const run = await engine.startRun({ connectionId, tenantId, trigger: 'manual', mode: 'full' }).then(
        (result) => JSON.stringify(result),
        (error: Error) => error.message,
      );
      expect(run).toMatch(rule);
    });

    it('pull source: refused on save, on Test connection and in a pull', async () => {
      const url = urlOf(form);
      const saved = await request(app.app)
        .put(`/api/connections/${connectionId}/pull`)
        .set('authorization', auth())
        .send({ kind: 'scim', baseUrl: url, bearerToken: 't' });
      expect(saved.status).toBe(400);
      expect(JSON.stringify(saved.body)).toMatch(rule);

      // What a form would test before saving: a literal is refused by the URL rules, a name when it connects.
      const candidate = await api().post(`/connections/${connectionId}/pull/test`, { kind: 'scim', baseUrl: url, bearerToken: 't' });
      expect(JSON.stringify(candidate.body)).toMatch(rule);
      if (candidate.status === 200) expect(candidate.body.ok).toBe(false);
      else expect(candidate.status).toBe(400);

      await tdb.db.query(`UPDATE connections SET pull_kind = 'scim', pull_config_sealed = $2 WHERE id = $1`, [
        connectionId,
        secrets.sealJson({ kind: 'scim', baseUrl: url, bearerToken: 't', pageSize: 100 }),
      ]);
      const stored = await api().post(`/connections/${connectionId}/pull/test`);
      expect(JSON.stringify(stored.body)).toMatch(rule);

      const pulled = await pullConnection({ db: tdb.db, secrets }, connectionId);
      expect(pulled.complete).toBe(false);
      expect(pulled.error).toMatch(rule);
    });
  });

  it('DNS rebinding: a name that was public when saved and is loopback when called is refused at connect time', async () => {
    const name = nameFor('127.0.0.1');
    rebindLater = true;
    const saved = await api().post('/targets', { kind: 'jira-dc', name: 'Rebind', baseUrl: `http://${name}:${port}`, credentials: { token: 't' } }).expect(201);
    const pull = await request(app.app).put(`/api/connections/${connectionId}/pull`).set('authorization', auth()).send({ kind: 'scim', baseUrl: `http://${name}:${port}`, bearerToken: 't' });
    expect(pull.status).toBe(200);
    rebindLater = false;

    const check = await api().post(`/targets/${saved.body.target.id}/test`).expect(200);
    expect(check.body).toMatchObject({ ok: false, message: expect.stringMatching(/refused: .* \(127\.0\.0\.1\) is a loopback address/) });
    const run = await engine.startRun({ connectionId, tenantId, trigger: 'manual', mode: 'full' }).then(
      (result) => JSON.stringify(result),
      (error: Error) => error.message,
    );
    expect(run).toMatch(/loopback/);
    const pulled = await pullConnection({ db: tdb.db, secrets }, connectionId);
    expect(pulled.error).toMatch(/loopback/);
  });

  it.each([
    ['jira-cloud', 'http://127.0.0.1', /loopback/],
    ['jira-cloud', 'https://intranet.example.com', /a jira-cloud target accepts only \*\.atlassian\.net, \*\.jira\.com, \*\.jira-dev\.com, not intranet\.example\.com/],
    ['jira-cloud', 'http://acme.atlassian.net', /reached over https only/],
    ['atlassian-org', 'https://api.atlassian.com.evil.example', /accepts only api\.atlassian\.com/],
    ['bitbucket-cloud', 'https://bitbucket.org', /accepts only api\.bitbucket\.org/],
  ])('a %s target at %s is refused: cloud kinds reach only their vendor hosts, over https', async (kind, baseUrl, message) => {
    const credentials = kind === 'atlassian-org' ? { apiKey: 'k' } : kind === 'bitbucket-cloud' ? { username: 'u', apiToken: 't' } : { email: 'a@example.com', apiToken: 't' };
    const settings = kind === 'atlassian-org' ? { orgId: 'o' } : kind === 'bitbucket-cloud' ? { workspace: 'w' } : {};
    const saved = await api().post('/targets', { kind, name: 'Cloud', baseUrl, settings, credentials }).expect(400);
    expect(JSON.stringify(saved.body)).toMatch(message);
  });
});

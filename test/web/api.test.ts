import request from 'supertest';
import { mintContextJwt } from '../../src/connect/jwt';
import { createApp, type App } from '../../src/app';
import { SecretBox } from '../../src/security/crypto';
import { csvField } from '../../src/sync/history';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { silentLogger, testConfig } from '../helpers/runtime';

jest.setTimeout(120_000);

/** The admin API's behaviour for an admin of a local tenant: validation, scoping, all-or-nothing saves. */
describe('admin API', () => {
  let tdb: TestDatabase;
  let app: App;
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    tdb = await createTestDatabase();
    const config = testConfig({ DEV_HOST_ENABLED: 'false' });
    app = createApp({ config, db: tdb.db, logger: silentLogger(), secrets: SecretBox.fromKeyList(config.encryptionKeys!) });
    await app.ready;
    for (const key of ['tenant-a', 'tenant-b']) secrets[key] = (await app.tenants.createLocal({ clientKey: key, baseUrl: `https://${key}.example.test` })).sharedSecret;
  });
  afterAll(() => tdb.destroy());

  const as = (tenant: string) => `JWT ${mintContextJwt({ clientKey: tenant, sharedSecret: secrets[tenant]!, accountId: `${tenant}-admin`, method: 'GET', url: '/', qsh: 'context' })}`;
  const api = (tenant: string) => ({
    get: (path: string) => request(app.app).get(`/api${path}`).set('authorization', as(tenant)),
    post: (path: string, body: object = {}) => request(app.app).post(`/api${path}`).set('authorization', as(tenant)).send(body),
    put: (path: string, body: object) => request(app.app).put(`/api${path}`).set('authorization', as(tenant)).send(body),
    delete: (path: string) => request(app.app).delete(`/api${path}`).set('authorization', as(tenant)),
  });

  let connectionId = '';

  it('creates a connection, returns its token once and lists providers miniOrange first', async () => {
    const providers = await api('tenant-a').get('/providers').expect(200);
    expect(providers.body.providers[0]).toEqual({ id: 'miniorange', label: 'miniOrange' });
    const created = await api('tenant-a').post('/connections', { provider: 'miniorange', name: 'Prod' }).expect(201);
    connectionId = created.body.connection.id;
    expect(created.body.connection.scimBaseUrl).toBe(`https://app.example.test/scim/v2/${connectionId}`);
    expect(created.body.token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const detail = await api('tenant-a').get(`/connections/${connectionId}`).expect(200);
    expect(JSON.stringify(detail.body)).not.toContain(created.body.token);
    const rotated = await api('tenant-a').post(`/connections/${connectionId}/token/rotate`).expect(200);
    expect(rotated.body.token).not.toBe(created.body.token);
  });

  it('answers validation errors field by field', async () => {
    const res = await api('tenant-a').post('/connections', { provider: 'nope', name: '' }).expect(400);
    expect(res.body.error).toBe('validation');
    expect(Object.keys(res.body.fields).sort()).toEqual(['name', 'provider']);
    const dup = await api('tenant-a').post('/connections', { provider: 'okta', name: 'Prod' }).expect(400);
    expect(dup.body.fields.name).toMatch(/already exists/);
  });

  it("keeps tenants apart: another tenant's connection is not found", async () => {
    await api('tenant-b').get(`/connections/${connectionId}`).expect(404);
    await api('tenant-b').put(`/connections/${connectionId}/settings`, { settings: { group: { mapping: 'manual' } } }).expect(404);
    await api('tenant-b').delete(`/connections/${connectionId}`).expect(404);
    expect((await api('tenant-b').get('/connections').expect(200)).body.connections).toEqual([]);
  });

  it('says what a deactivation does on each current target, for this tenant only', async () => {
    const none = await api('tenant-a').get(`/connections/${connectionId}/deprovisioning`).expect(200);
    expect(none.body).toEqual({ onInactive: [], onGone: [] });
    const jira = await api('tenant-a')
      .post('/targets', { kind: 'jira-cloud', name: 'Jira', baseUrl: 'http://127.0.0.1:9', credentials: { email: 'admin@example.com', apiToken: 't' } })
      .expect(201);
    const res = await api('tenant-a').get(`/connections/${connectionId}/deprovisioning`).expect(200);
    expect(res.body.onInactive).toEqual([
      expect.objectContaining({ targetId: jira.body.target.id, kind: 'jira-cloud', effect: 'remove-groups', removesAllAccess: true, warning: null, sentence: expect.stringMatching(/application roles/) }),
    ]);
    await api('tenant-b').get(`/connections/${connectionId}/deprovisioning`).expect(404);
    await api('tenant-a').delete(`/targets/${jira.body.target.id}`).expect(204);
  });

  it('saves settings all or nothing, with the field path of each problem', async () => {
    const before = await api('tenant-a').get(`/connections/${connectionId}/settings`).expect(200);
    const bad = await api('tenant-a')
      .put(`/connections/${connectionId}/settings`, {
        settings: { group: { mapping: 'manual', manual: { mappings: [{ idpGroup: 'Eng', targetGroups: [] }] } }, safety: { deprovisionThresholdPercent: 500 } },
      })
      .expect(400);
    expect(Object.keys(bad.body.fields).sort()).toEqual(['group.manual.mappings.0.targetGroups', 'safety.deprovisionThresholdPercent']);
    const unchanged = await api('tenant-a').get(`/connections/${connectionId}/settings`).expect(200);
    expect(unchanged.body).toEqual(before.body);

    const good = await api('tenant-a')
      .put(`/connections/${connectionId}/settings`, { settings: { group: { ...before.body.settings.group, mapping: 'manual', manual: { ...before.body.settings.group.manual, mappings: [{ idpGroup: 'Eng', targetGroups: ['jira-eng'] }] } } }, expectedVersion: before.body.version })
      .expect(200);
    expect(good.body.version).toBe(before.body.version + 1);
    // A stale form (old version) is refused rather than overwriting someone else's save.
    await api('tenant-a').put(`/connections/${connectionId}/settings`, { settings: { group: before.body.settings.group }, expectedVersion: before.body.version }).expect(409);
    const audit = await api('tenant-a').get(`/audit?connectionId=${connectionId}`).expect(200);
    expect(audit.body.entries.map((e: { action: string }) => e.action)).toEqual(expect.arrayContaining(['settings.update', 'connection.create', 'connection.token.rotate']));
  });

  it('previews renames and filters, and schedules with their next runs', async () => {
    const preview = await api('tenant-a')
      .post('/rules/preview', { names: ['Engineering', 'Temp staff'], transform: { pattern: '^(.*)$', replacement: 'idp-$1' }, filters: { exclude: ['^temp'] } })
      .expect(200);
    expect(preview.body.results).toEqual([
      { input: 'Engineering', output: 'idp-Engineering', kept: true },
      { input: 'Temp staff', output: 'idp-Temp staff', kept: false },
    ]);
    const badRegex = await api('tenant-a').post('/rules/preview', { names: ['x'], transform: { pattern: '([', replacement: '' } }).expect(400);
    expect(Object.keys(badRegex.body.fields)).toEqual(['transform.pattern']);

    const badCron = await api('tenant-a').put(`/connections/${connectionId}/schedule`, { schedule: { kind: 'cron', expression: '* *', timeZone: 'UTC' } }).expect(400);
    expect(Object.keys(badCron.body.fields)).toEqual(['expression']);
    const saved = await api('tenant-a').put(`/connections/${connectionId}/schedule`, { schedule: { kind: 'daily', time: '02:30', timeZone: 'Europe/Berlin' } }).expect(200);
    expect(saved.body.nextRuns).toHaveLength(5);
    const read = await api('tenant-a').get(`/connections/${connectionId}/schedule`).expect(200);
    expect(read.body.description).toBe('daily at 02:30 (Europe/Berlin)');
  });

  it('queues Synchronize once: a second click joins the queued job', async () => {
    const first = await api('tenant-a').post(`/connections/${connectionId}/sync`, { dryRun: false }).expect(202);
    const second = await api('tenant-a').post(`/connections/${connectionId}/sync`, { dryRun: false }).expect(202);
    expect(second.body).toMatchObject({ jobId: first.body.jobId, joined: true });
    const status = await api('tenant-a').get(`/connections/${connectionId}/sync`).expect(200);
    expect(status.body.queued[0].id).toBe(first.body.jobId);
    await api('tenant-b').get(`/jobs/${first.body.jobId}`).expect(404);
  });

  it('exports CSV safely and has no /dev host when it is switched off', async () => {
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('plain')).toBe('plain');
    await request(app.app).get('/dev').expect(404);
    await request(app.app).get('/dev/token').expect(404);
  });
});

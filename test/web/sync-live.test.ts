import request from 'supertest';
import { mintContextJwt } from '../../src/connect/jwt';
import { createApp, type App } from '../../src/app';
import type { JobsService } from '../../src/jobs/service';
import { createSyncServices } from '../../src/runtime';
import { SecretBox } from '../../src/security/crypto';
import { OPS_CSV_COLUMNS } from '../../src/sync/history';
import { FakeJiraCloud } from '../fakes/fake-jira-cloud';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { silentLogger, testConfig } from '../helpers/runtime';

jest.setTimeout(120_000);

/**
 * The Synchronize page's API with the real worker and engine against a fake Jira Cloud on loopback: the empty
 * state without targets, the current run whatever started it, Cancel stopping a running run between
 * operations, and the run's operations, CSV and audit in words.
 */
describe('Synchronize: current run, Cancel, and the run in words', () => {
  let tdb: TestDatabase;
  let app: App;
  let jobs: JobsService;
  let jira: FakeJiraCloud;
  let secret = '';
  let connectionId = '';
  let scimToken = '';
  const PEOPLE = 30;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    jira = new FakeJiraCloud({ credentials: { 'admin@example.com': 'jira-token' } });
    await jira.start();
    const config = testConfig({ DEV_HOST_ENABLED: 'false', JOBS_POLL_MS: '100', JOBS_CHANGE_DEBOUNCE_MS: '600000' });
    const secrets = SecretBox.fromKeyList(config.encryptionKeys!);
    const logger = silentLogger();
    // A short heartbeat: the worker learns of a cancel within ~300 ms.
    const services = createSyncServices({ config, db: tdb.db, logger, secrets }, { jobs: { scheduler: false, pollMs: 100, heartbeatMs: 300 } });
    jobs = services.jobs;
    app = createApp({ config, db: tdb.db, logger, secrets, web: { jobs, engine: services.engine } });
    await app.ready;
    jobs.start();
    secret = (await app.tenants.createLocal({ clientKey: 'tenant-s', baseUrl: 'https://tenant-s.example.test' })).sharedSecret;
  });
  afterAll(async () => {
    await jobs?.stop();
    await jira?.stop();
    await tdb?.destroy();
  });

  const auth = () => `JWT ${mintContextJwt({ clientKey: 'tenant-s', sharedSecret: secret, accountId: 'admin-1', method: 'GET', url: '/', qsh: 'context' })}`;
  const get = (path: string) => request(app.app).get(`/api${path}`).set('authorization', auth());
  const post = (path: string, body: object = {}) => request(app.app).post(`/api${path}`).set('authorization', auth()).send(body);
  async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('says there are no targets rather than that they match', async () => {
    const created = await post('/connections', { provider: 'miniorange', name: 'Prod' }).expect(201);
    connectionId = created.body.connection.id;
    scimToken = created.body.token;
    const status = await get(`/connections/${connectionId}/sync`).expect(200);
    expect(status.body).toMatchObject({ targets: 0, run: null, running: null });
  });

  it('cancels a running run: it stops before its next operation, and nothing is left half done', async () => {
    for (let i = 0; i < PEOPLE; i++) {
      await request(app.app)
        .post(`/scim/v2/${connectionId}/Users`)
        .set('authorization', `Bearer ${scimToken}`)
        .set('content-type', 'application/scim+json')
        .send({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `person${i}@example.com`, displayName: `Person ${i}`, emails: [{ value: `person${i}@example.com`, primary: true }], active: true })
        .expect(201);
    }
    const target = await post('/targets', { kind: 'jira-cloud', name: 'acme', baseUrl: jira.baseUrl, credentials: { email: 'admin@example.com', apiToken: 'jira-token' } }).expect(201);
    expect(target.body.test.ok).toBe(true);
    jira.server.latencyMs = 150;

    const started = await post(`/connections/${connectionId}/sync`, { dryRun: false }).expect(202);
    const jobId = started.body.jobId as string;
    // The run the status reports is the job's own, with live counts, while it applies.
    const live = await until('some operations applied', async () => {
      const status = (await get(`/connections/${connectionId}/sync`).expect(200)).body;
      return status.running?.id === jobId && status.run?.phase === 'applying' && (status.opsByStatus.succeeded ?? 0) >= 2 ? status : undefined;
    });
    expect(live.run.status).toBe('running');
    expect(live.targets).toBe(1);

    const cancel = await post(`/jobs/${jobId}/cancel`).expect(200);
    expect(cancel.body.job).toMatchObject({ status: 'running', cancelRequested: true });
    await until('the job to end cancelled', async () => ((await get(`/jobs/${jobId}`).expect(200)).body.job.status === 'cancelled' ? true : undefined));

    const run = (await get(`/runs/${live.run.id}`).expect(200)).body;
    expect(run.run.status).toBe('cancelled');
    // Between operations: every op either succeeded or was skipped; none was cut off mid-call.
    expect(Object.keys(run.opsByStatus).sort()).toEqual(['skipped', 'succeeded']);
    expect(run.opsByStatus.skipped).toBeGreaterThan(0);
    const created = Array.from({ length: PEOPLE }, (_, i) => jira.userByEmail(`person${i}@example.com`)).filter(Boolean);
    expect(created.length).toBe(run.opsByStatus.succeeded);
    expect(created.length).toBeLessThan(PEOPLE);
    jira.server.latencyMs = 0;

    // The page now shows that run as the last one, and the buttons' job is gone.
    const after = (await get(`/connections/${connectionId}/sync`).expect(200)).body;
    expect(after.running).toBeNull();
    expect(after.run).toMatchObject({ id: live.run.id, status: 'cancelled' });
    const audit = (await get('/audit').expect(200)).body.entries as Array<{ action: string; text: string }>;
    expect(audit.find((e) => e.action === 'sync.cancel')?.text).toMatch(/^Cancelled a sync \((manual|change)\)\.$/);
  });

  it('declines a run stopped at the safety threshold: cancelled, nobody removed', async () => {
    const settings = (await get(`/connections/${connectionId}/settings`).expect(200)).body;
    await request(app.app)
      .put(`/api/connections/${connectionId}/settings`)
      .set('authorization', auth())
      // Jira Cloud without an org API key cannot deactivate: the fallback removes the account from the site.
      .send({ settings: { user: { ...settings.settings.user, deactivateFallback: 'remove-from-site' }, safety: { deprovisionThresholdPercent: 0, deprovisionThresholdMin: 0 } }, expectedVersion: settings.version })
      .expect(200);
    // Someone the cancelled run did create, so deactivating them is a deprovision.
    const n = Array.from({ length: PEOPLE }, (_, i) => i).find((i) => jira.userByEmail(`person${i}@example.com`))!;
    const users = (await get(`/connections/${connectionId}/directory/users?q=person${n}%40`).expect(200)).body.users as Array<{ id: string }>;
    await request(app.app)
      .patch(`/scim/v2/${connectionId}/Users/${users[0]!.id}`)
      .set('authorization', `Bearer ${scimToken}`)
      .set('content-type', 'application/scim+json')
      .send({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', value: { active: false } }] })
      .expect(200);
    await post(`/connections/${connectionId}/sync`, { dryRun: false }).expect(202);
    const stopped = await until('the run to wait for confirmation', async () => {
      const status = (await get(`/connections/${connectionId}/sync`).expect(200)).body;
      return status.run?.status === 'awaiting_confirmation' && !status.running ? status.run : undefined;
    });
    await post(`/runs/${stopped.id}/cancel`).expect(200);
    expect((await get(`/runs/${stopped.id}`).expect(200)).body.run.status).toBe('cancelled');
    await post(`/runs/${stopped.id}/cancel`).expect(409);
    expect(jira.userByEmail(`person${n}@example.com`)).toMatchObject({ active: true });
    const audit = (await get('/audit').expect(200)).body.entries as Array<{ action: string; text: string }>;
    expect(audit[0]).toMatchObject({ action: 'run.cancel', text: `Cancelled run ${stopped.id} that waited for confirmation.` });
  });

  it("answers the run's operations and CSV in words, with names and ids both", async () => {
    const runs = (await get(`/runs?connectionId=${connectionId}&status=cancelled`).expect(200)).body.runs as Array<{ id: string; opsSucceeded: number }>;
    const applied = runs.find((r) => r.opsSucceeded > 0)!;
    const ops = (await get(`/runs/${applied.id}/ops?status=succeeded`).expect(200)).body.ops as Array<Record<string, string>>;
    const first = ops[0]!;
    const n = /person(\d+)@/.exec(first.label!)![1];
    expect(first).toMatchObject({
      label: `Create Person ${n} <person${n}@example.com> in Jira (acme)`,
      targetName: 'acme',
      targetProduct: 'Jira',
      userDisplay: `Person ${n} <person${n}@example.com>`,
    });
    const csv = await get(`/runs/${applied.id}/ops.csv`).expect(200);
    const [header, row = ''] = csv.text.split('\r\n');
    expect(header).toBe(OPS_CSV_COLUMNS.join(','));
    const cells = row.split(',');
    const col = (name: (typeof OPS_CSV_COLUMNS)[number]) => cells[OPS_CSV_COLUMNS.indexOf(name)];
    expect(col('target_name')).toBe('acme');
    expect(col('target_product')).toBe('Jira');
    expect(col('target_id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(col('user_display_name')).toMatch(/^Person \d+$/);
    expect(col('user_email')).toMatch(/^person\d+@example\.com$/);
    expect(col('directory_user_id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(col('change')).toMatch(/^Create Person \d+ <person\d+@example\.com> in Jira \(acme\)$/);
  });
});

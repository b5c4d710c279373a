import { ConnectionService } from '../../src/connections/service';
import { readPullConfig } from '../../src/sources/config';
import { TargetStore } from '../../src/targets/store';
import { SANDBOX_NAMES, seedSandbox, startSandbox, type Sandbox } from '../../sandbox/sandbox';
import { FakeJiraCloud } from '../fakes/fake-jira-cloud';
import { FakeMiniOrange } from '../fakes/idp/fake-miniorange';
import { createPostgresDatabase, usingPostgres } from '../helpers/database';
import { silentLogger, TEST_ENCRYPTION_KEYS } from '../helpers/runtime';

/**
 * `npm run sandbox` seeds the local tenant once: a second start over the same database finds what the first
 * made (by name) and points it at the new fakes, whose ports differ, instead of making it again.
 */
describe('sandbox', () => {
  let sandbox: Sandbox;
  let dropDatabase: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    let databaseUrl: string | undefined;
    if (usingPostgres) ({ url: databaseUrl, drop: dropDatabase } = await createPostgresDatabase());
    sandbox = await startSandbox({
      port: 0,
      dataDir: 'memory://',
      databaseUrl,
      env: { ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS, LOG_LEVEL: 'silent', SHUTDOWN_GRACE_SECONDS: '1' },
      logger: silentLogger(),
    });
  });

  afterAll(async () => {
    await sandbox?.stop();
    await dropDatabase?.();
  });

  /** GET /Users with a bearer token, at the printed SCIM base URL (on 127.0.0.1, where the app listens). */
  const scimStatus = async (token: string) => {
    const url = new URL(`${sandbox.connection.scimBaseUrl}/Users`);
    url.hostname = '127.0.0.1';
    return (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status;
  };

  it('starts with a target per fake, each reachable, and a miniOrange app whose token works', async () => {
    expect(sandbox.targets.map((t) => [t.target.kind, t.created, t.check.ok])).toEqual([
      ['atlassian-org', true, true],
      ['jira-cloud', true, true],
      ['confluence-cloud', true, true],
      ['bitbucket-cloud', true, true],
    ]);
    const jira = sandbox.targets.find((t) => t.target.kind === 'jira-cloud')!.target;
    expect(jira.baseUrl).toBe(sandbox.fakes.jira.baseUrl);
    expect(jira.settings).toMatchObject({ orgTargetId: sandbox.targets[0]!.target.id });
    expect(sandbox.connectionCreated).toBe(true);
    expect(sandbox.connection.name).toBe(SANDBOX_NAMES.connection);
    expect(await scimStatus(sandbox.scimToken)).toBe(200);
    expect(await scimStatus('not-the-token')).toBe(401);
    expect(sandbox.config.devHostEnabled).toBe(true);
    expect(sandbox.config.host).toBe('127.0.0.1');
  });

  it('seeding again finds everything by name, points it at the new fakes and makes nothing twice', async () => {
    const { db, secrets, config } = sandbox.runtime;
    // A restart: new fakes on new ports.
    const jira = new FakeJiraCloud({ credentials: { 'admin@example.com': 'sandbox-site-token' } });
    const miniOrange = new FakeMiniOrange({ ...sandbox.fakes.miniOrange.options });
    await jira.start();
    await miniOrange.start();
    try {
      const again = await seedSandbox(sandbox.runtime, { ...sandbox.fakes, jira, miniOrange });
      expect(again.targets.map((t) => t.created)).toEqual([false, false, false, false]);
      expect(again.connectionCreated).toBe(false);
      expect(again.connection.id).toBe(sandbox.connection.id);

      const tenantId = sandbox.targets[0]!.target.tenantId;
      const targets = await new TargetStore(db, secrets).list(tenantId);
      expect(targets).toHaveLength(4);
      expect(targets.find((t) => t.kind === 'jira-cloud')!.baseUrl).toBe(jira.baseUrl);
      expect(again.targets.find((t) => t.target.kind === 'jira-cloud')!.check.ok).toBe(true);
      const connections = await new ConnectionService(db, { baseUrl: config.baseUrl, tokenGraceSeconds: 60 }).list();
      expect(connections.map((c) => c.name)).toEqual([SANDBOX_NAMES.connection]);
      expect(await readPullConfig(db, secrets, sandbox.connection.id)).toMatchObject({ kind: 'miniorange', baseUrl: miniOrange.baseUrl });
      // A fresh token is printed; the one printed before keeps working for the grace period.
      expect(again.scimToken).not.toBe(sandbox.scimToken);
      expect(await scimStatus(again.scimToken)).toBe(200);
      expect(await scimStatus(sandbox.scimToken)).toBe(200);
    } finally {
      await jira.stop();
      await miniOrange.stop();
    }
  });
});

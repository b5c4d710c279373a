import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type { Config } from '../../src/config';
import { createApp } from '../../src/app';
import { TenantStore } from '../../src/connect/tenants';
import { ConnectionService } from '../../src/connections/service';
import type { Database } from '../../src/db/database';
import { JobsService, jobsOptionsFrom, type JobsOptions } from '../../src/jobs/service';
import { createSyncJobHandler } from '../../src/jobs/sync-handler';
import type { Logger } from '../../src/logging/logger';
import { SecretBox } from '../../src/security/crypto';
import { savePullConfig, type PullConfigInput } from '../../src/sources/config';
import { storeTargetResolver } from '../../src/sync/resolve-targets';
import { createSyncEngine, type SyncEngine } from '../../src/sync/runs';
import { createSyncServices } from '../../src/runtime';
import { saveSettings, type SyncSettingsInput } from '../../src/sync/settings';
import type { TargetDependencies } from '../../src/targets/factory';
import { TargetStore } from '../../src/targets/store';
import { FakeAtlassianOrg } from '../fakes/fake-atlassian-org';
import { FakeBitbucketCloud } from '../fakes/fake-bitbucket-cloud';
import { FakeBitbucketDc } from '../fakes/fake-bitbucket-dc';
import { FakeConfluenceCloud } from '../fakes/fake-confluence-cloud';
import { FakeConfluenceDc } from '../fakes/fake-confluence-dc';
import { FakeJiraDc } from '../fakes/fake-jira-dc';
import type { LoggedRequest } from '../fakes/fake-server';
import { FakeJiraCloud } from '../fakes/fake-jira-cloud';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { silentLogger, testConfig } from '../helpers/runtime';

/**
 * End-to-end harness: what production builds (src/runtime.ts `openRuntime` + `listen`), over a test database,
 * listening on loopback, with a fake Jira Cloud site and a fake Atlassian organization on loopback too.
 *
 *   SCIM push (real HTTP, bearer token) → SCIM router → directory + outbox → jobs.directoryChanged (debounced)
 *   → JobsService worker → createSyncJobHandler (pull first when configured) → sync engine → target store's
 *   adapters → HTTP → fakes.
 *
 * openRuntime opens its own database from the config; the harness wires the same parts by hand over the test
 * database instead (so one file's tests share one database and truncate it between tests). Keep the two in step.
 */

export const JIRA_ADMIN = { email: 'admin@example.com', apiToken: 'jira-token' };
export const ORG_API_KEY = 'org-api-key';
/** Credentials of the other target kinds' fakes (addEveryTargetKind). */
export const CONFLUENCE_ADMIN = { email: 'admin@example.com', apiToken: 'confluence-token' };
export const BITBUCKET_CLOUD = { workspace: 'acme', username: 'admin@example.com', apiToken: 'bb-token' };
export const DC_TOKENS = { bitbucketDc: 'bbdc-pat', jiraDc: 'jira-dc-pat', confluenceDc: 'confluence-dc-pat' };

/** The fakes and target ids of the five kinds a scenario adds beside Jira Cloud and the org. */
export interface OtherKinds {
  confluenceCloud: FakeConfluenceCloud;
  bitbucketCloud: FakeBitbucketCloud;
  bitbucketDc: FakeBitbucketDc;
  jiraDc: FakeJiraDc;
  confluenceDc: FakeConfluenceDc;
  targetIds: Record<'confluence-cloud' | 'bitbucket-cloud' | 'bitbucket-dc' | 'jira-dc' | 'confluence-dc', string>;
}
export const BITBUCKET_ADMIN = { username: 'admin@example.com', apiToken: 'bb-token' };
export const SCIM_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const SCIM_ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const SCIM_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const SCIM_PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** Short timings so a change reaches the fakes within about half a second. */
export const E2E_ENV: Record<string, string> = {
  PORT: '0',
  HOST: '127.0.0.1',
  JOBS_POLL_MS: '100',
  JOBS_CHANGE_DEBOUNCE_MS: '300',
  JOBS_LEASE_SECONDS: '2',
  JOBS_RETRY_BASE_SECONDS: '0.2',
  JOBS_RETRY_MAX_SECONDS: '1',
  JOBS_MAX_ATTEMPTS: '4',
  // No schedules in these tests; the ticker would only add a node-cron task per instance.
  JOBS_SCHEDULER_ENABLED: 'false',
  SHUTDOWN_GRACE_SECONDS: '1',
  SCIM_RATE_LIMIT_PER_SECOND: '0',
};

/** The engine's stale-run window, scaled down with JOBS_LEASE_SECONDS as production's 90 s is to its 60 s lease. */
export const E2E_STALE_RUN_MS = 2_000;

export interface ScimResponse {
  status: number;
  body: Record<string, unknown> | null;
  text: string;
}

export interface ScenarioOptions {
  /** Attach an atlassian-org target as the Jira site's lifecycle (deactivate, reactivate, profile). */
  withOrg?: boolean;
  /** Sync settings (user/group/safety); saved through saveSettings like the admin page does. */
  settings?: SyncSettingsInput | Omit<SyncSettingsInput, 'schemaVersion'>;
  provider?: 'entra' | 'okta' | 'miniorange' | 'generic';
  /**
   * Also a Confluence Cloud target: on the Jira site itself (written through Jira, as Atlassian sites share
   * users and groups) or on a site of its own (a separate fake, synced as a target of its own).
   */
  confluence?: 'same-site' | 'own-site';
  /** Also a Bitbucket Cloud workspace target. */
  bitbucket?: boolean;
  /** Also one Data Center target, against its fake (`dataCenter` on the harness); addEveryTargetKind adds all three. */
  dataCenter?: DataCenterKind;
}

export type DataCenterKind = 'jira-dc' | 'confluence-dc' | 'bitbucket-dc';

/** The Data Center target of a scenario, with its fake (one of the three, by kind). */
export type DataCenterTarget = { targetId: string } & (
  | { kind: 'jira-dc'; fake: FakeJiraDc }
  | { kind: 'confluence-dc'; fake: FakeConfluenceDc }
  | { kind: 'bitbucket-dc'; fake: FakeBitbucketDc }
);

export interface SettleOptions {
  timeoutMs?: number;
  /** Also wait until the connection has no unconsumed directory changes (default true). */
  changesConsumed?: boolean;
}

/** A human-readable line per write the fakes applied or were sent: what the assertions compare. */
export type WriteLine = string;

export class E2eHarness {
  jira!: FakeJiraCloud;
  org!: FakeAtlassianOrg;
  /** Set when the scenario has a Confluence site of its own / a Bitbucket workspace. */
  confluence: FakeConfluenceCloud | null = null;
  bitbucket: FakeBitbucketCloud | null = null;
  confluenceTargetId: string | null = null;
  bitbucketTargetId: string | null = null;
  /** Set when the scenario has a Data Center target (ScenarioOptions.dataCenter). */
  dataCenter: DataCenterTarget | null = null;
  tenantId = '';
  connectionId = '';
  token = '';
  jiraTargetId = '';
  orgTargetId: string | null = null;
  /** The instance running jobs now (the first one shares the app's JobsService, as production does). */
  jobs: JobsService;
  readonly targets: TargetStore;
  readonly connections: ConnectionService;
  /** accountId → email and groupId → name, remembered so writes stay readable after a removal. */
  private readonly accountEmails = new Map<string, string>();
  private readonly groupNames = new Map<string, string>();
  private readonly extraInstances: JobsService[] = [];
  /** The current jobs instance was stopped, or runs with test-specific options: the next scenario starts a plain one. */
  private jobsDirty = false;
  /** Fakes started by addEveryTargetKind, stopped with the scenario. */
  private otherFakes: Array<{ stop(): Promise<void> }> = [];

  private constructor(
    readonly t: TestDatabase,
    readonly config: Config,
    readonly logger: Logger,
    readonly secrets: SecretBox,
    readonly engine: SyncEngine,
    /** The JobsService the app was built with: SCIM writes call its directoryChanged. */
    readonly appJobs: JobsService,
    private readonly server: http.Server,
    readonly url: string,
  ) {
    this.jobs = appJobs;
    this.targets = new TargetStore(t.db, secrets);
    this.connections = new ConnectionService(t.db, { baseUrl: config.baseUrl, tokenGraceSeconds: 60 });
  }

  get db(): Database {
    return this.t.db;
  }

  static async start(env: Record<string, string> = {}): Promise<E2eHarness> {
    const t = await createTestDatabase();
    const config = testConfig({ ...E2E_ENV, ...env });
    const logger = silentLogger();
    const secrets = SecretBox.fromKeyList(config.encryptionKeys!);
    // As openRuntime: engine over the stored targets, the jobs service with the sync handler, the app with both.
    // staleRunAfterMs scaled down with the jobs lease (production: 60 s lease, 90 s stale window).
    const { engine, jobs } = createSyncServices({ config, db: t.db, logger, secrets }, { staleRunAfterMs: E2E_STALE_RUN_MS });
    const app = createApp({ config, db: t.db, logger, secrets, web: { jobs, engine } });
    await app.ready;
    // As listen(): the HTTP server, then the jobs.
    const server = http.createServer(app.app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const harness = new E2eHarness(t, config, logger, secrets, engine, jobs, server, `http://127.0.0.1:${port}`);
    jobs.start();
    return harness;
  }

  /**
   * A clean world for one test: empty database, fresh fakes, a local tenant, an IdP connection with its SCIM
   * token, a Jira Cloud target (and an org target), and the given sync settings.
   */
  async scenario(options: ScenarioOptions = {}): Promise<void> {
    if (this.connectionId) await this.settle({ timeoutMs: 15_000, changesConsumed: false }).catch(() => undefined);
    if (this.jobsDirty) {
      await this.restartJobs();
      this.jobsDirty = false;
    }
    await this.t.truncate();
    await this.jira?.stop();
    await this.org?.stop();
    await this.stopOtherFakes();
    await this.confluence?.stop();
    await this.bitbucket?.stop();
    this.confluence = null;
    this.bitbucket = null;
    this.confluenceTargetId = null;
    this.bitbucketTargetId = null;
    this.dataCenter = null;
    this.accountEmails.clear();
    this.groupNames.clear();

    this.jira = new FakeJiraCloud({ credentials: { [JIRA_ADMIN.email]: JIRA_ADMIN.apiToken } });
    this.org = new FakeAtlassianOrg({ apiKeys: { [ORG_API_KEY]: 'org-admin' } });
    this.org.manageAccountsOf(this.jira);
    await this.jira.start();
    await this.org.start();

    const clientKey = 'e2e-site';
    const { tenant } = await new TenantStore(this.db, this.secrets).createLocal({
      clientKey,
      baseUrl: 'https://e2e-site.atlassian.net',
    });
    this.tenantId = tenant.id;
    const { connection, token } = await this.connections.create({ tenantClientKey: clientKey, name: 'IdP', provider: options.provider ?? 'entra' });
    this.connectionId = connection.id;
    this.token = token;

    this.orgTargetId = null;
    if (options.withOrg) {
      const org = await this.targets.create(this.tenantId, {
        kind: 'atlassian-org',
        name: 'Organization',
        baseUrl: this.org.baseUrl,
        settings: { orgId: this.org.orgId },
        credentials: { apiKey: ORG_API_KEY },
      });
      this.orgTargetId = org.id;
    }
    const jira = await this.targets.create(this.tenantId, {
      kind: 'jira-cloud',
      name: 'Jira',
      baseUrl: this.jira.baseUrl,
      settings: this.orgTargetId ? { orgTargetId: this.orgTargetId } : {},
      credentials: JIRA_ADMIN,
    });
    this.jiraTargetId = jira.id;
    if (options.confluence) {
      if (options.confluence === 'own-site') {
        this.confluence = new FakeConfluenceCloud({ credentials: { [CONFLUENCE_ADMIN.email]: CONFLUENCE_ADMIN.apiToken } });
        await this.confluence.start();
      }
      const confluence = await this.targets.create(this.tenantId, {
        kind: 'confluence-cloud',
        name: 'Confluence',
        // Same site: Jira's origin, so the store points it at the Jira target and the engine writes through Jira.
        baseUrl: `${this.confluence ? this.confluence.baseUrl : this.jira.baseUrl}/wiki`,
        settings: {},
        credentials: this.confluence ? CONFLUENCE_ADMIN : JIRA_ADMIN,
      });
      this.confluenceTargetId = confluence.id;
    }
    if (options.bitbucket) {
      this.bitbucket = new FakeBitbucketCloud('acme', { [BITBUCKET_ADMIN.username]: BITBUCKET_ADMIN.apiToken });
      await this.bitbucket.start();
      const bitbucket = await this.targets.create(this.tenantId, {
        kind: 'bitbucket-cloud',
        name: 'Bitbucket',
        baseUrl: this.bitbucket.baseUrl,
        settings: { workspace: 'acme' },
        credentials: BITBUCKET_ADMIN,
      });
      this.bitbucketTargetId = bitbucket.id;
    }
    if (options.dataCenter) this.dataCenter = await this.addDataCenter(options.dataCenter);
    if (options.settings) await this.saveSettings(options.settings);
  }

  /**
   * Adds the five other target kinds to the scenario, each against its own fake on loopback: Confluence Cloud on
   * a site of its own (so it is written directly, with the org as its lifecycle when the scenario has one),
   * Bitbucket Cloud, Bitbucket DC, Jira DC and Confluence DC. With the scenario's Jira Cloud and org, all seven.
   */
  async addEveryTargetKind(): Promise<OtherKinds> {
    const confluenceCloud = new FakeConfluenceCloud({ credentials: { [CONFLUENCE_ADMIN.email]: CONFLUENCE_ADMIN.apiToken } });
    const bitbucketCloud = new FakeBitbucketCloud(BITBUCKET_CLOUD.workspace, { [BITBUCKET_CLOUD.username]: BITBUCKET_CLOUD.apiToken });
    const bitbucketDc = new FakeBitbucketDc({ [DC_TOKENS.bitbucketDc]: 'admin' });
    const jiraDc = new FakeJiraDc({ tokens: { [DC_TOKENS.jiraDc]: 'admin' } });
    const confluenceDc = new FakeConfluenceDc({ tokens: { [DC_TOKENS.confluenceDc]: 'admin' } });
    const fakes = [confluenceCloud, bitbucketCloud, bitbucketDc, jiraDc, confluenceDc];
    for (const fake of fakes) {
      await fake.start();
      this.otherFakes.push(fake);
    }
    // The organization manages the accounts of both sites: it finds Confluence's too, and its changes show there.
    const jiraAccount = this.org.accountSource;
    this.org.accountSource = (accountId) => {
      const user = confluenceCloud.users.get(accountId);
      return jiraAccount?.(accountId) ?? (user ? { email: user.email, name: user.displayName, active: true } : undefined);
    };
    const jiraChanged = this.org.onAccountChanged;
    this.org.onAccountChanged = (user) => {
      jiraChanged?.(user);
      const account = confluenceCloud.users.get(user.accountId);
      if (account) {
        account.email = user.email;
        account.displayName = user.name;
      }
    };
    const create = async (input: Parameters<TargetStore['create']>[1]) => (await this.targets.create(this.tenantId, input)).id;
    const targetIds = {
      'confluence-cloud': await create({
        kind: 'confluence-cloud',
        name: 'Confluence',
        baseUrl: confluenceCloud.baseUrl,
        settings: this.orgTargetId ? { orgTargetId: this.orgTargetId } : {},
        credentials: CONFLUENCE_ADMIN,
      }),
      'bitbucket-cloud': await create({
        kind: 'bitbucket-cloud',
        name: 'Bitbucket',
        baseUrl: bitbucketCloud.baseUrl,
        settings: { workspace: BITBUCKET_CLOUD.workspace },
        credentials: { username: BITBUCKET_CLOUD.username, apiToken: BITBUCKET_CLOUD.apiToken },
      }),
      'bitbucket-dc': await create({ kind: 'bitbucket-dc', name: 'Bitbucket DC', baseUrl: bitbucketDc.baseUrl, credentials: { token: DC_TOKENS.bitbucketDc } }),
      'jira-dc': await create({ kind: 'jira-dc', name: 'Jira DC', baseUrl: jiraDc.baseUrl, credentials: { token: DC_TOKENS.jiraDc } }),
      'confluence-dc': await create({ kind: 'confluence-dc', name: 'Confluence DC', baseUrl: confluenceDc.baseUrl, credentials: { token: DC_TOKENS.confluenceDc } }),
    };
    return { confluenceCloud, bitbucketCloud, bitbucketDc, jiraDc, confluenceDc, targetIds };
  }

  /** One Data Center target against a fresh fake of its kind, stopped with the scenario. */
  private async addDataCenter(kind: DataCenterKind): Promise<DataCenterTarget> {
    const create = async (fake: { baseUrl: string; start(): Promise<string>; stop(): Promise<void> }, token: string, name: string) => {
      await fake.start();
      this.otherFakes.push(fake);
      return (await this.targets.create(this.tenantId, { kind, name, baseUrl: fake.baseUrl, credentials: { token } })).id;
    };
    switch (kind) {
      case 'jira-dc': {
        const fake = new FakeJiraDc({ tokens: { [DC_TOKENS.jiraDc]: 'admin' } });
        return { kind, fake, targetId: await create(fake, DC_TOKENS.jiraDc, 'Jira DC') };
      }
      case 'confluence-dc': {
        const fake = new FakeConfluenceDc({ tokens: { [DC_TOKENS.confluenceDc]: 'admin' } });
        return { kind, fake, targetId: await create(fake, DC_TOKENS.confluenceDc, 'Confluence DC') };
      }
      case 'bitbucket-dc': {
        const fake = new FakeBitbucketDc({ [DC_TOKENS.bitbucketDc]: 'admin' });
        return { kind, fake, targetId: await create(fake, DC_TOKENS.bitbucketDc, 'Bitbucket DC') };
      }
    }
  }

  private async stopOtherFakes(): Promise<void> {
    const fakes = this.otherFakes;
    this.otherFakes = [];
    for (const fake of fakes) await fake.stop();
  }

  async saveSettings(settings: NonNullable<ScenarioOptions['settings']>): Promise<void> {
    await saveSettings(this.db, { tenantId: this.tenantId, connectionId: this.connectionId, actor: 'e2e-admin', settings });
  }

  async savePullConfig(config: PullConfigInput | null): Promise<void> {
    await savePullConfig(this.db, this.secrets, this.connectionId, config);
  }

  // ---- SCIM over real HTTP ------------------------------------------------------------------------------

  async scim(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<ScimResponse> {
    const response = await fetch(`${this.url}/scim/v2/${this.connectionId}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/scim+json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: Record<string, unknown> | null = null;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : null;
    } catch {
      parsed = null;
    }
    return { status: response.status, body: parsed, text };
  }

  /** POST /Users as Entra ID sends it; returns the SCIM id. */
  async createUser(userName: string, extra: { displayName?: string; email?: string; active?: boolean | string; externalId?: string } = {}): Promise<string> {
    const [given, family] = (extra.displayName ?? userName.split('@')[0]!).split(' ');
    const response = await this.scim('POST', '/Users', {
      schemas: [SCIM_USER, SCIM_ENTERPRISE],
      externalId: extra.externalId ?? `ext-${userName}`,
      userName,
      active: extra.active ?? true,
      displayName: extra.displayName ?? userName.split('@')[0],
      emails: [{ primary: true, type: 'work', value: extra.email ?? userName }],
      meta: { resourceType: 'User' },
      name: { formatted: extra.displayName ?? userName, familyName: family ?? null, givenName: given ?? null },
      roles: [],
      phoneNumbers: null,
    });
    if (response.status !== 201) throw new Error(`SCIM create user ${userName}: ${response.status} ${response.text}`);
    return String(response.body!.id);
  }

  /** Entra creates a group with no members, then PATCHes them in. */
  async createGroup(displayName: string): Promise<string> {
    const response = await this.scim('POST', '/Groups', {
      schemas: [SCIM_GROUP, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'],
      externalId: `ext-${displayName}`,
      displayName,
      members: [],
    });
    if (response.status !== 201) throw new Error(`SCIM create group ${displayName}: ${response.status} ${response.text}`);
    return String(response.body!.id);
  }

  async patch(resource: 'Users' | 'Groups', id: string, operations: unknown[]): Promise<void> {
    const response = await this.scim('PATCH', `/${resource}/${id}`, { schemas: [SCIM_PATCH], Operations: operations });
    if (response.status !== 200 && response.status !== 204) throw new Error(`SCIM PATCH ${resource}/${id}: ${response.status} ${response.text}`);
  }

  /** Entra's batch shape: `{"op":"Add","path":"members","value":[{"$ref":null,"value":id}, …]}`. */
  async addMembers(groupId: string, userIds: string[]): Promise<void> {
    await this.patch('Groups', groupId, [{ op: 'Add', path: 'members', value: userIds.map((value) => ({ $ref: null, value })) }]);
  }

  /** `{"op":"remove","path":"members[value eq \"id\"]"}`. */
  async removeMember(groupId: string, userId: string): Promise<void> {
    await this.patch('Groups', groupId, [{ op: 'remove', path: `members[value eq "${userId}"]` }]);
  }

  async deleteUser(id: string): Promise<void> {
    const response = await this.scim('DELETE', `/Users/${id}`);
    if (response.status !== 204) throw new Error(`SCIM DELETE Users/${id}: ${response.status} ${response.text}`);
  }

  // ---- jobs -----------------------------------------------------------------------------------------------

  /** The Synchronize button. */
  async synchronize(): Promise<string> {
    return (await this.appJobs.synchronize(this.tenantId, this.connectionId)).jobId;
  }

  /** Stops the running jobs instance (graceful: its job finishes or is handed back). SCIM writes still enqueue. */
  async stopJobs(): Promise<void> {
    this.jobsDirty = true;
    await this.jobs.stop();
  }

  /** A new jobs instance (a restarted process) on the same database, running the same handler. */
  async restartJobs(overrides: Partial<JobsOptions> = {}, dependencies: TargetDependencies = {}, db: Database = this.db): Promise<JobsService> {
    await Promise.race([this.jobs.stop(), sleep(5000)]);
    this.jobs = this.newInstance(overrides, dependencies, db);
    this.jobs.start();
    this.jobsDirty = Object.keys(overrides).length > 0 || Object.keys(dependencies).length > 0 || db !== this.db;
    return this.jobs;
  }

  /** Another instance with its own engine (e.g. one that will crash); not the harness's current `jobs`. */
  newInstance(overrides: Partial<JobsOptions> = {}, dependencies: TargetDependencies = {}, db: Database = this.db): JobsService {
    const engine =
      db === this.db && Object.keys(dependencies).length === 0
        ? this.engine
        : createSyncEngine({
            db,
            logger: this.logger,
            resolveTargets: storeTargetResolver(new TargetStore(db, this.secrets), dependencies),
            staleRunAfterMs: E2E_STALE_RUN_MS,
          });
    const options = { ...jobsOptionsFrom(this.config), ...overrides };
    const service = new JobsService(db, createSyncJobHandler({ db, secrets: this.secrets, engine, logger: this.logger }), options, this.logger);
    this.extraInstances.push(service);
    return service;
  }

  /**
   * Waits (bounded) until the connection has no queued or running job and, by default, no pending directory
   * change, seen twice in a row. A SCIM response comes before its job is enqueued (the enqueue follows the
   * commit), hence the pending-change condition.
   */
  async settle(options: SettleOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 20_000;
    const changesConsumed = options.changesConsumed ?? true;
    this.rememberNames();
    const deadline = Date.now() + timeoutMs;
    let quietPolls = 0;
    for (;;) {
      const { rows } = await this.db.query<{ open_jobs: number; pending: number }>(
        `SELECT (SELECT count(*)::int FROM sync_jobs WHERE connection_id = $1 AND status IN ('queued', 'running')) AS open_jobs,
                (SELECT count(*)::int FROM directory_changes WHERE connection_id = $1 AND consumed_at IS NULL) AS pending`,
        [this.connectionId],
      );
      const idle = rows[0]!.open_jobs === 0 && (!changesConsumed || rows[0]!.pending === 0);
      quietPolls = idle ? quietPolls + 1 : 0;
      if (quietPolls >= 2) return;
      if (Date.now() > deadline) throw new Error(`The sync queue did not settle within ${timeoutMs} ms: ${await this.describeQueue()}`);
      this.rememberNames();
      await sleep(50);
    }
  }

  /** Jobs, runs and pending changes of the connection, for failure messages. */
  async describeQueue(): Promise<string> {
    const jobs = await this.db.query(
      'SELECT trigger, mode, status, attempt, run_after, last_error FROM sync_jobs WHERE connection_id = $1 ORDER BY created_at',
      [this.connectionId],
    );
    const runs = await this.db.query('SELECT trigger, mode, status, phase, error FROM sync_runs WHERE connection_id = $1 ORDER BY started_at', [this.connectionId]);
    const pending = await this.db.query('SELECT count(*)::int AS n FROM directory_changes WHERE connection_id = $1 AND consumed_at IS NULL', [this.connectionId]);
    return JSON.stringify({ jobs: jobs.rows, runs: runs.rows, pendingChanges: pending.rows[0] });
  }

  async runs(): Promise<{ id: string; trigger: string; mode: string; status: string; summary: Record<string, unknown> | null; error: string | null }[]> {
    const { rows } = await this.db.query(
      'SELECT id, trigger, mode, status, summary, error FROM sync_runs WHERE connection_id = $1 ORDER BY started_at, id',
      [this.connectionId],
    );
    return rows as never;
  }

  async jobRows(): Promise<{ id: string; trigger: string; mode: string; status: string; attempt: number; last_error: string | null }[]> {
    const { rows } = await this.db.query('SELECT id, trigger, mode, status, attempt, last_error FROM sync_jobs WHERE connection_id = $1 ORDER BY created_at', [
      this.connectionId,
    ]);
    return rows as never;
  }

  async links(): Promise<{ email: string | null; account_id: string | null; origin: string; state: string; managed: boolean }[]> {
    const { rows } = await this.db.query(
      'SELECT email, account_id, origin, state, managed FROM links WHERE connection_id = $1 ORDER BY email',
      [this.connectionId],
    );
    return rows as never;
  }

  // ---- what the fakes saw ---------------------------------------------------------------------------------

  /** Remembers the fakes' current account emails and group names (called before every wait). */
  rememberNames(): void {
    for (const user of this.jira.users.values()) this.accountEmails.set(user.accountId, user.emailAddress);
    for (const group of this.jira.groups.values()) this.groupNames.set(group.groupId, group.name);
  }

  private who(accountId: string | null | undefined): string {
    if (accountId === '' || accountId === null || accountId === undefined) return '(none)';
    return this.accountEmails.get(accountId) ?? this.jira.users.get(accountId)?.emailAddress ?? accountId;
  }

  private groupOf(query: URLSearchParams): string {
    const id = query.get('groupId');
    return query.get('groupname') ?? (id ? (this.groupNames.get(id) ?? this.jira.groups.get(id)?.name ?? id) : '?');
  }

  /** Every non-GET request the Jira fake received, as readable lines; `applied` keeps only 2xx answers. */
  jiraWrites(options: { applied?: boolean } = { applied: true }): WriteLine[] {
    this.rememberNames();
    return this.jira.server.log.filter((entry) => entry.method !== 'GET' && (!options.applied || isSuccess(entry))).map((entry) => this.describeJira(entry));
  }

  /** Every non-GET request the org fake received, as readable lines; `applied` keeps only 2xx answers. */
  orgWrites(options: { applied?: boolean } = { applied: true }): WriteLine[] {
    return this.org.server.log.filter((entry) => entry.method !== 'GET' && (!options.applied || isSuccess(entry))).map((entry) => this.describeOrg(entry));
  }

  /** Both fakes' applied writes, in the order they arrived. */
  allWrites(): WriteLine[] {
    this.rememberNames();
    const stamped = [...this.jira.server.log.map((entry) => ({ entry, org: false })), ...this.org.server.log.map((entry) => ({ entry, org: true }))];
    return stamped
      .filter(({ entry }) => entry.method !== 'GET' && isSuccess(entry))
      .sort((a, b) => (a.entry.seq ?? 0) - (b.entry.seq ?? 0))
      .map(({ entry, org }) => (org ? this.describeOrg(entry) : this.describeJira(entry)));
  }

  clearLogs(): void {
    this.rememberNames();
    this.jira.server.clearLog();
    this.org.server.clearLog();
  }

  describeJira(entry: LoggedRequest): WriteLine {
    const query = new URLSearchParams(entry.query);
    const body = (entry.body ?? {}) as Record<string, unknown>;
    switch (`${entry.method} ${entry.route}`) {
      case 'POST /rest/api/3/user':
        return `create-user ${String(body.emailAddress)} [${(body.products as string[] | undefined)?.join(',') ?? ''}]`;
      case 'DELETE /rest/api/3/user':
        return `remove-from-site ${this.who(query.get('accountId'))}`;
      case 'POST /rest/api/3/group':
        return `create-group ${String(body.name)}`;
      case 'DELETE /rest/api/3/group':
        return `delete-group ${this.groupOf(query)}`;
      case 'POST /rest/api/3/group/user':
        return `add-member ${this.groupOf(query)} ${this.who(body.accountId as string)}`;
      case 'DELETE /rest/api/3/group/user':
        return `remove-member ${this.groupOf(query)} ${this.who(query.get('accountId'))}`;
      case 'PUT /rest/api/3/project/:projectIdOrKey':
        return `project-lead ${entry.path.split('/').pop()} ${this.who(body.leadAccountId as string)}`;
      case 'PUT /rest/api/3/component/:id':
        return `component-lead ${entry.path.split('/').pop()} ${this.who(body.leadAccountId as string)}`;
      default:
        return `${entry.method} ${entry.path}${entry.query}`;
    }
  }

  describeOrg(entry: LoggedRequest): WriteLine {
    const accountId = /\/users\/([^/]+)\/manage/.exec(entry.path)?.[1];
    if (accountId && entry.path.endsWith('/lifecycle/disable')) return `org-disable ${this.who(decodeURIComponent(accountId))}`;
    if (accountId && entry.path.endsWith('/lifecycle/enable')) return `org-enable ${this.who(decodeURIComponent(accountId))}`;
    if (accountId && entry.method === 'PATCH') return `org-profile ${this.who(decodeURIComponent(accountId))} ${JSON.stringify(entry.body)}`;
    if (accountId && entry.method === 'PUT' && entry.path.endsWith('/manage/email')) return `org-email ${this.who(decodeURIComponent(accountId))} ${JSON.stringify(entry.body)}`;
    const directoryUser = /\/directories\/[^/]+\/users\/([^/]+)\/(suspend|restore)$/.exec(entry.path);
    if (directoryUser) return `org-${directoryUser[2]} ${this.who(decodeURIComponent(directoryUser[1]!))}`;
    return `org ${entry.method} ${entry.path}`;
  }

  async stop(): Promise<void> {
    // Bounded: an instance whose database handle was crashed never finishes stopping (its poll never answers).
    for (const instance of new Set([this.jobs, ...this.extraInstances])) await Promise.race([instance.stop().catch(() => undefined), sleep(3000)]);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await this.jira?.stop();
    await this.org?.stop();
    await this.stopOtherFakes();
    await this.confluence?.stop();
    await this.bitbucket?.stop();
    await this.t.destroy();
  }
}

function isSuccess(entry: LoggedRequest): boolean {
  return entry.status >= 200 && entry.status < 300;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits (bounded) for a condition, with a message that says what was awaited. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/**
 * A database handle for an instance that is about to die: once `crash()` is called no query of it reaches the
 * database any more (a new query never answers; one inside an open transaction fails, so that transaction is
 * never committed), as if the process had stopped. Used by the crash scenarios.
 */
export function crashableDatabase(db: Database): Database & { crash(): void; crashed: boolean } {
  let crashed = false;
  const hang = <T>(): Promise<T> => new Promise<T>(() => undefined);
  // Inside a transaction a crash fails the query, so the real transaction rolls back and frees its connection
  // (the embedded database has only one); what the dead instance does next hangs at its next query.
  const wrapClient = (client: pg.PoolClient): pg.PoolClient =>
    new Proxy(client, {
      get(target, property, receiver) {
        if (property === 'query') {
          return (...args: unknown[]) =>
            crashed ? Promise.reject(new Error('instance crashed')) : (target.query as (...a: unknown[]) => unknown).apply(target, args);
        }
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
  const handle = {
    kind: db.kind,
    pool: db.pool,
    get crashed() {
      return crashed;
    },
    crash() {
      crashed = true;
    },
    query: ((text: string, params?: unknown[]) => (crashed ? hang() : db.query(text, params))) as Database['query'],
    transaction: (<T>(work: (client: pg.PoolClient) => Promise<T>) => (crashed ? hang<T>() : db.transaction((client) => work(wrapClient(client))))) as Database['transaction'],
    close: async () => undefined,
  };
  return handle;
}

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { loadConfig, type Config } from '../src/config';
import { TenantStore } from '../src/connect/tenants';
import { ConnectionService, type Connection } from '../src/connections/service';
import { createLogger, type Logger } from '../src/logging/logger';
import { listen, openRuntime, type RunningServer, type Runtime } from '../src/runtime';
import { savePullConfig } from '../src/sources/config';
import { saveSettings } from '../src/sync/settings';
import { TargetStore, type StoredTarget } from '../src/targets/store';
import type { TargetInput } from '../src/targets/config';
import type { ConnectionCheck } from '../src/targets/types';
import { DEV_ACCOUNT_ID, DEV_TENANT_CLIENT_KEY } from '../src/web/dev';
import { FakeAtlassianOrg } from '../test/fakes/fake-atlassian-org';
import { FakeBitbucketCloud } from '../test/fakes/fake-bitbucket-cloud';
import { FakeConfluenceCloud } from '../test/fakes/fake-confluence-cloud';
import { FakeJiraCloud } from '../test/fakes/fake-jira-cloud';
import { IdpDirectory } from '../test/fakes/idp/directory-data';
import { FakeMiniOrange } from '../test/fakes/idp/fake-miniorange';

/**
 * The developer sandbox: the app as `npm start` runs it (embedded database, development mode, the /dev host),
 * with the same fakes the tests use standing in for Jira Cloud, Confluence Cloud, Bitbucket Cloud, the
 * Atlassian organization and miniOrange, all on loopback, and the local tenant (the one /dev acts for) given
 * targets for each fake and a miniOrange app that pulls from the fake. `npm run sandbox` (sandbox/main.ts) and
 * the browser test of the README's "Try it" both start it through `startSandbox`.
 *
 * Seeding is idempotent: targets and the app are found by name and pointed at this run's fakes (their ports
 * change on every start), never created twice. The fakes keep their state in memory only, so a restart empties
 * them while the database remembers what was synced; `reset` starts over with an empty database too.
 */

/**
 * Operator settings the sandbox needs on top of a development install. Outbound calls to loopback and
 * private addresses are refused unless the operator allow-lists them; the fakes live on 127.0.0.1.
 */
export const SANDBOX_OPERATOR_ENV: Record<string, string> = {
  EGRESS_ALLOW: '127.0.0.1',
};

/** Names the sandbox gives what it creates; finding them by name is what makes a second start a no-op. */
export const SANDBOX_NAMES = {
  jira: 'Jira (sandbox)',
  confluence: 'Confluence (sandbox)',
  bitbucket: 'Bitbucket (sandbox)',
  org: 'Atlassian organization (sandbox)',
  connection: 'miniOrange (sandbox)',
} as const;

/** Credentials the fakes accept; they only ever exist on loopback. */
const SITE_ADMIN = { email: 'admin@example.com', apiToken: 'sandbox-site-token' };
const BITBUCKET_ADMIN = { username: 'admin@example.com', apiToken: 'sandbox-bitbucket-token' };
const ORG_API_KEY = 'sandbox-org-api-key';
/** What an admin types under Pull credentials to read the fake miniOrange (printed by `npm run sandbox`). */
export const MINIORANGE_CREDENTIALS = { customerKey: '271828', apiKey: 'sandbox-miniorange-api-key' };
export const BITBUCKET_WORKSPACE = 'acme';

export interface SandboxOptions {
  /** The app's port; 0 picks a free one (tests). Default: PORT from `env`, else 3000. */
  port?: number;
  /** The environment the app's configuration is read from (the sandbox overrides what it must). */
  env?: NodeJS.ProcessEnv;
  /** Embedded database folder. Default: ./data/sandbox, apart from a real install's ./data. */
  dataDir?: string;
  /** Use this Postgres database instead of the embedded one (the browser test on Postgres). */
  databaseUrl?: string;
  /** Empty the embedded database folder first. */
  reset?: boolean;
  logger?: Logger;
}

export interface SandboxSeed {
  /** Each target, whether this start created it, and what testing its connection to the fake found. */
  targets: { target: StoredTarget; created: boolean; check: ConnectionCheck }[];
  connection: Connection;
  /** True when this start created the miniOrange app; false when it found the one a previous start made. */
  connectionCreated: boolean;
  /** A SCIM bearer token for the app: the first one, or a fresh one (earlier ones keep working for a grace period). */
  scimToken: string;
}

export interface Sandbox extends SandboxSeed {
  /** The app's base URL (also the base of the SCIM URLs it shows). */
  url: string;
  /** The stand-in Jira admin area. */
  devUrl: string;
  config: Config;
  runtime: Runtime;
  fakes: {
    jira: FakeJiraCloud;
    confluence: FakeConfluenceCloud;
    bitbucket: FakeBitbucketCloud;
    org: FakeAtlassianOrg;
    miniOrange: FakeMiniOrange;
    /** What the fake miniOrange serves; change it between pulls to see the sync follow. */
    directory: IdpDirectory;
  };
  /** Stops the app (letting a running sync finish or hand its job back), then the fakes. Idempotent. */
  stop(): Promise<void>;
}

/** The people and groups the fake miniOrange holds: a small company, one of them already off-boarded. */
export function sampleDirectory(): IdpDirectory {
  const directory = new IdpDirectory();
  const people: [string, string, string, boolean][] = [
    ['mo-1', 'Priya', 'Patel', true],
    ['mo-2', 'Tom', 'Becker', true],
    ['mo-3', 'Mei', 'Chen', true],
    ['mo-4', 'Omar', 'Haddad', true],
    ['mo-5', 'Lena', 'Novak', false],
  ];
  for (const [id, givenName, familyName, active] of people) {
    const email = `${givenName.toLowerCase()}.${familyName.toLowerCase()}@example.com`;
    directory.addUser({ id, userName: email, email, givenName, familyName, active });
  }
  directory.addGroup({ id: 'mo-g1', name: 'Engineering', members: ['mo-1', 'mo-2', 'mo-3'] });
  directory.addGroup({ id: 'mo-g2', name: 'Support', members: ['mo-3', 'mo-4'] });
  return directory;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const env = options.env ?? process.env;
  const requestedPort = options.port ?? (env.PORT !== undefined ? Number(env.PORT) : 3000);
  const port = requestedPort === 0 ? await freePort() : requestedPort;
  const dataDir = options.dataDir ?? path.join('data', 'sandbox');
  if (options.reset && !options.databaseUrl && dataDir !== 'memory://') fs.rmSync(dataDir, { recursive: true, force: true });

  const config = loadConfig({
    LOG_LEVEL: 'warn',
    ...env,
    ...SANDBOX_OPERATOR_ENV,
    NODE_ENV: 'development',
    DEV_HOST_ENABLED: 'true',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    DATABASE_URL: options.databaseUrl,
  });
  const logger = options.logger ?? createLogger({ level: config.logLevel });

  const directory = sampleDirectory();
  const fakes = {
    jira: new FakeJiraCloud({ credentials: { [SITE_ADMIN.email]: SITE_ADMIN.apiToken } }),
    confluence: new FakeConfluenceCloud({ credentials: { [SITE_ADMIN.email]: SITE_ADMIN.apiToken } }),
    bitbucket: new FakeBitbucketCloud(BITBUCKET_WORKSPACE, { [BITBUCKET_ADMIN.username]: BITBUCKET_ADMIN.apiToken }),
    org: new FakeAtlassianOrg({ apiKeys: { [ORG_API_KEY]: 'org-admin' } }),
    miniOrange: new FakeMiniOrange({ data: directory, ...MINIORANGE_CREDENTIALS }),
    directory,
  };
  fakes.org.manageAccountsOf(fakes.jira);

  const servers = [fakes.jira, fakes.confluence, fakes.bitbucket, fakes.org, fakes.miniOrange];
  const stopFakes = () => Promise.all(servers.map((server) => server.stop().catch(() => undefined)));
  let runtime: Runtime | undefined;
  let running: RunningServer | undefined;
  try {
    await Promise.all(servers.map((server) => server.start()));
    runtime = await openRuntime(config, logger);
    const seed = await seedSandbox(runtime, fakes);
    running = await listen(runtime);
    const server = running;
    let stopping: Promise<void> | undefined;
    return {
      ...seed,
      url: config.baseUrl,
      devUrl: `${config.baseUrl}/dev`,
      config,
      runtime,
      fakes,
      stop: () =>
        (stopping ??= (async () => {
          await server.stop();
          await stopFakes();
        })()),
    };
  } catch (error) {
    if (running) await running.stop();
    else if (runtime) await runtime.db.close();
    await stopFakes();
    throw error;
  }
}

/**
 * Gives the local tenant a target per fake and a miniOrange app pulling from the fake miniOrange; finds
 * what an earlier start made (by name) and points it at this start's fakes instead of making it again.
 */
export async function seedSandbox(runtime: Runtime, fakes: Sandbox['fakes']): Promise<SandboxSeed> {
  const { config, db, secrets } = runtime;
  const tenants = new TenantStore(db, secrets);
  // The tenant /dev acts for, created as /dev creates it on first use.
  const tenant =
    (await tenants.findByClientKey(DEV_TENANT_CLIENT_KEY).then((found) => (found && !found.uninstalledAt ? found : null))) ??
    (await tenants.createLocal({ clientKey: DEV_TENANT_CLIENT_KEY, baseUrl: `${config.baseUrl}/dev/jira` })).tenant;

  const store = new TargetStore(db, secrets);
  const existing = await store.list(tenant.id);
  const upsert = async (input: TargetInput & { name: string }): Promise<{ target: StoredTarget; created: boolean }> => {
    const found = existing.find((t) => t.name === input.name);
    if (!found) return { target: await store.create(tenant.id, input), created: true };
    const { baseUrl, settings, credentials } = input as { baseUrl: string; settings?: Record<string, unknown>; credentials: Record<string, unknown> };
    return { target: await store.update(tenant.id, found.id, { baseUrl, settings, credentials, enabled: true }), created: false };
  };

  const org = await upsert({
    kind: 'atlassian-org',
    name: SANDBOX_NAMES.org,
    baseUrl: fakes.org.baseUrl,
    settings: { orgId: fakes.org.orgId },
    credentials: { apiKey: ORG_API_KEY },
  });
  const jira = await upsert({
    kind: 'jira-cloud',
    name: SANDBOX_NAMES.jira,
    baseUrl: fakes.jira.baseUrl,
    settings: { orgTargetId: org.target.id },
    credentials: SITE_ADMIN,
  });
  const confluence = await upsert({ kind: 'confluence-cloud', name: SANDBOX_NAMES.confluence, baseUrl: fakes.confluence.baseUrl, credentials: SITE_ADMIN });
  const bitbucket = await upsert({
    kind: 'bitbucket-cloud',
    name: SANDBOX_NAMES.bitbucket,
    baseUrl: fakes.bitbucket.baseUrl,
    settings: { workspace: BITBUCKET_WORKSPACE },
    credentials: BITBUCKET_ADMIN,
  });

  const connections = new ConnectionService(db, { baseUrl: config.baseUrl, tokenGraceSeconds: config.scim.tokenGraceSeconds });
  const found = (await connections.list({ tenantClientKey: DEV_TENANT_CLIENT_KEY })).find((c) => c.name === SANDBOX_NAMES.connection);
  let connection: Connection;
  let scimToken: string;
  if (found) {
    connection = found;
    // Tokens are stored hashed, so the one printed last time cannot be shown again: issue a new one (the old
    // one keeps working for the grace period, so an IdP already configured with it goes on working too).
    scimToken = (await connections.rotateToken(found.id)).token;
  } else {
    ({ connection, token: scimToken } = await connections.create({ tenantClientKey: DEV_TENANT_CLIENT_KEY, name: SANDBOX_NAMES.connection, provider: 'miniorange' }));
    // Group sync is off by default; the sandbox's app shows it on. Later edits on the admin pages are kept.
    await saveSettings(db, {
      tenantId: tenant.id,
      connectionId: connection.id,
      actor: DEV_ACCOUNT_ID,
      settings: { user: { productsOnCreate: ['jira-software'] }, group: { mapping: 'on-the-fly' } },
    });
  }
  await savePullConfig(db, secrets, connection.id, { kind: 'miniorange', baseUrl: fakes.miniOrange.baseUrl, ...MINIORANGE_CREDENTIALS });

  // Tested as an admin would after adding them, so the Targets page shows each one reachable (or why not).
  const targets = await Promise.all(
    [org, jira, confluence, bitbucket].map(async (entry) => ({ ...entry, check: await store.testConnection(tenant.id, entry.target.id) })),
  );
  return { targets, connection, connectionCreated: !found, scimToken };
}

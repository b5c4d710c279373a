import { z } from 'zod';
import { EgressPolicy, parseAllowList } from '../egress/policy';
import { SCIM_LIMITS } from '../scim/limits';

/**
 * The whole runtime configuration comes from environment variables, validated once at start.
 * Every variable is documented in `.env.example`; keep the two in step.
 */

const booleanFromEnv = z.stringbool({ truthy: ['1', 'true', 'yes', 'on'], falsy: ['0', 'false', 'no', 'off', ''] });

const httpUrl = z
  .url({ protocol: /^https?$/ })
  .transform((value) => value.replace(/\/+$/, ''));

const postgresUrl = z
  .string()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// or postgresql:// URL');

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Default: 0.0.0.0 in production, 127.0.0.1 otherwise (a development server is not for the network). */
  HOST: z.string().min(1).optional(),
  /** Public base URL of this app as Atlassian sees it (also the base of every SCIM URL). */
  APP_BASE_URL: httpUrl.optional(),
  DATABASE_URL: postgresUrl.optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  DATABASE_SSL: booleanFromEnv.default(false),
  /**
   * Send parameterised statements as named prepared statements (parsed and planned once per connection).
   * Turn off behind a pooler that does not carry prepared statements across its connections (PgBouncer in
   * transaction mode before 1.21, some cloud proxies).
   */
  DATABASE_PREPARED_STATEMENTS: booleanFromEnv.default(true),
  /** Folder for the embedded database, its lock and the development encryption key. `memory://` = in memory. */
  DATA_DIR: z.string().min(1).default('./data'),
  /** Comma-separated `keyId:base64key` pairs (32-byte AES keys). The first encrypts; all decrypt. */
  ENCRYPTION_KEYS: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Hosts allowed to install the app (globs, comma-separated), checked against the install's baseUrl. */
  CONNECT_HOST_ALLOWLIST: z.string().min(1).default('*.atlassian.net,*.jira.com,*.jira-dev.com'),
  /** Where the RS256 keys of signed lifecycle callbacks are fetched, instead of Atlassian's key servers. Tests point it at a loopback key server. */
  CONNECT_KEYS_CDN_URL: httpUrl.optional(),
  /** Seconds to wait for in-flight requests on SIGTERM before closing the database anyway. */
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(300).default(10),
  /** Maximum accepted JSON request body, in bytes. */
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(50 * 1024 * 1024).default(1024 * 1024),
  /** Development stand-in Jira host at /dev. Never available in production. */
  DEV_HOST_ENABLED: booleanFromEnv.optional(),
  /** Atlassian's OAuth 2.0 authorization server (JWT bearer grant, to ask Jira whether a user is an admin). */
  CONNECT_OAUTH_SERVER_URL: httpUrl.default('https://oauth-2-authorization-server.services.atlassian.com'),
  /** Seconds a user's Jira-administrator answer is cached per tenant. */
  ADMIN_CHECK_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  AC_OPTS: z.string().optional(),
  /** SCIM push (src/scim): requests per second each connection may make (token bucket; 0 = no limit). */
  SCIM_RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).max(100_000).default(50),
  /** SCIM push: burst size of that bucket (requests accepted at once after a quiet period). */
  SCIM_RATE_LIMIT_BURST: z.coerce.number().int().min(1).max(100_000).default(100),
  /** Seconds a rotated-out SCIM bearer token keeps working, so the IdP can be switched over without a gap. */
  SCIM_TOKEN_GRACE_SECONDS: z.coerce.number().int().min(0).max(30 * 86400).default(86400),
  /** Largest SCIM page (count) served; advertised as filter.maxResults in /ServiceProviderConfig. */
  SCIM_MAX_RESULTS: z.coerce.number().int().min(1).max(10_000).default(1000),
  /** SCIM push: requests per second (and burst) one client address may make without a valid token (0 = no limit). */
  SCIM_UNAUTHENTICATED_PER_SECOND: z.coerce.number().min(0).max(100_000).default(5),
  SCIM_UNAUTHENTICATED_BURST: z.coerce.number().int().min(1).max(100_000).default(20),
  /** SCIM push: seconds a request body may take to arrive once its headers are in (0 = no limit but the server's). */
  SCIM_BODY_TIMEOUT_SECONDS: z.coerce.number().min(0).max(300).default(15),
  /**
   * SCIM push: a page of a list answer stops early when its resources pass this many bytes. Default: 1 MiB
   * on Postgres, less on the embedded database, where a page's work holds every tenant (scimLimitsFor).
   */
  SCIM_MAX_PAGE_BYTES: z.coerce.number().int().min(64 * 1024).max(256 * 1024 * 1024).optional(),
  /**
   * SCIM push: group members one request may name (POST/PUT members, all the members operations of a PATCH);
   * 400 tooMany beyond. Default: SCIM_LIMITS.maxMembers on Postgres, less on the embedded database (scimLimitsFor).
   */
  SCIM_MAX_MEMBERS: z.coerce.number().int().min(100).max(SCIM_LIMITS.maxMembers).optional(),
  /** Seconds an accepted SCIM token is remembered in memory (revocation takes effect within it; 0 = ask every time). */
  SCIM_AUTH_CACHE_SECONDS: z.coerce.number().min(0).max(300).default(5),
  /** Sync jobs (src/jobs): worker and schedule ticker on this instance, and the queue's policy. */
  JOBS_WORKER_ENABLED: booleanFromEnv.default(true),
  JOBS_SCHEDULER_ENABLED: booleanFromEnv.default(true),
  JOBS_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(2),
  JOBS_LEASE_SECONDS: z.coerce.number().int().min(2).max(3600).default(60),
  JOBS_POLL_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  JOBS_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(5),
  JOBS_RETRY_BASE_SECONDS: z.coerce.number().min(0).max(3600).default(30),
  JOBS_RETRY_MAX_SECONDS: z.coerce.number().min(0).max(86_400).default(900),
  JOBS_CHANGE_DEBOUNCE_MS: z.coerce.number().int().min(0).max(600_000).default(5000),
  JOBS_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  SCHEDULER_TICK_SECONDS: z.coerce
    .number()
    .int()
    .refine((n) => n === 60 || (n >= 1 && n < 60 && 60 % n === 0), 'must be 60 or a whole divisor of 60')
    .default(60),
  /**
   * Outbound calls (src/egress): hosts, addresses and CIDRs beyond the public internet that targets and pull
   * sources may reach (a Data Center server or Keycloak on the internal network, a loopback fake in tests),
   * comma-separated. A listed host is also exempt from the cloud kinds' vendor-host and https rules.
   */
  EGRESS_ALLOW: z
    .string()
    .default('')
    .superRefine((value, context) => {
      try {
        parseAllowList(value);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
      }
    }),
  /** Largest response body an outbound call reads, in bytes. */
  EGRESS_MAX_RESPONSE_BYTES: z.coerce.number().int().min(64 * 1024).max(512 * 1024 * 1024).default(16 * 1024 * 1024),
  /** Ceiling for one outbound call, connect to last byte, in seconds. */
  EGRESS_TIMEOUT_SECONDS: z.coerce.number().min(1).max(600).default(60),
  /** Accept six-field (seconds) cron schedules. For tests only; refused in production. */
  SCHEDULE_ALLOW_SECONDS: booleanFromEnv.default(false),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env['NODE_ENV'];
  isProduction: boolean;
  port: number;
  host: string;
  baseUrl: string;
  database:
    | { kind: 'postgres'; url: string; poolMax: number; ssl: boolean; /** Default true. */ preparedStatements?: boolean }
    | { kind: 'pglite'; dataDir: string };
  dataDir: string;
  encryptionKeys: string | undefined;
  logLevel: Env['LOG_LEVEL'];
  connect: { hostAllowlist: string[]; keysCdnUrl: string | undefined };
  shutdownGraceMs: number;
  maxBodyBytes: number;
  devHostEnabled: boolean;
  scim: {
    rateLimitPerSecond: number;
    rateLimitBurst: number;
    tokenGraceSeconds: number;
    maxResults: number;
    authCacheSeconds: number;
    unauthenticatedPerSecond: number;
    unauthenticatedBurst: number;
    bodyTimeoutMs: number;
    /** Set by SCIM_MAX_PAGE_BYTES; otherwise the database's default (scimLimitsFor in src/scim/limits.ts). */
    maxPageBytes?: number;
    /** Set by SCIM_MAX_MEMBERS; otherwise the database's default (scimLimitsFor in src/scim/limits.ts). */
    maxMembers?: number;
  };
  adminCheck: { oauthServerUrl: string; cacheMs: number };
  egress: { allow: string[]; maxResponseBytes: number; timeoutMs: number };
  jobs: {
    workerEnabled: boolean;
    schedulerEnabled: boolean;
    concurrency: number;
    leaseSeconds: number;
    pollMs: number;
    maxAttempts: number;
    retryBaseSeconds: number;
    retryMaxSeconds: number;
    changeDebounceMs: number;
    retentionDays: number;
    schedulerTickSeconds: number;
    allowSecondsInSchedules: boolean;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment. Throws a ConfigError that names every invalid variable at once. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  const env = parsed.data;
  const problems: string[] = [];
  const isProduction = env.NODE_ENV === 'production';

  if (isProduction && !env.ENCRYPTION_KEYS) {
    problems.push('ENCRYPTION_KEYS: required in production (see README, "Encryption keys")');
  }
  if (isProduction && !env.APP_BASE_URL) {
    problems.push('APP_BASE_URL: required in production (the public https URL Atlassian calls)');
  }
  if (isProduction && env.APP_BASE_URL && !env.APP_BASE_URL.startsWith('https://')) {
    problems.push('APP_BASE_URL: must be https in production');
  }
  if (env.AC_OPTS && /no-auth|no-token-verfication/.test(env.AC_OPTS)) {
    problems.push('AC_OPTS: "no-auth" and "no-token-verfication" switch JWT checks off and are refused');
  }
  if (isProduction && env.DEV_HOST_ENABLED) {
    problems.push('DEV_HOST_ENABLED: the development host cannot be enabled in production');
  }
  if (isProduction && env.SCHEDULE_ALLOW_SECONDS) {
    problems.push('SCHEDULE_ALLOW_SECONDS: seconds-level schedules are for tests and are refused in production');
  }
  // The operator's own outbound URLs follow the same egress rules as a tenant's. Their calls go through the
  // egress layer, which checks again at connect time; this check turns a misconfiguration into a start error.
  const egressPolicy = new EgressPolicy(parseAllowList(env.EGRESS_ALLOW));
  for (const [name, url] of [['CONNECT_KEYS_CDN_URL', env.CONNECT_KEYS_CDN_URL], ['CONNECT_OAUTH_SERVER_URL', env.CONNECT_OAUTH_SERVER_URL]] as const) {
    const refusal = url ? egressPolicy.refusalForUrl(url) : null;
    if (refusal) problems.push(`${name}: ${refusal.message}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const baseUrl = env.APP_BASE_URL ?? `http://localhost:${env.PORT}`;
  return {
    env: env.NODE_ENV,
    isProduction,
    port: env.PORT,
    host: env.HOST ?? (isProduction ? '0.0.0.0' : '127.0.0.1'),
    baseUrl,
    database: env.DATABASE_URL
      ? { kind: 'postgres', url: env.DATABASE_URL, poolMax: env.DATABASE_POOL_MAX, ssl: env.DATABASE_SSL, preparedStatements: env.DATABASE_PREPARED_STATEMENTS }
      : { kind: 'pglite', dataDir: env.DATA_DIR },
    dataDir: env.DATA_DIR,
    encryptionKeys: env.ENCRYPTION_KEYS,
    logLevel: env.LOG_LEVEL,
    connect: {
      hostAllowlist: env.CONNECT_HOST_ALLOWLIST.split(',').map((h) => h.trim()).filter(Boolean),
      keysCdnUrl: env.CONNECT_KEYS_CDN_URL,
    },
    shutdownGraceMs: env.SHUTDOWN_GRACE_SECONDS * 1000,
    maxBodyBytes: env.MAX_BODY_BYTES,
    devHostEnabled: !isProduction && (env.DEV_HOST_ENABLED ?? true),
    scim: {
      rateLimitPerSecond: env.SCIM_RATE_LIMIT_PER_SECOND,
      rateLimitBurst: env.SCIM_RATE_LIMIT_BURST,
      tokenGraceSeconds: env.SCIM_TOKEN_GRACE_SECONDS,
      maxResults: env.SCIM_MAX_RESULTS,
      authCacheSeconds: env.SCIM_AUTH_CACHE_SECONDS,
      unauthenticatedPerSecond: env.SCIM_UNAUTHENTICATED_PER_SECOND,
      unauthenticatedBurst: env.SCIM_UNAUTHENTICATED_BURST,
      bodyTimeoutMs: env.SCIM_BODY_TIMEOUT_SECONDS * 1000,
      maxPageBytes: env.SCIM_MAX_PAGE_BYTES,
      maxMembers: env.SCIM_MAX_MEMBERS,
    },
    adminCheck: { oauthServerUrl: env.CONNECT_OAUTH_SERVER_URL, cacheMs: env.ADMIN_CHECK_CACHE_SECONDS * 1000 },
    egress: {
      allow: env.EGRESS_ALLOW.split(/[\s,]+/).filter(Boolean),
      maxResponseBytes: env.EGRESS_MAX_RESPONSE_BYTES,
      timeoutMs: env.EGRESS_TIMEOUT_SECONDS * 1000,
    },
    jobs: {
      workerEnabled: env.JOBS_WORKER_ENABLED,
      schedulerEnabled: env.JOBS_SCHEDULER_ENABLED,
      concurrency: env.JOBS_CONCURRENCY,
      leaseSeconds: env.JOBS_LEASE_SECONDS,
      pollMs: env.JOBS_POLL_MS,
      maxAttempts: env.JOBS_MAX_ATTEMPTS,
      retryBaseSeconds: env.JOBS_RETRY_BASE_SECONDS,
      retryMaxSeconds: env.JOBS_RETRY_MAX_SECONDS,
      changeDebounceMs: env.JOBS_CHANGE_DEBOUNCE_MS,
      retentionDays: env.JOBS_RETENTION_DAYS,
      schedulerTickSeconds: env.SCHEDULER_TICK_SECONDS,
      allowSecondsInSchedules: env.SCHEDULE_ALLOW_SECONDS,
    },
  };
}

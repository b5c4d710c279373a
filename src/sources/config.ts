import { z } from 'zod';
import type { Queryable } from '../db/database';
import type { SecretBox } from '../security/crypto';
import { egress } from '../egress';
import type { SourceKind } from './types';

/**
 * A connection's pull configuration: which IdP API to read and with which credentials. It is validated
 * here (one zod schema per kind) and stored sealed (SecretBox) in connections.pull_config_sealed, with
 * its kind in connections.pull_kind; it is only ever opened in memory to build a Source.
 */

/**
 * An IdP URL: any public host; non-public addresses (loopback, RFC 1918, link-local, …) only where the
 * operator lists them in EGRESS_ALLOW (a Keycloak on the internal network, a loopback fake in tests).
 */
const baseUrl = z
  .url({ protocol: /^https?$/ })
  .transform((value) => value.replace(/\/+$/, ''))
  .superRefine((value, context) => {
    const refusal = egress().policy.refusalForUrl(value, { what: 'a pull source' });
    if (refusal) context.addIssue({ code: 'custom', message: refusal.message });
  });

const URL_FIELDS = ['baseUrl', 'authorityBaseUrl', 'graphBaseUrl'] as const;
const secret = z.string().trim().min(1);

export const miniOrangePullConfigSchema = z.object({
  kind: z.literal('miniorange'),
  /** https://login.xecurify.com, https://auth.miniorange.com or a customer-specific domain. */
  baseUrl: baseUrl.default('https://login.xecurify.com'),
  customerKey: secret,
  apiKey: secret,
  /** Overrides of single endpoint paths (see MINIORANGE_ENDPOINTS in miniorange.ts and docs/sources.md). */
  endpoints: z
    .object({
      serverTime: z.string().startsWith('/'),
      searchUser: z.string().startsWith('/'),
      getUser: z.string().startsWith('/'),
    })
    .partial()
    .default({}),
  pageSize: z.number().int().min(1).max(1000).default(100),
  /** Sign requests with the server's clock (fetched once per pull) instead of ours: for hosts with clock skew. */
  useServerTime: z.boolean().default(false),
});

export const oktaPullConfigSchema = z.object({
  kind: z.literal('okta'),
  /** The org URL, e.g. https://example.okta.com. */
  baseUrl,
  apiToken: secret,
  /** Only the users and groups assigned to this Okta app. */
  appId: z.string().trim().min(1).optional(),
  pageSize: z.number().int().min(1).max(200).default(200),
});

export const entraPullConfigSchema = z.object({
  kind: z.literal('entra'),
  tenantId: z.string().trim().min(1),
  clientId: z.string().trim().min(1),
  clientSecret: secret,
  authorityBaseUrl: baseUrl.default('https://login.microsoftonline.com'),
  graphBaseUrl: baseUrl.default('https://graph.microsoft.com'),
  pageSize: z.number().int().min(1).max(999).default(999),
});

export const keycloakPullConfigSchema = z.object({
  kind: z.literal('keycloak'),
  /** The server root, e.g. https://sso.example.com (add /auth for Keycloak before 17). */
  baseUrl,
  realm: z.string().trim().min(1),
  /** The realm holding the client, when it is not the realm being read (e.g. master). */
  tokenRealm: z.string().trim().min(1).optional(),
  clientId: z.string().trim().min(1),
  clientSecret: secret,
  pageSize: z.number().int().min(1).max(1000).default(100),
  /** A parent group's members include its subgroups' members (as Entra's transitiveMembers do). */
  flattenSubgroups: z.boolean().default(true),
});

export const scimPullConfigSchema = z.object({
  kind: z.literal('scim'),
  /** The SCIM base URL (the one /Users and /Groups hang off). */
  baseUrl,
  bearerToken: secret,
  pageSize: z.number().int().min(1).max(1000).default(100),
});

export const pullConfigSchema = z.discriminatedUnion('kind', [
  miniOrangePullConfigSchema,
  oktaPullConfigSchema,
  entraPullConfigSchema,
  keycloakPullConfigSchema,
  scimPullConfigSchema,
]);

export type PullConfig = z.infer<typeof pullConfigSchema>;
export type PullConfigInput = z.input<typeof pullConfigSchema>;
export type MiniOrangePullConfig = z.infer<typeof miniOrangePullConfigSchema>;
export type OktaPullConfig = z.infer<typeof oktaPullConfigSchema>;
export type EntraPullConfig = z.infer<typeof entraPullConfigSchema>;
export type KeycloakPullConfig = z.infer<typeof keycloakPullConfigSchema>;
export type ScimPullConfig = z.infer<typeof scimPullConfigSchema>;

export class PullConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid pull configuration: ${problems.join('; ')}`);
    this.name = 'PullConfigError';
  }
}

/** Validates an admin's input; throws PullConfigError naming every problem (never echoing a secret). */
export function parsePullConfig(input: unknown): PullConfig {
  const parsed = pullConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new PullConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(config)'}: ${issue.message}`));
  }
  return parsed.data;
}

const SECRET_FIELDS = ['apiKey', 'apiToken', 'clientSecret', 'bearerToken'] as const;

/** The config as the admin UI may show it: secrets replaced by a marker saying one is set. */
export function describePullConfig(config: PullConfig): Record<string, unknown> {
  const shown: Record<string, unknown> = { ...config };
  for (const field of SECRET_FIELDS) if (field in shown) shown[field] = '••••••••';
  return shown;
}

export class ConnectionNotFoundError extends Error {
  constructor(readonly connectionId: string) {
    super(`connection ${connectionId} not found`);
    this.name = 'ConnectionNotFoundError';
  }
}

/**
 * Saves (or, with null, removes) a connection's pull configuration, sealed. A secret left empty in an
 * update keeps the stored one, so the admin UI need not send secrets back to change a page size.
 */
export async function savePullConfig(
  db: Queryable,
  secrets: SecretBox,
  connectionId: string,
  input: PullConfigInput | null,
): Promise<PullConfig | null> {
  if (input === null) {
    const result = await db.query(
      'UPDATE connections SET pull_kind = NULL, pull_config_sealed = NULL, updated_at = now() WHERE id = $1',
      [connectionId],
    );
    if (result.rowCount === 0) throw new ConnectionNotFoundError(connectionId);
    return null;
  }
  const merged: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  const previous = await readPullConfig(db, secrets, connectionId);
  if (previous && previous.kind === merged.kind) {
    for (const field of SECRET_FIELDS) {
      if ((merged[field] === undefined || merged[field] === '') && field in previous) {
        merged[field] = (previous as Record<string, unknown>)[field];
      }
    }
  }
  const config = parsePullConfig(merged);
  // The save-time DNS check: a name that resolves to a refused address now is refused now.
  const refusals: string[] = [];
  for (const field of URL_FIELDS) {
    const value = (config as Record<string, unknown>)[field];
    if (typeof value !== 'string') continue;
    const refusal = await egress().checkUrl(value, { what: 'a pull source' });
    if (refusal) refusals.push(`${field}: ${refusal.message}`);
  }
  if (refusals.length > 0) throw new PullConfigError(refusals);
  const result = await db.query(
    'UPDATE connections SET pull_kind = $2, pull_config_sealed = $3, updated_at = now() WHERE id = $1',
    [connectionId, config.kind, secrets.sealJson(config)],
  );
  if (result.rowCount === 0) throw new ConnectionNotFoundError(connectionId);
  return config;
}

/** The connection's pull configuration, or null when the connection is push-only. */
export async function readPullConfig(db: Queryable, secrets: SecretBox, connectionId: string): Promise<PullConfig | null> {
  const { rows } = await db.query<{ pull_kind: SourceKind | null; pull_config_sealed: string | null }>(
    'SELECT pull_kind, pull_config_sealed FROM connections WHERE id = $1',
    [connectionId],
  );
  const row = rows[0];
  if (!row) throw new ConnectionNotFoundError(connectionId);
  if (!row.pull_kind || !row.pull_config_sealed) return null;
  // Parsed again so configs saved by an older version get today's defaults.
  return parsePullConfig(secrets.openJson(row.pull_config_sealed));
}

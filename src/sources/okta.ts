import { z } from 'zod';
import type { OktaPullConfig } from './config';
import { assertSameOrigin, joinUrl, SourceHttp, type SourceHttpOptions } from './http';
import type { Source, SourceCheck, SourceGroup, SourceUser } from './types';

/**
 * Okta Management API with an API token (`Authorization: SSWS <token>`), cursor paging through the
 * `Link: <…>; rel="next"` header, `limit` up to 200. Optionally only one app's assignments:
 * /api/v1/apps/{appId}/users and /groups. Rate limits: X-Rate-Limit-* headers, handled in http.ts.
 */

/**
 * Okta user statuses that count as active in the directory. STAGED (created, never activated),
 * SUSPENDED and DEPROVISIONED do not; PROVISIONED (activation pending), RECOVERY, PASSWORD_EXPIRED and
 * LOCKED_OUT are accounts the admin still means to exist. App assignments use ACTIVE/PROVISIONED too.
 */
const ACTIVE_STATUSES = new Set(['ACTIVE', 'PROVISIONED', 'RECOVERY', 'PASSWORD_EXPIRED', 'LOCKED_OUT', 'IMPLICIT']);

export function oktaStatusIsActive(status: string | undefined | null): boolean {
  return status ? ACTIVE_STATUSES.has(status.toUpperCase()) : true;
}

const userSchema = z
  .object({
    id: z.string().min(1),
    status: z.string().optional(),
    profile: z
      .object({
        login: z.string().min(1),
        email: z.string().nullish(),
        firstName: z.string().nullish(),
        lastName: z.string().nullish(),
        displayName: z.string().nullish(),
      })
      .loose(),
  })
  .loose();

/** An app assignment: the user id, the app username and the app's profile (names vary by app). */
const appUserSchema = z
  .object({
    id: z.string().min(1),
    status: z.string().optional(),
    credentials: z.object({ userName: z.string().min(1) }).loose().nullish(),
    profile: z.record(z.string(), z.unknown()).nullish(),
  })
  .loose();

const groupSchema = z.object({ id: z.string().min(1), profile: z.object({ name: z.string().min(1) }).loose() }).loose();

const appGroupSchema = z
  .object({
    id: z.string().min(1),
    _embedded: z.object({ group: groupSchema.optional() }).loose().optional(),
  })
  .loose();

const memberSchema = z.object({ id: z.string().min(1) }).loose();

/** The URL of `rel="next"` in a Link header, if any. */
export function nextLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (match?.[1]) return match[1];
  }
  return null;
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

export class OktaSource implements Source {
  readonly kind = 'okta' as const;
  readonly http: SourceHttp;
  private readonly headers: Record<string, string>;

  constructor(
    private readonly config: OktaPullConfig,
    http: SourceHttpOptions = {},
  ) {
    this.http = new SourceHttp('okta', http);
    this.headers = { Authorization: `SSWS ${config.apiToken}` };
  }

  async testConnection(): Promise<SourceCheck> {
    if (this.config.appId) {
      const app = await this.http.json(this.url(`/api/v1/apps/${encodeURIComponent(this.config.appId)}`), z.object({ id: z.string(), label: z.string().optional() }).loose(), { headers: this.headers });
      return { ok: true, message: `Connected to Okta; reading the assignments of app "${app.body.label ?? app.body.id}".` };
    }
    await this.http.json(this.url('/api/v1/users?limit=1'), z.array(userSchema), { headers: this.headers });
    return { ok: true, message: 'Connected to Okta; the API token can list users.' };
  }

  async *users(): AsyncIterable<SourceUser> {
    const limit = this.config.pageSize;
    if (this.config.appId) {
      for await (const assignment of this.pages(`/api/v1/apps/${encodeURIComponent(this.config.appId)}/users?limit=${limit}`, appUserSchema)) {
        const profile = assignment.profile ?? {};
        const userName = assignment.credentials?.userName ?? text(profile.email) ?? assignment.id;
        const givenName = text(profile.given_name) ?? text(profile.firstName);
        const familyName = text(profile.family_name) ?? text(profile.lastName);
        yield {
          externalId: assignment.id,
          userName,
          email: text(profile.email) ?? (userName.includes('@') ? userName : null),
          givenName,
          familyName,
          displayName: text(profile.displayName) ?? text(profile.name) ?? ([givenName, familyName].filter(Boolean).join(' ') || null),
          active: oktaStatusIsActive(assignment.status),
        };
      }
      return;
    }
    for await (const user of this.pages(`/api/v1/users?limit=${limit}`, userSchema)) {
      const { profile } = user;
      const givenName = profile.firstName ?? null;
      const familyName = profile.lastName ?? null;
      yield {
        externalId: user.id,
        userName: profile.login,
        email: profile.email ?? null,
        givenName,
        familyName,
        displayName: profile.displayName ?? ([givenName, familyName].filter(Boolean).join(' ') || null),
        active: oktaStatusIsActive(user.status),
      };
    }
  }

  async *groups(): AsyncIterable<SourceGroup> {
    const limit = this.config.pageSize;
    if (this.config.appId) {
      const path = `/api/v1/apps/${encodeURIComponent(this.config.appId)}/groups?limit=${limit}&expand=group`;
      for await (const assignment of this.pages(path, appGroupSchema)) {
        // The assignment carries only the group id unless expanded; look the name up if the expansion is missing.
        const group =
          assignment._embedded?.group ??
          (await this.http.json(this.url(`/api/v1/groups/${encodeURIComponent(assignment.id)}`), groupSchema, { headers: this.headers })).body;
        yield { externalId: group.id, displayName: group.profile.name };
      }
      return;
    }
    for await (const group of this.pages(`/api/v1/groups?limit=${limit}`, groupSchema)) {
      yield { externalId: group.id, displayName: group.profile.name };
    }
  }

  async *groupMembers(groupExternalId: string): AsyncIterable<string> {
    const path = `/api/v1/groups/${encodeURIComponent(groupExternalId)}/users?limit=${this.config.pageSize}`;
    for await (const member of this.pages(path, memberSchema)) yield member.id;
  }

  private url(path: string): string {
    return joinUrl(this.config.baseUrl, path);
  }

  private async *pages<T>(path: string, item: z.ZodType<T>): AsyncIterable<T> {
    let url: string | null = this.url(path);
    const schema = z.array(item);
    while (url) {
      const { body, response }: { body: T[]; response: Response } = await this.http.json(url, schema, { headers: this.headers });
      yield* body;
      const next = nextLink(response.headers.get('link'));
      url = next ? assertSameOrigin('okta', next, this.config.baseUrl) : null;
    }
  }
}

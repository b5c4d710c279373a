import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { MiniOrangePullConfig } from './config';
import { joinUrl, SourceHttp, type SourceHttpOptions } from './http';
import { SourceError, type Source, type SourceCheck, type SourceGroup, type SourceUser } from './types';

/**
 * miniOrange admin API. Every call is a POST with a JSON body and the documented signature headers:
 * Customer-Key, Timestamp (epoch ms) and Authorization = lowercase hex SHA-512 of
 * customerKey + timestamp + apiKey (User API guide; the Groups API guide adds Api-Key).
 *
 * What is verified and what is assumed is listed in docs/sources.md. In short: the signature, the hosts
 * and the single-user endpoints are documented; no public document we could read shows a list-users,
 * list-groups or group-members endpoint, so those three paths and their paging are ASSUMED, kept here in
 * one place and overridable per connection (pull config `endpoints`) once the tenant's real ones are known.
 */
export const MINIORANGE_ENDPOINTS = {
  /** Documented (used by miniOrange's own clients against clock skew); answers the epoch ms as text. */
  serverTime: '/moas/rest/mobile/get-timestamp',
  /** Documented: `{customerKey, username}` → status USER_FOUND | USER_NOT_FOUND | … */
  searchUser: '/moas/api/admin/users/search',
  /** Documented: `{customerKey, username}` → status SUCCESS | ERROR | FAILED with email, phone, … */
  getUser: '/moas/api/admin/users/get',
  /** ASSUMED: `{customerKey, startIndex (1-based), count}` → `{status, totalResults?, users: [...]}`. */
  listUsers: '/moas/api/admin/users/list',
  /** ASSUMED: `{customerKey, startIndex, count}` → `{status, totalResults?, groups: [{id, name}]}`. */
  listGroups: '/moas/api/admin/groups/list',
  /** ASSUMED: `{customerKey, groupId, startIndex, count}` → `{status, totalResults?, users: [...]}`. */
  listGroupMembers: '/moas/api/admin/groups/members',
} as const;

export type MiniOrangeEndpoints = { -readonly [K in keyof typeof MINIORANGE_ENDPOINTS]: string };

/** Lowercase hex SHA-512 of customerKey + timestamp + apiKey: the documented Authorization value. */
export function miniOrangeSignature(customerKey: string, timestamp: string, apiKey: string): string {
  return createHash('sha512').update(customerKey + timestamp + apiKey, 'utf8').digest('hex');
}

const INACTIVE_STATUSES = new Set(['INACTIVE', 'DISABLED', 'BLOCKED', 'LOCKED', 'SUSPENDED', 'DEACTIVATED']);

const failureStatus = z.object({ status: z.enum(['ERROR', 'FAILED']), message: z.string().optional() }).loose();

const userSchema = z
  .object({
    id: z.union([z.string(), z.number()]).optional(),
    username: z.string().min(1),
    email: z.string().nullish(),
    firstName: z.string().nullish(),
    lastName: z.string().nullish(),
    displayName: z.string().nullish(),
    status: z.string().nullish(),
    active: z.boolean().nullish(),
  })
  .loose();

const userPageSchema = z.object({
  status: z.literal('SUCCESS'),
  totalResults: z.number().int().nonnegative().optional(),
  users: z.array(userSchema),
});

const groupPageSchema = z.object({
  status: z.literal('SUCCESS'),
  totalResults: z.number().int().nonnegative().optional(),
  groups: z.array(z.object({ id: z.union([z.string(), z.number()]), name: z.string().min(1) }).loose()),
});

const memberPageSchema = z.object({
  status: z.literal('SUCCESS'),
  totalResults: z.number().int().nonnegative().optional(),
  users: z.array(z.object({ id: z.union([z.string(), z.number()]).optional(), username: z.string().min(1) }).loose()),
});

type MiniOrangeUser = z.infer<typeof userSchema>;

/** The user's stable id: miniOrange's id when the API gives one, else the username (unique per customer). */
function userKey(user: { id?: string | number | undefined; username: string }): string {
  return user.id !== undefined && user.id !== '' ? String(user.id) : user.username;
}

export function mapMiniOrangeUser(user: MiniOrangeUser): SourceUser {
  const givenName = user.firstName ?? null;
  const familyName = user.lastName ?? null;
  const status = user.status?.toUpperCase();
  return {
    externalId: userKey(user),
    userName: user.username,
    email: user.email ?? (user.username.includes('@') ? user.username : null),
    givenName,
    familyName,
    displayName: user.displayName ?? ([givenName, familyName].filter(Boolean).join(' ') || null),
    active: user.active ?? (status ? !INACTIVE_STATUSES.has(status) : true),
  };
}

export class MiniOrangeSource implements Source {
  readonly kind = 'miniorange' as const;
  readonly http: SourceHttp;
  private readonly endpoints: MiniOrangeEndpoints;
  /** Server clock minus ours, when useServerTime is on (read once per source, i.e. once per pull). */
  private clockOffsetMs: number | null = null;

  constructor(
    private readonly config: MiniOrangePullConfig,
    http: SourceHttpOptions = {},
  ) {
    this.http = new SourceHttp('miniorange', http);
    this.endpoints = { ...MINIORANGE_ENDPOINTS, ...config.endpoints };
  }

  async testConnection(): Promise<SourceCheck> {
    const page = await this.post(this.endpoints.listUsers, { startIndex: 1, count: 1 }, userPageSchema, false);
    return {
      ok: true,
      message: 'Connected to miniOrange; the admin API answered the user list.',
      details: { totalUsers: page.totalResults ?? null },
    };
  }

  async *users(): AsyncIterable<SourceUser> {
    for await (const user of this.paged(this.endpoints.listUsers, {}, userPageSchema, (page) => page.users, false)) {
      yield mapMiniOrangeUser(user);
    }
  }

  async *groups(): AsyncIterable<SourceGroup> {
    for await (const group of this.paged(this.endpoints.listGroups, {}, groupPageSchema, (page) => page.groups, true)) {
      yield { externalId: String(group.id), displayName: group.name };
    }
  }

  async *groupMembers(groupExternalId: string): AsyncIterable<string> {
    const pages = this.paged(this.endpoints.listGroupMembers, { groupId: groupExternalId }, memberPageSchema, (page) => page.users, true);
    for await (const member of pages) yield userKey(member);
  }

  /** 1-based startIndex/count paging until a short page or totalResults. */
  private async *paged<P extends { totalResults?: number | undefined }, T>(
    path: string,
    extra: Record<string, unknown>,
    schema: z.ZodType<P>,
    items: (page: P) => T[],
    groupApi: boolean,
  ): AsyncIterable<T> {
    const count = this.config.pageSize;
    for (let startIndex = 1; ; ) {
      const page = await this.post(path, { ...extra, startIndex, count }, schema, groupApi);
      const batch = items(page);
      yield* batch;
      startIndex += batch.length;
      if (batch.length < count || (page.totalResults !== undefined && startIndex > page.totalResults)) return;
    }
  }

  private async post<P>(path: string, body: Record<string, unknown>, schema: z.ZodType<P>, groupApi: boolean): Promise<P> {
    const { customerKey, apiKey } = this.config;
    const timestamp = String(Date.now() + (await this.clockOffset()));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'Customer-Key': customerKey,
      Timestamp: timestamp,
      Authorization: miniOrangeSignature(customerKey, timestamp, apiKey),
    };
    // The Groups API guide lists Api-Key among the headers; the User API guide does not.
    if (groupApi) headers['Api-Key'] = apiKey;
    const url = joinUrl(this.config.baseUrl, path);
    const { body: raw } = await this.http.json(url, z.unknown(), { method: 'POST', headers, body: JSON.stringify({ customerKey, ...body }) });
    // miniOrange reports failures in the body (status ERROR/FAILED with a message), often with HTTP 200.
    const failed = failureStatus.safeParse(raw);
    if (failed.success) {
      throw new SourceError(`POST ${url}: miniOrange answered ${failed.data.status}${failed.data.message ? ` — ${failed.data.message}` : ''}`, 'miniorange', null);
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new SourceError(`POST ${url}: unexpected response shape at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`, 'miniorange', null);
    }
    return parsed.data;
  }

  private async clockOffset(): Promise<number> {
    if (!this.config.useServerTime) return 0;
    if (this.clockOffsetMs === null) {
      const before = Date.now();
      const response = await this.http.request(joinUrl(this.config.baseUrl, this.endpoints.serverTime), { method: 'POST' });
      const text = (await response.text()).trim();
      const serverTime = Number(text);
      if (!Number.isFinite(serverTime) || serverTime <= 0) {
        throw new SourceError(`POST ${this.endpoints.serverTime}: expected the server time in epoch milliseconds`, 'miniorange', response.status);
      }
      this.clockOffsetMs = serverTime - Math.round((before + Date.now()) / 2);
    }
    return this.clockOffsetMs;
  }
}

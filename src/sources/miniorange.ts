import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { MiniOrangePullConfig } from './config';
import { joinUrl, SourceHttp, type SourceHttpOptions } from './http';
import { SourceError, type KnownUser, type Source, type SourceCheck, type SourceGroup, type SourceUser } from './types';

/**
 * miniOrange admin API. Every call is a POST with a JSON body and the documented signature headers:
 * Customer-Key, Timestamp (epoch ms) and Authorization = lowercase hex SHA-512 of
 * customerKey + timestamp + apiKey (User API guide).
 *
 * Only documented endpoints are called (docs/sources.md): the server time, and the single-user
 * `users/search` and `users/get`. miniOrange documents no way to list all users, all groups or a group's
 * members, so this source cannot read the directory: its coverage is 'known-users'. A pull refreshes the
 * users the directory already holds (pushed by miniOrange's SCIM provisioning app, the recommended path) by
 * username, reads no groups and removes no one. users(), groups() and groupMembers() say so and fail.
 */
export const MINIORANGE_ENDPOINTS = {
  /** Documented (used by miniOrange's own clients against clock skew); answers the epoch ms as text. */
  serverTime: '/moas/rest/mobile/get-timestamp',
  /** Documented: `{customerKey, username}` → status USER_FOUND | USER_NOT_FOUND | USER_FOUND_UNDER_DIFFERENT_CUSTOMER | ERROR. */
  searchUser: '/moas/api/admin/users/search',
  /** Documented: `{customerKey, username}` → status SUCCESS | ERROR | FAILED with email, phone, … */
  getUser: '/moas/api/admin/users/get',
} as const;

export type MiniOrangeEndpoints = { -readonly [K in keyof typeof MINIORANGE_ENDPOINTS]: string };

/** What a pull of miniOrange cannot do, in the words the admin sees. */
export const MINIORANGE_CANNOT_LIST =
  "miniOrange's documented admin API has no way to list all users, groups or group members; provision with miniOrange's SCIM Server (Destination) app instead (a pull only refreshes users already known)";

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

const searchSchema = z.object({ status: z.enum(['USER_FOUND', 'USER_NOT_FOUND', 'USER_FOUND_UNDER_DIFFERENT_CUSTOMER']) }).loose();

/** `users/get`: `status` is the call's outcome; the user's fields sit beside it (their state only if given). */
const getUserSchema = z
  .object({
    status: z.literal('SUCCESS'),
    id: z.union([z.string(), z.number()]).optional(),
    username: z.string().nullish(),
    email: z.string().nullish(),
    firstName: z.string().nullish(),
    lastName: z.string().nullish(),
    displayName: z.string().nullish(),
    userStatus: z.string().nullish(),
    active: z.boolean().nullish(),
  })
  .loose();

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
  readonly coverage = 'known-users' as const;
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

  /**
   * A documented, signed call: `users/search` for a username no one has. Any of its documented answers
   * (USER_NOT_FOUND above all) proves the keys and the clock; a refused signature is an ERROR or a 401.
   */
  async testConnection(): Promise<SourceCheck> {
    const probe = `connection-check-${Date.now()}@invalid.invalid`;
    await this.post(this.endpoints.searchUser, { username: probe }, searchSchema);
    return {
      ok: true,
      message: 'Connected to miniOrange: the admin API accepted the keys (user search). Pull can only refresh users already known; provision users and groups with miniOrange SCIM.',
      details: { coverage: this.coverage },
    };
  }

  /**
   * Each known user as miniOrange has them now: `users/search` says whether the username exists (its
   * documented USER_NOT_FOUND), then `users/get` reads it. Users miniOrange does not know are skipped, not
   * removed: only SCIM (or an admin) says someone is gone.
   */
  async *refreshUsers(known: AsyncIterable<KnownUser>): AsyncIterable<SourceUser> {
    for await (const user of known) {
      const search = await this.post(this.endpoints.searchUser, { username: user.userName }, searchSchema);
      if (search.status !== 'USER_FOUND') continue;
      const found = await this.post(this.endpoints.getUser, { username: user.userName }, getUserSchema);
      const mapped = mapMiniOrangeUser({ ...found, username: found.username || user.userName, status: found.userStatus ?? null });
      // The id pushed by SCIM stays the user's id; the state changes only when miniOrange states it.
      const stated = found.active != null || Boolean(found.userStatus);
      yield { ...mapped, userName: user.userName, externalId: user.externalId ?? mapped.externalId, active: stated ? mapped.active : user.active };
    }
  }

  async *users(): AsyncIterable<SourceUser> {
    throw new SourceError(MINIORANGE_CANNOT_LIST, 'miniorange');
  }

  async *groups(): AsyncIterable<SourceGroup> {
    throw new SourceError(MINIORANGE_CANNOT_LIST, 'miniorange');
  }

  async *groupMembers(_groupExternalId: string): AsyncIterable<string> {
    throw new SourceError(MINIORANGE_CANNOT_LIST, 'miniorange');
  }

  private async post<P>(path: string, body: Record<string, unknown>, schema: z.ZodType<P>): Promise<P> {
    const { customerKey, apiKey } = this.config;
    const timestamp = String(Date.now() + (await this.clockOffset()));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'Customer-Key': customerKey,
      Timestamp: timestamp,
      Authorization: miniOrangeSignature(customerKey, timestamp, apiKey),
    };
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

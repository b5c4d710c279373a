import { badRequest, ScimError } from './errors';
import { GROUP_KIND, type ResourceKind } from './schemas';

/**
 * What one SCIM request may ask of the server, so that no tenant's request can hold the process (and so
 * every other tenant) for long: the number of PATCH operations, of values of a multi-valued attribute, of
 * members named at once, the length of strings and the size of a stored resource. Each limit is checked
 * before the work it bounds, and the router advertises them in /ServiceProviderConfig (docs/scim.md).
 *
 * The string limits also keep every indexed column (userName, externalId, displayName, the primary email)
 * far below Postgres's btree row limit (about 2,700 bytes; 512 characters are at most 2,048 bytes of UTF-8),
 * which an oversized value would otherwise hit as a database error.
 */
export const SCIM_LIMITS = {
  /** Operations in one PATCH request. */
  maxOperations: 1000,
  /** Values of one multi-valued attribute of a resource (emails, phoneNumbers, addresses, roles, …). */
  maxValues: 100,
  /**
   * Group members named by one request (POST/PUT members, or all the members operations of a PATCH), and
   * values of any array in a body: the ceiling, and Postgres's default (scimLimitsFor; lower on PGlite).
   */
  maxMembers: 10_000,
  /** Characters of an identifying or indexed string (userName, displayName, externalId, emails.value). */
  maxIdentifierLength: 512,
  /** Characters of any other string attribute. */
  maxStringLength: 4096,
  /** Bytes of a stored resource (its JSON), members excepted: a user is normally well under 4 KB. */
  maxResourceBytes: 64 * 1024,
} as const;

/** The two limits whose default depends on the database: members named by one request, bytes of one page. */
export interface DatabaseLimits {
  maxMembers: number;
  maxPageBytes: number;
}

const POSTGRES_LIMITS: DatabaseLimits = { maxMembers: SCIM_LIMITS.maxMembers, maxPageBytes: 1024 * 1024 };

/**
 * Lower defaults on the embedded database (PGlite, when DATABASE_URL is unset): it is one session on the
 * server's own thread, so a request's database work holds every tenant, and the event loop, until it ends.
 * These keep the largest accepted request to a few tens of milliseconds of that work, so that another
 * tenant's p99 stays below 250 ms under the largest requests (docs/scim.md, "Fairness figures").
 */
export const EMBEDDED_DATABASE_LIMITS: DatabaseLimits = { maxMembers: 500, maxPageBytes: 128 * 1024 };

/** The limits in force: SCIM_MAX_MEMBERS / SCIM_MAX_PAGE_BYTES when set, else the database's defaults. */
export function scimLimitsFor(kind: 'postgres' | 'pglite', configured: { maxMembers?: number; maxPageBytes?: number }): DatabaseLimits {
  const defaults = kind === 'pglite' ? EMBEDDED_DATABASE_LIMITS : POSTGRES_LIMITS;
  return { maxMembers: configured.maxMembers ?? defaults.maxMembers, maxPageBytes: configured.maxPageBytes ?? defaults.maxPageBytes };
}

// Top-level attribute names (lower case) whose strings get the identifier limit; emails feed primary_email.
const IDENTIFIERS = new Set(['username', 'displayname', 'externalid', 'emails']);

const tooMany = (detail: string) => badRequest('tooMany', detail);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Array elements anywhere in a value (a member list, or `{"emails":[…]}` of a no-path add). */
function countValues(value: unknown, depth = 0): number {
  if (depth > 8) return 0;
  if (Array.isArray(value)) return value.reduce((n: number, item) => n + 1 + countValues(item, depth + 1), 0);
  if (isObject(value)) return Object.values(value).reduce((n: number, item) => n + countValues(item, depth + 1), 0);
  return 0;
}

/**
 * A PATCH body, checked before anything parses its operations: at most maxOperations operations, and at
 * most maxMembers values named by them all (a group's member changes); a user's PATCH names at most
 * maxValues × 10, since none of its attributes may hold more than maxValues. The quirks accept any
 * spelling of `Operations`, so this does too.
 */
export function checkPatchRequest(kind: ResourceKind, body: unknown, maxMembers: number = SCIM_LIMITS.maxMembers): void {
  if (!isObject(body)) return;
  checkRawBody(body);
  for (const [key, value] of Object.entries(body)) {
    if (key.toLowerCase() !== 'operations' || !Array.isArray(value)) continue;
    if (value.length > SCIM_LIMITS.maxOperations) {
      throw tooMany(`a PATCH may carry at most ${SCIM_LIMITS.maxOperations} operations (this one has ${value.length}); split it`);
    }
    const values = countValues(value) - value.length;
    const max = kind === GROUP_KIND ? maxMembers : SCIM_LIMITS.maxValues * 10;
    if (values > max) throw tooMany(`the operations of this PATCH name ${values} values; at most ${max} are accepted; split it`);
  }
}

/**
 * The raw body, before coercion: no array longer than the members limit anywhere (so coercing the body
 * costs at most that many values) and no string longer than the largest string limit.
 */
export function checkRawBody(body: unknown): void {
  // The path is kept as a stack of segments and joined only for an error: a 10,000-member body must not
  // build 10,000 path strings.
  const path: (string | number)[] = [];
  const where = () => path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || 'a value';
  const walk = (value: unknown): void => {
    if (typeof value === 'string') {
      if (value.length > SCIM_LIMITS.maxStringLength) throw badRequest('invalidValue', `${where()} is longer than ${SCIM_LIMITS.maxStringLength} characters`);
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    if (path.length > 8) throw badRequest('invalidValue', `${where()} is nested too deeply`);
    if (Array.isArray(value)) {
      if (value.length > SCIM_LIMITS.maxMembers) throw tooMany(`${where()} has ${value.length} values; at most ${SCIM_LIMITS.maxMembers} are accepted`);
      for (let i = 0; i < value.length; i++) {
        path.push(i);
        walk(value[i]);
        path.pop();
      }
      return;
    }
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      path.push(key);
      walk((value as Record<string, unknown>)[key]);
      path.pop();
    }
  };
  walk(body);
}

/**
 * A coerced resource (what would be stored): strings within their limits, multi-valued attributes within
 * maxValues, the whole within maxResourceBytes. Members are not part of a stored resource.
 */
export function checkResource(kind: ResourceKind, resource: Record<string, unknown>): void {
  const walk = (value: unknown, path: string, attribute: string): void => {
    if (typeof value === 'string') {
      const identifier = IDENTIFIERS.has(attribute);
      const max = identifier ? SCIM_LIMITS.maxIdentifierLength : SCIM_LIMITS.maxStringLength;
      if (value.length > max) throw badRequest('invalidValue', `${path} is longer than ${max} characters`);
    } else if (Array.isArray(value)) {
      if (value.length > SCIM_LIMITS.maxValues && !(kind === GROUP_KIND && attribute === 'members')) {
        throw tooMany(`${path} has ${value.length} values; at most ${SCIM_LIMITS.maxValues} are accepted`);
      }
      value.forEach((item, i) => walk(item, `${path}[${i}]`, attribute));
    } else if (isObject(value)) {
      for (const [key, inner] of Object.entries(value)) walk(inner, path ? `${path}.${key}` : key, path ? attribute : key.toLowerCase());
    }
  };
  walk(resource, '', '');
  const { members: _members, ...stored } = resource;
  const bytes = Buffer.byteLength(JSON.stringify(kind === GROUP_KIND ? stored : resource));
  if (bytes > SCIM_LIMITS.maxResourceBytes) {
    throw badRequest('invalidValue', `the ${kind.name} is ${bytes} bytes; at most ${SCIM_LIMITS.maxResourceBytes} are stored`);
  }
}

/** The members named by one request, counted before any of them reaches the database. */
export function checkMemberCount(count: number, maxMembers: number = SCIM_LIMITS.maxMembers): void {
  if (count > maxMembers) throw tooMany(`a request may name at most ${maxMembers} members (this one names ${count}); split it`);
}

/**
 * Requests that present no valid token, counted per client address (the socket's, never a forwarded
 * header a client can choose). Each costs a token lookup in the database; past the budget the answer is
 * 429 without one. The router exempts tokens it accepted recently, so an IdP behind the same proxy as a
 * noisy client keeps working.
 */
export class UnauthenticatedLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  private bucket(address: string): { tokens: number; updatedAt: number } {
    const now = this.now();
    const bucket = this.buckets.get(address) ?? { tokens: this.burst, updatedAt: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.perSecond);
    bucket.updatedAt = now;
    return bucket;
  }

  get enabled(): boolean {
    return this.perSecond > 0;
  }

  /** Throws a 429 when `address` has used up its budget of failed attempts. */
  check(address: string): void {
    if (this.perSecond <= 0) return;
    const bucket = this.bucket(address);
    if (bucket.tokens < 1) {
      const retryAfter = Math.max(1, Math.ceil((1 - bucket.tokens) / this.perSecond));
      throw new ScimError(429, 'too many requests without a valid token from this address; retry later', undefined, { 'Retry-After': String(retryAfter) });
    }
  }

  /** Records one failed attempt from `address`. */
  fail(address: string): void {
    if (this.perSecond <= 0) return;
    const bucket = this.bucket(address);
    bucket.tokens -= 1;
    this.buckets.set(address, bucket);
    if (this.buckets.size > 10_000) {
      for (const [key, b] of this.buckets) if (b.tokens + ((this.now() - b.updatedAt) / 1000) * this.perSecond >= this.burst) this.buckets.delete(key);
    }
  }
}

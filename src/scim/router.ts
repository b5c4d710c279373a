import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setImmediate as setImmediatePromise } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import express, { type ErrorRequestHandler, type NextFunction, type Request, type Response } from 'express';
import type { Config } from '../config';
import { ConnectionService, type AuthenticatedConnection } from '../connections/service';
import type { Database } from '../db/database';
import { onBehalfOf } from '../db/turns';
import { DirectoryError, DirectoryRepository, type StoredGroup, type StoredUser } from '../directory/repository';
import { SqlParams } from '../directory/sql';
import type { Logger } from '../logging/logger';
import { hashToken } from '../security/crypto';
import { badRequest, notFound, ScimError, unauthorized } from './errors';
import { filterToSql, sortToSql } from './filter';
import { checkMemberCount, checkPatchRequest, SCIM_LIMITS, scimLimitsFor, UnauthenticatedLimiter } from './limits';
import { emptyPlan, isMembersOperation, planMemberOperation } from './members';
import { applyPatch, parsePatch, type PatchOperation } from './patch';
import { normaliseBody } from './quirks';
import { RateLimiter } from './rate-limit';
import {
  coerceGroup,
  coerceResource,
  coerceUser,
  etagOf,
  parseProjection,
  project,
  projectionIncludes,
  renderGroup,
  renderUser,
  splitAttributePath,
  userWrite,
  type Projection,
} from './resource';
import {
  GROUP_KIND,
  LIST_RESPONSE_SCHEMA,
  resourceTypes,
  SEARCH_REQUEST_SCHEMA,
  schemaDocuments,
  serviceProviderConfig,
  USER_KIND,
  type ResourceKind,
} from './schemas';

/**
 * The SCIM 2.0 service provider, one endpoint per connection: `/scim/v2/{connectionId}/…`. Mounted
 * before the app's global body parsers: SCIM parses its own bodies (application/scim+json and
 * application/json, bounded by MAX_BODY_BYTES) and answers every error as a SCIM error.
 *
 * Each request: log line on finish (no bodies, tokens or filter values) → bearer token → rate limit →
 * body → handler. Writes commit (with their outbox rows) before the response is sent.
 */

export const SCIM_CONTENT_TYPE = 'application/scim+json; charset=utf-8';

export interface ScimRouterDependencies {
  config: Config;
  db: Database;
  logger: Logger;
  connections?: ConnectionService;
  /**
   * Called after a write to the directory has committed and its response is sent: the sync queue's
   * debounced incremental run. The change itself is already in the outbox, so if the process dies before
   * this runs, the next run of the connection still takes it.
   */
  onDirectoryChanged?: (change: { tenantId: string; connectionId: string }) => void;
}

interface ScimContext {
  auth: AuthenticatedConnection;
  connectionId: string;
  scimBaseUrl: string;
}

type Json = Record<string, unknown>;

/** Writes the answer directly: Express's res.send would hash every body for an ETag nobody asked for. */
function send(res: Response, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const name in headers) res.setHeader(name, headers[name]!);
  if (body === undefined) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.setHeader('Content-Type', SCIM_CONTENT_TYPE);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

function context(res: Response): ScimContext {
  return res.locals.scim as ScimContext;
}

type Handler = (req: Request, res: Response, scim: ScimContext) => Promise<void>;

function route(handler: Handler) {
  return (req: Request, res: Response, next: NextFunction) => {
    handler(req, res, context(res)).catch(next);
  };
}

/** A request header (Express's `req.get` is not there: SCIM is served before Express, see createScimHandler). */
function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The request's path below the SCIM base, without the query (Express's `req.path`). */
function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** If-Match (RFC 7644 §3.14): a listed ETag or `*` must match the current version, else 412. */
function checkIfMatch(req: Request, version: number): void {
  const header = headerOf(req, 'if-match');
  if (header === undefined) return;
  const current = etagOf(version);
  const strip = (tag: string) => tag.trim().replace(/^W\//, '');
  const ok = header.split(',').some((tag) => tag.trim() === '*' || strip(tag) === strip(current));
  if (!ok) throw new ScimError(412, `the resource has changed (current version ${current})`);
}

function notModified(req: Request, version: number): boolean {
  const header = headerOf(req, 'if-none-match');
  if (header === undefined) return false;
  const strip = (tag: string) => tag.trim().replace(/^W\//, '');
  return header.split(',').some((tag) => tag.trim() === '*' || strip(tag) === strip(etagOf(version)));
}

function queryText(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw badRequest(name === 'filter' ? 'invalidFilter' : 'invalidValue', `${name} must be given once`);
  return value;
}

function queryInt(value: unknown, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^\s*-?\d+\s*$/.test(text)) throw badRequest('invalidValue', `${name} must be an integer`);
  return Number(text);
}

function mapDirectoryError(error: DirectoryError): ScimError {
  switch (error.code) {
    case 'conflict':
      return new ScimError(409, error.message, 'uniqueness');
    case 'unknown_members':
      return badRequest('invalidValue', `members must be users of this directory; unknown: ${((error.details.unknown as string[]) ?? []).slice(0, 10).join(', ')}`);
    default:
      return notFound(error.message);
  }
}

/** The query string of a request, as it may appear in logs: filter values can carry personal data. */
function loggableQuery(req: Request): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(req.query)) out[key] = key.toLowerCase() === 'filter' ? '[redacted]' : value;
  return out;
}

/** The value a root search sorts a resource by: the attribute's first (or primary) value; strings fold case unless caseExact. */
function sortKey(kind: ResourceKind, resource: Json, sortBy: string): string | number | boolean | null {
  let value: unknown = resource;
  for (const name of splitAttributePath(kind, sortBy)) {
    if (Array.isArray(value)) value = (value as Json[]).find((v) => v?.primary === true) ?? value[0];
    value = value && typeof value === 'object' ? (value as Json)[name] : undefined;
  }
  if (Array.isArray(value)) value = (value as Json[]).find((v) => v?.primary === true)?.value ?? (value[0] as Json | undefined)?.value;
  if (typeof value === 'string') return value.toLowerCase();
  return typeof value === 'number' || typeof value === 'boolean' ? value : null;
}

/** Merges lists each already in sortBy order; values that are absent sort last ascending, first descending (as in Postgres). */
function mergeSorted<T extends { k: string | number | boolean | null }>(lists: T[][], descending: boolean): T[] {
  const compare = (a: T, b: T) => {
    if (a.k === b.k) return 0;
    if (a.k === null) return descending ? -1 : 1;
    if (b.k === null) return descending ? 1 : -1;
    const order = a.k < b.k ? -1 : 1;
    return descending ? -order : order;
  };
  // A stable sort keeps each list's own order among equal keys, and lists in the order given.
  return lists.flat().sort(compare);
}

const REQUEST_ID = /^[A-Za-z0-9._-]{8,128}$/;

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What one group of a user, or one member of a group, adds to a rendered resource (value, $ref, display, type). */
const RENDERED_GROUP_BYTES = 200;
const RENDERED_MEMBER_BYTES = 250;

export function createScimRouter({ config, db, logger, connections: givenConnections, onDirectoryChanged }: ScimRouterDependencies): express.Router {
  const connections = givenConnections ?? new ConnectionService(db, { baseUrl: config.baseUrl, tokenGraceSeconds: config.scim.tokenGraceSeconds });
  const directory = new DirectoryRepository(db);
  const limiter = new RateLimiter(config.scim.rateLimitPerSecond, config.scim.rateLimitBurst);
  const limits = { maxResults: config.scim.maxResults, maxPayloadBytes: config.maxBodyBytes, maxOperations: SCIM_LIMITS.maxOperations };
  // Members per request and bytes per page: lower on the embedded database (see scimLimitsFor).
  const databaseLimits = scimLimitsFor(db.kind, config.scim);
  const router = express.Router({ mergeParams: true });
  const log = logger.child({ component: 'scim' });

  // One line per request: no headers, no bodies, no filter values (they carry userNames and emails).
  router.use((req, res, next) => {
    const started = process.hrtime.bigint();
    const incoming = headerOf(req, 'x-request-id');
    const reqId = incoming && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', reqId);
    // Nothing to build when no level that a request line uses is on.
    if (!log.isLevelEnabled('error')) return next();
    res.on('finish', () => {
      const level = res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info';
      if (!log.isLevelEnabled(level)) return;
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      const line = {
        reqId,
        method: req.method,
        path: `${req.baseUrl}${pathOf(req)}`,
        query: loggableQuery(req),
        status: res.statusCode,
        durationMs: Math.round(durationMs * 100) / 100,
        connectionId: req.params.connectionId,
      };
      log[level](line, 'scim request');
    });
    next();
  });

  // Accepted tokens are remembered briefly (SCIM_AUTH_CACHE_SECONDS) so a busy IdP costs one query per
  // request, not two; a revocation or uninstall therefore takes effect within that time. Refusals are
  // never cached. Keys are the token's hash, never the token.
  const accepted = new Map<string, { auth: AuthenticatedConnection; until: number }>();
  const cacheMs = config.scim.authCacheSeconds * 1000;
  // Tokens accepted in the last RECENTLY_ACCEPTED_MS are never throttled by the per-address limit on
  // failures below: behind a reverse proxy every client shares one socket address, and a noisy stranger
  // must not lock out the IdPs. Only the hash is kept, and only for this decision.
  const recentlyAccepted = new Map<string, number>();
  const RECENTLY_ACCEPTED_MS = 10 * 60_000;
  // `key` is `${connectionId}:${hashToken(token)}`, computed once per request.
  function wasAccepted(key: string): boolean {
    const until = recentlyAccepted.get(key);
    return until !== undefined && until > performance.now();
  }
  function rememberAccepted(key: string): void {
    const now = performance.now();
    if (recentlyAccepted.size > 10_000) for (const [k, until] of recentlyAccepted) if (until <= now) recentlyAccepted.delete(k);
    if (recentlyAccepted.size <= 10_000) recentlyAccepted.set(key, now + RECENTLY_ACCEPTED_MS);
  }
  const checking = new Map<string, Promise<AuthenticatedConnection | null>>();
  async function lookup(connectionId: string, token: string, key: string): Promise<AuthenticatedConnection | null> {
    if (cacheMs <= 0) return connections.authenticate(connectionId, token);
    const now = performance.now();
    const hit = accepted.get(key);
    if (hit && hit.until > now) return hit.auth;
    // When an entry expires under load, the requests in flight share one lookup instead of one each.
    const pending = checking.get(key);
    if (pending) return pending;
    const check = connections.authenticate(connectionId, token).then((auth) => {
      if (accepted.size > 10_000) for (const [k, v] of accepted) if (v.until <= now) accepted.delete(k);
      if (auth) accepted.set(key, { auth, until: performance.now() + cacheMs });
      else accepted.delete(key);
      return auth;
    });
    checking.set(key, check);
    try {
      return await check;
    } finally {
      checking.delete(key);
    }
  }

  // Database calls made for a request are made on behalf of its connection, so that on the embedded
  // database (one session) connections take turns (src/db/turns.ts). Set again once the body is read: the
  // body parser continues from the socket's events, outside this context.
  const onBehalfOfConnection: express.RequestHandler = (req, _res, next) => onBehalfOf(`scim:${String(req.params.connectionId ?? '')}`, next);
  router.use(onBehalfOfConnection);

  router.use((req, res, next) => {
    authenticate(req, res).then(() => next(), next);
  });
  const strangers = new UnauthenticatedLimiter(config.scim.unauthenticatedPerSecond, config.scim.unauthenticatedBurst);
  async function authenticate(req: Request, res: Response): Promise<void> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(headerOf(req, 'authorization') ?? '');
    const connectionId = String(req.params.connectionId ?? '');
    // The socket's address, not req.ip: X-Forwarded-For is the client's to choose.
    const address = req.socket.remoteAddress ?? 'unknown';
    const key = match ? `${connectionId}:${hashToken(match[1]!)}` : undefined;
    if (strangers.enabled && (key === undefined || !wasAccepted(key))) strangers.check(address);
    const auth = match && key ? await lookup(connectionId, match[1]!, key) : null;
    if (!auth) {
      strangers.fail(address);
      throw unauthorized();
    }
    if (strangers.enabled) rememberAccepted(key!);
    const taken = limiter.take(auth.connectionId);
    if (!taken.ok) {
      throw new ScimError(429, 'too many requests for this connection; retry later', undefined, { 'Retry-After': String(taken.retryAfterSeconds) });
    }
    res.locals.scim = { auth, connectionId: auth.connectionId, scimBaseUrl: connections.scimBaseUrl(auth.connectionId) } satisfies ScimContext;
    if (onDirectoryChanged && WRITE_METHODS.has(req.method)) {
      res.on('finish', () => {
        if (res.statusCode < 300) onDirectoryChanged({ tenantId: auth.tenantId, connectionId: auth.connectionId });
      });
    }
  }

  // A body still arriving after SCIM_BODY_TIMEOUT_SECONDS is refused (408) and its connection closed, so
  // a client trickling bytes cannot hold a socket and a parser for minutes.
  router.use((req, res, next) => {
    // No Content-Length and no Transfer-Encoding: no body to wait for (RFC 9112 §6.3).
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    if (!hasBody || req.complete || config.scim.bodyTimeoutMs <= 0) return next();
    const timer = setTimeout(() => {
      if (req.complete) return;
      if (res.headersSent) {
        req.destroy();
        return;
      }
      const error = new ScimError(408, `the request body did not arrive within ${config.scim.bodyTimeoutMs / 1000} s`);
      res.setHeader('Connection', 'close');
      res.once('finish', () => req.destroy());
      send(res, 408, error.toBody());
    }, config.scim.bodyTimeoutMs);
    timer.unref();
    const clear = () => clearTimeout(timer);
    req.once('end', clear);
    req.once('close', clear);
    res.once('finish', clear);
    next();
  });

  // Bodies: any content type is read as JSON (clients send application/scim+json or application/json).
  router.use(express.json({ type: () => true, limit: config.maxBodyBytes }));
  router.use(onBehalfOfConnection);

  // ---- discovery -------------------------------------------------------------------------------------

  const listResponse = (resources: unknown[], total = resources.length, startIndex = 1) => ({
    schemas: [LIST_RESPONSE_SCHEMA],
    totalResults: total,
    startIndex,
    itemsPerPage: resources.length,
    Resources: resources,
  });

  router.get('/ServiceProviderConfig', route(async (_req, res, scim) => send(res, 200, serviceProviderConfig(scim.scimBaseUrl, limits))));
  router.get('/ResourceTypes', route(async (_req, res, scim) => send(res, 200, listResponse(resourceTypes(scim.scimBaseUrl)))));
  router.get(
    '/ResourceTypes/:name',
    route(async (req, res, scim) => {
      const found = resourceTypes(scim.scimBaseUrl).find((r) => r.id === req.params.name);
      if (!found) throw notFound(`no resource type ${req.params.name}`);
      send(res, 200, found);
    }),
  );
  router.get('/Schemas', route(async (_req, res, scim) => send(res, 200, listResponse(schemaDocuments(scim.scimBaseUrl)))));
  router.get(
    '/Schemas/:id',
    route(async (req, res, scim) => {
      const found = schemaDocuments(scim.scimBaseUrl).find((s) => String(s.id).toLowerCase() === String(req.params.id).toLowerCase());
      if (!found) throw notFound(`no schema ${req.params.id}`);
      send(res, 200, found);
    }),
  );
  // Discovery is read-only (RFC 7644 §4): any other method is 405, not a missing endpoint.
  router.all(['/ServiceProviderConfig', '/ResourceTypes', '/ResourceTypes/:name', '/Schemas', '/Schemas/:id'], route(async (req) => {
    throw new ScimError(405, `${req.method} is not allowed on ${pathOf(req)}; discovery endpoints answer GET`, undefined, { Allow: 'GET' });
  }));
  router.all(['/Bulk', '/Me'], route(async (req) => {
    throw new ScimError(501, `${pathOf(req).slice(1)} is not supported by this service provider`);
  }));

  // ---- rendering helpers -------------------------------------------------------------------------------

  async function renderUsers(scim: ScimContext, users: StoredUser[], projection: Projection): Promise<Json[]> {
    const groups = projectionIncludes(projection, 'groups') ? await directory.groupsOfUsers(scim.connectionId, users.map((u) => u.id)) : undefined;
    return users.map((u) => project(renderUser(u, scim, groups?.get(u.id)), projection));
  }

  async function renderGroups(scim: ScimContext, groups: StoredGroup[], projection: Projection): Promise<Json[]> {
    // excludedAttributes=members (Entra's lookups) must not touch the membership table.
    const members = projectionIncludes(projection, 'members') ? await directory.membersOfGroups(scim.connectionId, groups.map((g) => g.id)) : undefined;
    return groups.map((g) => project(renderGroup(g, scim, members?.get(g.id)), projection));
  }

  function render(scim: ScimContext, kind: ResourceKind, records: (StoredUser | StoredGroup)[], projection: Projection): Promise<Json[]> {
    return kind === USER_KIND ? renderUsers(scim, records as StoredUser[], projection) : renderGroups(scim, records as StoredGroup[], projection);
  }

  // ---- queries (RFC 7644 §3.4.2) -----------------------------------------------------------------------

  interface QueryParams {
    filter?: string;
    sortBy?: string;
    sortOrder?: string;
    startIndex: number;
    count: number;
  }

  function queryParams(params: Record<string, unknown>): QueryParams {
    return {
      filter: queryText(params.filter, 'filter'),
      sortBy: queryText(params.sortBy, 'sortBy'),
      sortOrder: queryText(params.sortOrder, 'sortOrder'),
      startIndex: Math.max(1, queryInt(params.startIndex, 'startIndex') ?? 1),
      count: Math.min(limits.maxResults, Math.max(0, queryInt(params.count, 'count') ?? limits.maxResults)),
    };
  }

  /** One page of one resource type, rendered and projected, with the type's total. */
  async function queryPage(kind: ResourceKind, scim: ScimContext, q: QueryParams, projection: Projection, page: { offset: number; limit: number; maxBytes?: number }): Promise<{ resources: Json[]; total: number }> {
    const listQuery = {
      where: q.filter !== undefined && q.filter.trim() !== '' ? filterToSql(kind, q.filter) : undefined,
      orderBy: q.sortBy ? sortToSql(kind, q.sortBy, q.sortOrder) : undefined,
      ...page,
    };
    if (kind === USER_KIND) {
      const withGroups = projectionIncludes(projection, 'groups');
      const users = await directory.listUsers(scim.connectionId, { ...listQuery, withGroups, relationBytes: withGroups ? RENDERED_GROUP_BYTES : 0 });
      return { resources: users.items.map((u) => project(renderUser(u, scim, u.groups), projection)), total: users.total };
    }
    const groups = await directory.listGroups(scim.connectionId, { ...listQuery, relationBytes: projectionIncludes(projection, 'members') ? RENDERED_MEMBER_BYTES : 0 });
    return { resources: await renderGroups(scim, groups.items, projection), total: groups.total };
  }

  async function query(kind: ResourceKind, scim: ScimContext, params: Record<string, unknown>): Promise<Json> {
    const q = queryParams(params);
    const projection = parseProjection(kind, params.attributes, params.excludedAttributes);
    // A page also stops at SCIM_MAX_PAGE_BYTES; itemsPerPage says how many it holds.
    const { resources, total } = await queryPage(kind, scim, q, projection, { offset: q.startIndex - 1, limit: q.count, maxBytes: databaseLimits.maxPageBytes });
    return listResponse(resources, total, q.startIndex);
  }

  /** A SearchRequest body (RFC 7644 §3.4.3) as query parameters; attribute lists may be arrays. */
  function searchParams(body: unknown): Record<string, unknown> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('invalidSyntax', 'a search must be a SearchRequest JSON object');
    const request = body as Record<string, unknown>;
    if (request.schemas !== undefined && !(Array.isArray(request.schemas) && request.schemas.some((s) => typeof s === 'string' && s.toLowerCase() === SEARCH_REQUEST_SCHEMA.toLowerCase()))) {
      throw badRequest('invalidSyntax', `schemas must include ${SEARCH_REQUEST_SCHEMA}`);
    }
    const list = (value: unknown) => (Array.isArray(value) ? value.join(',') : value);
    return { ...request, attributes: list(request.attributes), excludedAttributes: list(request.excludedAttributes) };
  }

  /**
   * A search at the service root (RFC 7644 §3.4.3): Users and Groups as one result set. Without sortBy,
   * users come first, then groups, each in its own stable order, so a page is at most one query per
   * type. With sortBy, the first startIndex+count of each type are merged; beyond maxResults that is
   * more than this server computes (400 tooMany). A filter naming an attribute a type does not have
   * matches none of that type; a sortBy one type does not have sorts that type as having no value. If
   * no type can evaluate them, the error is the answer.
   */
  async function rootSearch(scim: ScimContext, params: Record<string, unknown>): Promise<Json> {
    const q = queryParams(params);
    const kinds: { kind: ResourceKind; projection: Projection; sortable: boolean }[] = [];
    let filterError: unknown;
    let sortError: unknown;
    for (const kind of [USER_KIND, GROUP_KIND]) {
      // The translations check attribute names when they write the SQL: write it once, to a scratch list.
      try {
        if (q.filter !== undefined && q.filter.trim() !== '') filterToSql(kind, q.filter)(new SqlParams());
      } catch (error) {
        filterError ??= error;
        continue;
      }
      let sortable = true;
      try {
        if (q.sortBy) sortToSql(kind, q.sortBy, q.sortOrder)(new SqlParams());
      } catch (error) {
        sortError ??= error;
        sortable = false;
      }
      kinds.push({ kind, projection: parseProjection(kind, params.attributes, params.excludedAttributes), sortable });
    }
    if (kinds.length === 0) throw filterError;
    if (q.sortBy && !kinds.some((k) => k.sortable)) throw sortError;
    const offset = q.startIndex - 1;
    if (!q.sortBy) {
      const resources: Json[] = [];
      let total = 0;
      let cut = false;
      for (const { kind, projection } of kinds) {
        const skip = Math.max(0, offset - total);
        // A type whose rows all fall before the page, a full page, or a page already cut at
        // SCIM_MAX_PAGE_BYTES: only its count is needed (the client pages on from itemsPerPage).
        const room = cut ? 0 : q.count - resources.length;
        const page = await queryPage(kind, scim, q, projection, { offset: skip, limit: room, maxBytes: databaseLimits.maxPageBytes });
        resources.push(...page.resources);
        total += page.total;
        if (page.resources.length < Math.min(room, Math.max(0, page.total - skip))) cut = true;
      }
      return listResponse(resources, total, q.startIndex);
    }
    if (offset + q.count > limits.maxResults) {
      throw badRequest('tooMany', `a sorted search across resource types returns at most the first ${limits.maxResults} results; narrow the filter or search /Users or /Groups`);
    }
    const descending = /^descending$/i.test(q.sortOrder ?? '');
    // Each type's rows up to the end of the page, cut at SCIM_MAX_PAGE_BYTES like any list, so the merge
    // never holds more than that per type.
    const limit = offset + q.count;
    const pages = await Promise.all(
      kinds.map(async ({ kind, projection, sortable }, index) => {
        const page = await queryPage(kind, scim, sortable ? q : { ...q, sortBy: undefined }, {}, { offset: 0, limit, maxBytes: config.scim.maxPageBytes });
        const cut = page.resources.length < Math.min(limit, page.total);
        return { ...page, cut, index, key: (r: Json) => (sortable ? sortKey(kind, r, q.sortBy!) : null), projection };
      }),
    );
    const merged = mergeSorted(pages.map((p) => p.resources.map((r) => ({ r, k: p.key(r), projection: p.projection, from: p.index }))), descending);
    // Past the last row of a type that was cut, rows of that type may be missing from the merge: the
    // page ends there (itemsPerPage says how far it got, and the client pages on from it).
    let known = merged.length;
    for (const p of pages.filter((page) => page.cut)) {
      let last = merged.length - 1;
      while (last >= 0 && merged[last]!.from !== p.index) last--;
      known = Math.min(known, last + 1);
    }
    if (known <= offset && offset < pages.reduce((n, p) => n + p.total, 0)) {
      throw badRequest('tooMany', `the results before startIndex ${q.startIndex} exceed SCIM_MAX_PAGE_BYTES (${config.scim.maxPageBytes} bytes) for a sorted search across resource types; search /Users or /Groups, which page by size`);
    }
    const resources = merged.slice(offset, Math.min(offset + q.count, known)).map(({ r, projection }) => project(r, projection));
    return listResponse(resources, pages.reduce((n, p) => n + p.total, 0), q.startIndex);
  }

  router.post('/.search', route(async (req, res, scim) => send(res, 200, await rootSearch(scim, searchParams(req.body)))));

  const projectionOf = (kind: ResourceKind, req: Request) => parseProjection(kind, req.query.attributes, req.query.excludedAttributes);

  for (const kind of [USER_KIND, GROUP_KIND]) {
    const base = kind.endpoint;
    router.get(base, route(async (req, res, scim) => send(res, 200, await query(kind, scim, req.query as Record<string, unknown>))));
    router.post(
      `${base}/.search`,
      route(async (req, res, scim) => send(res, 200, await query(kind, scim, searchParams(req.body ?? {})))),
    );
    router.get(
      `${base}/:id`,
      route(async (req, res, scim) => {
        const id = String(req.params.id);
        const projection = projectionOf(kind, req);
        if (kind === USER_KIND && projectionIncludes(projection, 'groups')) {
          // The user and its groups in one query: the most frequent read of every IdP costs one round trip.
          const user = await directory.getUserWithGroups(scim.connectionId, id);
          if (!user) throw notFound(`${kind.name} ${id} not found`);
          if (notModified(req, user.version)) return send(res, 304, undefined, { ETag: etagOf(user.version) });
          return send(res, 200, project(renderUser(user, scim, user.groups), projection), { ETag: etagOf(user.version) });
        }
        const record = kind === USER_KIND ? await directory.getUser(scim.connectionId, id) : await directory.getGroup(scim.connectionId, id);
        if (!record) throw notFound(`${kind.name} ${id} not found`);
        if (notModified(req, record.version)) return send(res, 304, undefined, { ETag: etagOf(record.version) });
        const [resource] = await render(scim, kind, [record], projection);
        send(res, 200, resource, { ETag: etagOf(record.version) });
      }),
    );
    router.delete(
      `${base}/:id`,
      route(async (req, res, scim) => {
        const id = String(req.params.id);
        await directory.transaction(async (tx) => {
          const record = kind === USER_KIND ? await tx.getUser(scim.connectionId, id, { forUpdate: true }) : await tx.getGroup(scim.connectionId, id, { forUpdate: true });
          if (!record) throw notFound(`${kind.name} ${id} not found`);
          checkIfMatch(req, record.version);
          if (kind === USER_KIND) await tx.deleteUser(scim.connectionId, id);
          else await tx.deleteGroup(scim.connectionId, id);
        });
        send(res, 204);
      }),
    );
  }

  // ---- users -------------------------------------------------------------------------------------------

  const respondUser = async (req: Request, res: Response, scim: ScimContext, user: StoredUser, status: number) => {
    const [resource] = await renderUsers(scim, [user], projectionOf(USER_KIND, req));
    send(res, status, resource, { ETag: etagOf(user.version), ...(status === 201 ? { Location: `${scim.scimBaseUrl}/Users/${user.id}` } : {}) });
  };

  router.post(
    '/Users',
    route(async (req, res, scim) => {
      const write = coerceUser(normaliseBody(req.body, { resourceType: 'User' }));
      const user = await directory.createUser(scim.connectionId, write);
      // A user just created is in no group: no need to ask.
      const resource = project(renderUser(user, scim, []), projectionOf(USER_KIND, req));
      send(res, 201, resource, { ETag: etagOf(user.version), Location: `${scim.scimBaseUrl}/Users/${user.id}` });
    }),
  );

  router.put(
    '/Users/:id',
    route(async (req, res, scim) => {
      const id = String(req.params.id);
      const write = coerceUser(normaliseBody(req.body, { resourceType: 'User', resourceId: id }));
      const user = await directory.transaction(async (tx) => {
        const existing = await tx.getUser(scim.connectionId, id, { forUpdate: true });
        if (!existing) throw notFound(`User ${id} not found`);
        checkIfMatch(req, existing.version);
        return tx.updateUser(scim.connectionId, id, write);
      });
      await respondUser(req, res, scim, user, 200);
    }),
  );

  router.patch(
    '/Users/:id',
    route(async (req, res, scim) => {
      const id = String(req.params.id);
      checkPatchRequest(USER_KIND, req.body);
      const operations = parsePatch(USER_KIND, req.body, { resourceType: 'User', resourceId: id });
      const user = await directory.transaction(async (tx) => {
        const existing = await tx.getUser(scim.connectionId, id, { forUpdate: true });
        if (!existing) throw notFound(`User ${id} not found`);
        checkIfMatch(req, existing.version);
        const write = userWrite(coerceResource(USER_KIND, applyPatch(USER_KIND, existing.resource, operations)));
        // A PATCH that changes nothing writes nothing and wakes no sync.
        if (isDeepStrictEqual(write.resource, existing.resource)) return existing;
        return tx.updateUser(scim.connectionId, id, write);
      });
      await respondUser(req, res, scim, user, 200);
    }),
  );

  // ---- groups ------------------------------------------------------------------------------------------

  const respondGroup = async (req: Request, res: Response, scim: ScimContext, group: StoredGroup, status: number) => {
    const [resource] = await renderGroups(scim, [group], projectionOf(GROUP_KIND, req));
    send(res, status, resource, { ETag: etagOf(group.version), ...(status === 201 ? { Location: `${scim.scimBaseUrl}/Groups/${group.id}` } : {}) });
  };

  router.post(
    '/Groups',
    route(async (req, res, scim) => {
      const { group: write, memberIds } = coerceGroup(normaliseBody(req.body, { resourceType: 'Group' }));
      if (memberIds) checkMemberCount(memberIds.length, databaseLimits.maxMembers);
      const group = await directory.transaction(async (tx) => {
        const created = await tx.createGroup(scim.connectionId, write);
        if (!memberIds || memberIds.length === 0) return created;
        await tx.addMembers(scim.connectionId, created.id, memberIds);
        return (await tx.getGroup(scim.connectionId, created.id))!;
      });
      await respondGroup(req, res, scim, group, 201);
    }),
  );

  router.put(
    '/Groups/:id',
    route(async (req, res, scim) => {
      const id = String(req.params.id);
      const { group: write, memberIds } = coerceGroup(normaliseBody(req.body, { resourceType: 'Group', resourceId: id }));
      if (memberIds) checkMemberCount(memberIds.length, databaseLimits.maxMembers);
      const group = await directory.transaction(async (tx) => {
        const existing = await tx.getGroup(scim.connectionId, id, { forUpdate: true });
        if (!existing) throw notFound(`Group ${id} not found`);
        checkIfMatch(req, existing.version);
        await tx.updateGroup(scim.connectionId, id, write);
        // members absent from a PUT leave the membership as it is (RFC 7644 §3.5.1 allows either).
        if (memberIds) await tx.replaceMembers(scim.connectionId, id, memberIds);
        return (await tx.getGroup(scim.connectionId, id))!;
      });
      await respondGroup(req, res, scim, group, 200);
    }),
  );

  router.patch(
    '/Groups/:id',
    route(async (req, res, scim) => {
      const id = String(req.params.id);
      // A large PATCH is prepared in a few steps with a turn of the event loop between them, and before
      // the transaction (no row lock or connection is held while it is planned), so other requests are
      // not kept waiting behind it.
      checkPatchRequest(GROUP_KIND, req.body, databaseLimits.maxMembers);
      await setImmediatePromise();
      const operations = parsePatch(GROUP_KIND, req.body, { resourceType: 'Group', resourceId: id });
      await setImmediatePromise();
      // Members operations fold into one set-based change (./members), applied before the attributes.
      const attributeOperations: PatchOperation[] = [];
      const members = emptyPlan();
      let membersTouched = false;
      for (const operation of operations) {
        if (!isMembersOperation(operation)) attributeOperations.push(operation);
        else {
          planMemberOperation(members, operation, databaseLimits.maxMembers);
          membersTouched = true;
        }
      }
      if (membersTouched) await setImmediatePromise();
      const group = await directory.transaction(async (tx) => {
        const existing = await tx.getGroup(scim.connectionId, id, { forUpdate: true });
        if (!existing) throw notFound(`Group ${id} not found`);
        checkIfMatch(req, existing.version);
        if (membersTouched) await tx.applyMembership(scim.connectionId, id, members);
        if (attributeOperations.length > 0) {
          const { group: write } = coerceGroup(applyPatch(GROUP_KIND, existing.resource, attributeOperations));
          if (!isDeepStrictEqual(write.resource, existing.resource)) await tx.updateGroup(scim.connectionId, id, write);
        }
        return (await tx.getGroup(scim.connectionId, id))!;
      });
      // 204 unless the client asked for attributes: rendering members would cost the group's size.
      if (req.query.attributes === undefined && req.query.excludedAttributes === undefined) {
        send(res, 204, undefined, { ETag: etagOf(group.version) });
        return;
      }
      await respondGroup(req, res, scim, group, 200);
    }),
  );

  // ---- fallbacks ---------------------------------------------------------------------------------------

  router.use(
    route(async (req) => {
      throw notFound(`no SCIM endpoint ${req.method} ${pathOf(req)}`);
    }),
  );

  const errorHandler: ErrorRequestHandler = (error, req, res, _next) => {
    let scimError: ScimError;
    if (error instanceof ScimError) scimError = error;
    else if (error instanceof DirectoryError) scimError = mapDirectoryError(error);
    else if (error?.type === 'entity.too.large') scimError = new ScimError(413, `the request body exceeds ${limits.maxPayloadBytes} bytes`);
    else if (error?.type === 'entity.parse.failed') scimError = badRequest('invalidSyntax', 'the request body is not valid JSON');
    else if (typeof error?.status === 'number' && error.status >= 400 && error.status < 500) scimError = badRequest('invalidSyntax', String(error.message));
    else {
      log.error({ err: error, method: req.method, path: `${req.baseUrl}${pathOf(req)}`, connectionId: req.params.connectionId }, 'scim request failed');
      scimError = new ScimError(500, config.isProduction ? 'internal error' : String(error?.message ?? error));
    }
    if (res.headersSent) return;
    send(res, scimError.status, scimError.toBody(), scimError.headers);
  };
  router.use(errorHandler);

  return router;
}

const SCIM_PREFIX = '/scim/v2/';

/** The query string as SCIM reads it: each parameter once as a string, twice or more as a list of strings. */
function parseQuery(text: string): Record<string, string | string[]> {
  const out = new Map<string, string | string[]>();
  for (const [key, value] of new URLSearchParams(text)) {
    const seen = out.get(key);
    out.set(key, seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value]);
  }
  // From a Map: a parameter named `__proto__` is an own property like any other.
  return Object.fromEntries(out);
}

/**
 * The SCIM service as a plain Node request handler, served before Express: `/scim/v2/{connectionId}/…`
 * goes to the SCIM router, anything else to `otherwise` (the Express app). Express's application layer
 * (prototype swaps, its query parser, its router and final handler) cost about as much CPU per request
 * as the rest of a SCIM lookup, and SCIM uses none of it: the router reads headers, path and query through
 * headerOf, pathOf and parseQuery, and writes its answers itself (send).
 */
export function createScimHandler(dependencies: ScimRouterDependencies): (req: IncomingMessage, res: ServerResponse, otherwise: () => void) => void {
  const router = createScimRouter(dependencies);
  return (req, res, otherwise) => {
    const url = req.url ?? '/';
    // Case-insensitive, as the Express mount it replaces (`app.use('/scim/v2/:connectionId')`) was.
    if (url.slice(0, SCIM_PREFIX.length).toLowerCase() !== SCIM_PREFIX) return otherwise();
    const afterPrefix = url.slice(SCIM_PREFIX.length);
    const idEnd = afterPrefix.search(/[/?]/);
    const rawId = idEnd === -1 ? afterPrefix : afterPrefix.slice(0, idEnd);
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(rawId);
    } catch {
      return otherwise();
    }
    if (connectionId === '') return otherwise();
    const rest = idEnd === -1 ? '/' : afterPrefix.slice(idEnd);
    const below = rest.startsWith('?') ? `/${rest}` : rest;
    const query = below.indexOf('?');
    const request = Object.assign(req, {
      originalUrl: url,
      baseUrl: `${url.slice(0, SCIM_PREFIX.length)}${rawId}`,
      url: below,
      params: { connectionId },
      query: parseQuery(query === -1 ? '' : below.slice(query + 1)),
    });
    const response = Object.assign(res, { locals: {} });
    router(request as unknown as Request, response as unknown as Response, (error?: unknown) => {
      // The router ends every request itself (its last route is a SCIM 404, then its error handler).
      if (!res.headersSent) send(response as unknown as Response, 500, new ScimError(500, `unhandled SCIM request: ${String(error ?? 'no route')}`).toBody());
    });
  };
}

import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small toolkit for stateful fakes of cloud APIs on loopback: routing with path templates, basic and
 * bearer auth checks, offset paging, a request log, and fault injection (queued 429s with Retry-After,
 * 5xx, dropped connections, latency per call, and a token-bucket rate limit answering 429 with
 * Retry-After and X-RateLimit-* headers as Jira Cloud does).
 *
 * Kept lean on purpose: the sync benchmark drives tens of thousands of calls through one fake.
 */

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON or form body; null when empty; the raw text when it does not parse. */
  body: unknown;
  params: Record<string, string>;
  /** Who the credentials belong to, as returned by the auth check. */
  principal: string;
}

export interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type FakeHandler = (request: FakeRequest) => FakeResponse | Promise<FakeResponse>;

export interface LoggedRequest {
  method: string;
  /** The route template that served it (`/rest/api/3/group/member`), or the raw path when none did. */
  route: string;
  path: string;
  query: string;
  body: unknown;
  status: number;
  /** Present only when `recordResponses` is on (contract tests validate them). */
  response?: unknown;
  /** Arrival order across every fake in the process (orders one scenario's calls to several services). */
  seq?: number;
}

let logSequence = 0;

export interface FaultMatch {
  method?: string;
  /** A route template or a regular expression over the path. */
  path?: string | RegExp;
}

interface QueuedFault {
  kind: 'status' | 'drop';
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** For drops: destroy the socket after the handler ran (the change is applied, the answer lost). */
  afterApply?: boolean;
  match?: FaultMatch;
}

export interface RateLimitOptions {
  /** Bucket size: the burst allowed. */
  capacity: number;
  /** Tokens added per second. */
  refillPerSecond: number;
}

export type AuthCheck = (authorization: string | undefined) => string | null;

/** Accepts HTTP Basic `user:secret` pairs; returns the user. */
export function basicAuth(pairs: Record<string, string>): AuthCheck {
  return (authorization) => {
    const match = /^Basic (.+)$/i.exec(authorization ?? '');
    if (!match) return null;
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const separator = decoded.indexOf(':');
    if (separator < 0) return null;
    const user = decoded.slice(0, separator);
    return pairs[user] !== undefined && pairs[user] === decoded.slice(separator + 1) ? user : null;
  };
}

/** Accepts `Authorization: Bearer TOKEN` for the given tokens; returns the token's owner. */
export function bearerAuth(tokens: Record<string, string>): AuthCheck {
  return (authorization) => {
    const match = /^Bearer (.+)$/i.exec(authorization ?? '');
    return match ? (tokens[match[1]!] ?? null) : null;
  };
}

/** Accepts any of the given checks (Data Center takes a personal access token or HTTP Basic on the same API). */
export function anyAuth(...checks: AuthCheck[]): AuthCheck {
  return (authorization) => {
    for (const check of checks) {
      const principal = check(authorization);
      if (principal !== null) return principal;
    }
    return null;
  };
}

interface Route {
  method: string;
  template: string;
  segments: string[];
  handler: FakeHandler;
}

export class FakeServer {
  private readonly routes: Route[] = [];
  private readonly faults: QueuedFault[] = [];
  private server: http.Server | null = null;
  private bucket: { tokens: number; updatedAt: number; options: RateLimitOptions } | null = null;
  readonly log: LoggedRequest[] = [];
  baseUrl = '';
  /** Milliseconds every request waits before it is handled. */
  latencyMs = 0;
  recordResponses = false;
  /** Off for benchmarks that only need counts. */
  logRequests = true;
  /** How every call counts, even when the log is off. */
  readonly counts = { total: 0, reads: 0, writes: 0, throttled: 0 };

  constructor(
    private readonly auth: AuthCheck,
    private readonly unauthorized: (request: { path: string }) => FakeResponse = () => ({
      status: 401,
      body: { message: 'Client must be authenticated to access this resource.' },
    }),
  ) {}

  route(method: string, template: string, handler: FakeHandler): this {
    this.routes.push({ method, template, segments: template.split('/'), handler });
    return this;
  }

  /** The next `count` matching requests answer 429 with Retry-After (seconds) and are not applied. */
  queueRateLimit(count: number, retryAfterSeconds: number, match?: FaultMatch): this {
    for (let i = 0; i < count; i += 1) {
      this.faults.push({
        kind: 'status',
        status: 429,
        headers: { 'Retry-After': String(retryAfterSeconds), 'X-RateLimit-Remaining': '0' },
        body: { errorMessages: ['Rate limit exceeded.'] },
        match,
      });
    }
    return this;
  }

  /** The next `count` matching requests answer `status` (default 500) and are not applied. */
  queueStatus(count: number, status = 500, match?: FaultMatch, headers?: Record<string, string>): this {
    for (let i = 0; i < count; i += 1) {
      this.faults.push({ kind: 'status', status, headers, body: { errorMessages: [`Injected ${status}`] }, match });
    }
    return this;
  }

  /**
   * The next `count` matching requests lose their connection with no answer: before the change is
   * applied, or (afterApply) after it, which is the case that proves a retried write is idempotent.
   */
  queueDrop(count: number, match?: FaultMatch, afterApply = false): this {
    for (let i = 0; i < count; i += 1) this.faults.push({ kind: 'drop', match, afterApply });
    return this;
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** A token bucket over every request; an empty bucket answers 429 + Retry-After + X-RateLimit-*. */
  setRateLimit(options: RateLimitOptions | null): void {
    this.bucket = options ? { tokens: options.capacity, updatedAt: Date.now(), options } : null;
  }

  /** Logged requests, optionally filtered by method and route template. */
  requests(method?: string, route?: string): LoggedRequest[] {
    return this.log.filter((entry) => (!method || entry.method === method) && (!route || entry.route === route));
  }

  clearLog(): void {
    this.log.length = 0;
    this.counts.total = this.counts.reads = this.counts.writes = this.counts.throttled = 0;
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ errorMessages: [`fake server error: ${(error as Error).message}`] }));
        }
      });
    });
    this.server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private takeFault(method: string, path: string, route: Route | undefined): QueuedFault | undefined {
    const index = this.faults.findIndex((fault) => {
      const match = fault.match;
      if (!match) return true;
      if (match.method && match.method !== method) return false;
      if (match.path instanceof RegExp) return match.path.test(path);
      if (typeof match.path === 'string') return route?.template === match.path || path === match.path;
      return true;
    });
    return index >= 0 ? this.faults.splice(index, 1)[0] : undefined;
  }

  private takeToken(): FakeResponse | null {
    const bucket = this.bucket;
    if (!bucket) return null;
    const now = Date.now();
    const { capacity, refillPerSecond } = bucket.options;
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.updatedAt) / 1000) * refillPerSecond);
    bucket.updatedAt = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return null;
    }
    const waitMs = ((1 - bucket.tokens) / refillPerSecond) * 1000;
    return {
      status: 429,
      headers: {
        'Retry-After': String(Math.max(1, Math.ceil(waitMs / 1000))),
        'X-RateLimit-Limit': String(capacity),
        'X-RateLimit-Remaining': '0',
        'X-RateLimit-Reset': new Date(now + waitMs).toISOString(),
        'RateLimit-Reason': 'jira-burst-based',
      },
      body: { errorMessages: ['Rate limit exceeded.'] },
    };
  }

  private rateHeaders(): Record<string, string> {
    const bucket = this.bucket;
    if (!bucket) return {};
    const remaining = Math.floor(bucket.tokens);
    const headers: Record<string, string> = {
      'X-RateLimit-Limit': String(bucket.options.capacity),
      'X-RateLimit-Remaining': String(remaining),
    };
    if (remaining === 0) {
      const waitMs = ((1 - bucket.tokens) / bucket.options.refillPerSecond) * 1000;
      headers['X-RateLimit-Reset'] = new Date(Date.now() + waitMs).toISOString();
    }
    return headers;
  }

  private match(method: string, path: string): { route: Route; params: Record<string, string> } | { route: undefined; methodMismatch: boolean } {
    const segments = path.split('/');
    let methodMismatch = false;
    for (const route of this.routes) {
      if (route.segments.length !== segments.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < segments.length; i += 1) {
        const expected = route.segments[i]!;
        const actual = segments[i]!;
        if (expected.startsWith(':')) {
          if (!actual) {
            ok = false;
            break;
          }
          params[expected.slice(1)] = decodeURIComponent(actual);
        } else if (expected !== actual) {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      if (route.method !== method) {
        methodMismatch = true;
        continue;
      }
      return { route, params };
    }
    return { route: undefined, methodMismatch };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));

    const found = this.match(method, path);
    const route = found.route;
    this.counts.total += 1;
    if (method === 'GET') this.counts.reads += 1;
    else this.counts.writes += 1;

    const respond = (response: FakeResponse, body: unknown) => {
      if (this.logRequests) {
        this.log.push({
          method,
          route: route?.template ?? path,
          path,
          query: url.search,
          body,
          status: response.status,
          seq: ++logSequence,
          ...(this.recordResponses ? { response: response.body } : {}),
        });
      }
      if (response.status === 429) this.counts.throttled += 1;
      const headers: Record<string, string> = { ...this.rateHeaders(), ...response.headers };
      if (response.body === undefined || response.status === 204) {
        res.writeHead(response.status, headers);
        res.end();
      } else if (typeof response.body === 'string') {
        res.writeHead(response.status, { 'Content-Type': 'text/plain', ...headers });
        res.end(response.body);
      } else {
        res.writeHead(response.status, { 'Content-Type': 'application/json;charset=UTF-8', ...headers });
        res.end(JSON.stringify(response.body));
      }
    };

    const body = parseBody(raw, req.headers['content-type']);
    const principal = this.auth(req.headers.authorization);
    if (principal === null) return respond(this.unauthorized({ path }), body);

    const fault = this.takeFault(method, path, route);
    if (fault?.kind === 'drop' && !fault.afterApply) {
      if (this.logRequests) this.log.push({ method, route: route?.template ?? path, path, query: url.search, body, status: 0, seq: ++logSequence });
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') return respond({ status: fault.status!, headers: fault.headers, body: fault.body }, body);

    const limited = this.takeToken();
    if (limited) return respond(limited, body);

    if (!route) {
      return respond(
        found.methodMismatch ? { status: 405, body: { errorMessages: [`${method} not allowed`] } } : { status: 404, body: { errorMessages: [`No route ${path}`] } },
        body,
      );
    }
    const response = await route.handler({ method, path, query: url.searchParams, headers: req.headers, body, params: (found as { params: Record<string, string> }).params, principal });
    if (fault?.kind === 'drop' && fault.afterApply) {
      if (this.logRequests) this.log.push({ method, route: route.template, path, query: url.search, body, status: 0, seq: ++logSequence });
      req.socket.destroy();
      return;
    }
    respond(response, body);
  }
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (!raw) return null;
  if (contentType?.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/** Offset paging: the page of `items` starting at `start`, at most `limit` long. */
export function page<T>(items: readonly T[], start: number, limit: number): { values: T[]; isLast: boolean } {
  const values = items.slice(start, start + limit);
  return { values, isLast: start + values.length >= items.length };
}

/** An integer query parameter with a default and bounds (clamped, as the products do). */
export function intParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  const value = Number.parseInt(raw, 10);
  if (Number.isNaN(value)) return fallback;
  return Math.min(max, Math.max(min, value));
}

let sequence = 0;
/** A stable-looking id unique within the process. */
export function fakeId(prefix: string): string {
  sequence += 1;
  return `${prefix}${sequence.toString(16).padStart(8, '0')}`;
}

/** A fake service on a FakeServer of its own: where it listens, start and stop. */
export abstract class FakeService {
  abstract readonly server: FakeServer;

  get baseUrl(): string {
    return this.server.baseUrl;
  }

  start(): Promise<string> {
    return this.server.start();
  }

  stop(): Promise<void> {
    return this.server.stop();
  }
}

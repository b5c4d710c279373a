import type { z } from 'zod';
import { redactText } from '../logging/logger';
import { EgressError, egressFetch } from '../egress';
import { TargetError, type TargetKind } from './types';

/**
 * The one HTTP client every target adapter uses (Node's fetch underneath). It owns what the products
 * have in common so the adapters only speak payloads:
 * - a concurrency limit per target (one client per configured target),
 * - a shared pause when the product says "slow down": 429, or 503 with Retry-After, pauses every
 *   request of this target until the wait is over; X-RateLimit-Remaining: 0 pauses until
 *   X-RateLimit-Reset before the product has to answer 429 at all,
 * - exponential backoff with full jitter for 5xx and dropped connections, bounded retries,
 * - a timeout per attempt and the caller's abort signal,
 * - a call counter (reads vs writes, per method + path template) for tests and benchmarks.
 *
 * A 429 means the product did not act on the request, so it is always retried. A 5xx or a dropped
 * connection may hide a request that was applied, so those are retried only for calls marked
 * idempotent; the adapters mark their writes idempotent because each one tolerates its own repeat
 * (adding a member twice, deleting what is gone, creating a group whose name exists).
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type HttpAuth =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'bearer'; token: string };

export type QueryValue = string | number | boolean | undefined | null | readonly (string | number)[];

export interface RequestSpec {
  method: HttpMethod;
  /** Path template with `{name}` placeholders, e.g. `/rest/api/3/project/{key}`; it names the call in counters and errors. */
  path: string;
  params?: Record<string, string>;
  query?: Record<string, QueryValue>;
  /** JSON body. */
  body?: unknown;
  /** application/x-www-form-urlencoded body (Bitbucket Cloud 1.0). */
  form?: Record<string, string>;
  /** Safe to send again after a 5xx or a dropped connection. Default: true for GET, PUT and DELETE. */
  idempotent?: boolean;
  /** Non-2xx statuses handed back to the caller instead of thrown (e.g. 404 = already gone). */
  accept?: readonly number[];
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON when the response is JSON, the text otherwise, null when empty. */
  body: unknown;
}

export interface HttpClientOptions {
  target: TargetKind;
  baseUrl: string;
  auth: HttpAuth;
  /** Requests in flight at once for this target. */
  concurrency?: number;
  /** Retries after the first attempt (429, 5xx, dropped connections, timeouts). */
  maxRetries?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** The longest Retry-After / X-RateLimit-Reset wait honoured; longer waits fail the call instead. */
  maxRetryAfterMs?: number;
  timeoutMs?: number;
  counter?: CallCounter;
  /** Injected for tests: a fake clock and deterministic jitter. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  now?: () => number;
  fetch?: typeof fetch;
}

export const HTTP_DEFAULTS = {
  concurrency: 4,
  maxRetries: 5,
  baseBackoffMs: 500,
  maxBackoffMs: 30_000,
  maxRetryAfterMs: 5 * 60_000,
  timeoutMs: 30_000,
} as const;

interface OperationCount {
  calls: number;
  throttled: number;
  failed: number;
}

export interface CallCounts {
  reads: number;
  writes: number;
  /** Attempts answered 429 (or 503 with Retry-After): the product did not act on them. */
  readsThrottled: number;
  writesThrottled: number;
  /** Attempts sent again after a throttle, 5xx, timeout or dropped connection. */
  retries: number;
  /** Attempts that got no response (dropped connection, timeout). */
  networkErrors: number;
  byOperation: Record<string, OperationCount>;
}

/**
 * Counts every HTTP attempt a client sends. One counter can be shared by several clients (a sync run
 * over several targets) and read at any time; `GET` is a read, everything else a write.
 */
export class CallCounter {
  private counts: CallCounts = CallCounter.empty();

  private static empty(): CallCounts {
    return { reads: 0, writes: 0, readsThrottled: 0, writesThrottled: 0, retries: 0, networkErrors: 0, byOperation: {} };
  }

  record(method: HttpMethod, template: string, outcome: { status: number | null; throttled: boolean; retry: boolean }): void {
    const isRead = method === 'GET';
    if (isRead) this.counts.reads += 1;
    else this.counts.writes += 1;
    if (outcome.throttled) {
      if (isRead) this.counts.readsThrottled += 1;
      else this.counts.writesThrottled += 1;
    }
    if (outcome.retry) this.counts.retries += 1;
    if (outcome.status === null) this.counts.networkErrors += 1;
    const key = `${method} ${template}`;
    const operation = (this.counts.byOperation[key] ??= { calls: 0, throttled: 0, failed: 0 });
    operation.calls += 1;
    if (outcome.throttled) operation.throttled += 1;
    if (outcome.status === null || outcome.status >= 400) operation.failed += 1;
  }

  snapshot(): CallCounts {
    return structuredClone(this.counts);
  }

  reset(): void {
    this.counts = CallCounter.empty();
  }
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Retry-After: delta-seconds or an HTTP date. Returns milliseconds from now, or null. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.max(0, Math.round(Number(trimmed) * 1000));
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** X-RateLimit-Reset: an ISO 8601 instant (Jira), epoch seconds, or seconds from now. Returns an epoch ms. */
export function parseRateLimitReset(value: string | null, now: number): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    const number = Number(trimmed);
    // Anything past 2001 in epoch seconds is an instant; small numbers are a delay in seconds.
    return number > 1e9 ? Math.round(number * 1000) : now + Math.round(number * 1000);
  }
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : date;
}

/** Concurrency slots plus a pause shared by every request of one target. */
class Throttle {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  pausedUntil = 0;

  constructor(
    private readonly concurrency: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
  ) {}

  async acquire(signal?: AbortSignal): Promise<void> {
    if (this.active >= this.concurrency) {
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const index = this.waiting.indexOf(grant);
          if (index >= 0) this.waiting.splice(index, 1);
          reject(signal!.reason);
        };
        const grant = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        if (signal?.aborted) return reject(signal.reason);
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(grant);
      });
    } else {
      this.active += 1;
    }
    // A pause can grow while we wait (another request saw a 429), so look again after each sleep.
    try {
      for (let wait = this.pausedUntil - this.now(); wait > 0; wait = this.pausedUntil - this.now()) {
        await this.sleep(wait, signal);
      }
    } catch (error) {
      this.release();
      throw error;
    }
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active -= 1;
  }

  pauseUntil(instant: number): void {
    if (instant > this.pausedUntil) this.pausedUntil = instant;
  }
}

/** The product's own words from an error body, whatever the product's error shape. */
export function productMessage(body: unknown): string {
  if (body === null || body === undefined) return '';
  if (typeof body === 'string') return body.slice(0, 300);
  if (typeof body !== 'object') return String(body);
  const record = body as Record<string, unknown>;
  const parts: string[] = [];
  if (Array.isArray(record.errorMessages)) parts.push(...record.errorMessages.map(String));
  if (record.errors && typeof record.errors === 'object' && !Array.isArray(record.errors)) {
    parts.push(...Object.entries(record.errors as Record<string, unknown>).map(([field, message]) => `${field}: ${String(message)}`));
  }
  if (Array.isArray(record.errors)) {
    for (const error of record.errors as Array<Record<string, unknown>>) {
      parts.push(String(error?.message ?? error?.detail ?? error?.title ?? JSON.stringify(error)));
    }
  }
  if (typeof record.message === 'string') parts.push(record.message);
  if (record.error && typeof record.error === 'object') {
    const nested = record.error as Record<string, unknown>;
    if (typeof nested.message === 'string') parts.push(nested.message);
  } else if (typeof record.error === 'string') parts.push(record.error);
  if (typeof record.detail === 'string') parts.push(record.detail);
  return parts.join('; ').slice(0, 300);
}

/**
 * What of an error answer may be shown to an admin: the product's own error fields when the answer is
 * JSON, short and on one line; never raw text or HTML, which from an arbitrary host could be anything
 * (an internal page, a metadata document).
 */
export function shownProductMessage(body: unknown): string {
  if (body === null || typeof body !== 'object') return '';
  return productMessage(body)
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim()
    .slice(0, 200);
}

const STATUS_HINTS: Record<number, string> = {
  401: 'authentication failed: check the credentials configured for this target',
  403: 'the configured credentials lack the permission this call needs (site admin / workspace admin / org admin)',
};

function isThrottle(status: number, headers: Headers): boolean {
  return status === 429 || (status === 503 && headers.has('retry-after'));
}

export class HttpClient {
  private readonly options: Required<Omit<HttpClientOptions, 'counter'>> & { counter?: CallCounter };
  private readonly throttle: Throttle;
  private readonly authorization: string;
  private readonly base: string;

  constructor(options: HttpClientOptions) {
    this.options = {
      concurrency: HTTP_DEFAULTS.concurrency,
      maxRetries: HTTP_DEFAULTS.maxRetries,
      baseBackoffMs: HTTP_DEFAULTS.baseBackoffMs,
      maxBackoffMs: HTTP_DEFAULTS.maxBackoffMs,
      maxRetryAfterMs: HTTP_DEFAULTS.maxRetryAfterMs,
      timeoutMs: HTTP_DEFAULTS.timeoutMs,
      sleep: defaultSleep,
      random: Math.random,
      now: Date.now,
      // The process's egress: refuses non-public addresses at connect time, never follows redirects, caps answers.
      fetch: egressFetch,
      ...stripUndefined(options),
      target: options.target,
      baseUrl: options.baseUrl,
      auth: options.auth,
    };
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.authorization =
      options.auth.kind === 'basic'
        ? `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`, 'utf8').toString('base64')}`
        : `Bearer ${options.auth.token}`;
    this.throttle = new Throttle(Math.max(1, this.options.concurrency), this.options.now, this.options.sleep);
  }

  get target(): TargetKind {
    return this.options.target;
  }

  get counter(): CallCounter | undefined {
    return this.options.counter;
  }

  /** The URL of a call, for `self` links and messages (never carries credentials: auth is a header). */
  url(path: string, params: Record<string, string> = {}, query: Record<string, QueryValue> = {}): string {
    const filled = path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = params[name];
      if (value === undefined) throw new Error(`path parameter "${name}" missing for ${path}`);
      return encodeURIComponent(value);
    });
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined || value === null) continue;
      if (Array.isArray(value)) for (const item of value) search.append(key, String(item));
      else search.append(key, String(value));
    }
    const text = search.toString();
    return `${this.base}${filled}${text ? `?${text}` : ''}`;
  }

  /** Sends a request with throttling and retries; returns 2xx and accepted statuses, throws TargetError otherwise. */
  async request(spec: RequestSpec): Promise<HttpResponse> {
    const { method, path } = spec;
    const label = `${method} ${path}`;
    const url = this.url(path, spec.params, spec.query);
    const idempotent = spec.idempotent ?? (method === 'GET' || method === 'PUT' || method === 'DELETE');
    const headers: Record<string, string> = { Accept: 'application/json', Authorization: this.authorization };
    let payload: string | undefined;
    if (spec.form) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      payload = new URLSearchParams(spec.form).toString();
    } else if (spec.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(spec.body);
    }

    for (let attempt = 0; ; attempt += 1) {
      const isRetry = attempt > 0;
      const canRetry = attempt < this.options.maxRetries;
      await this.throttle.acquire(spec.signal);
      let response: Response;
      let body: unknown;
      const timeout = AbortSignal.timeout(this.options.timeoutMs);
      const signal = spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout;
      try {
        response = await this.options.fetch(url, { method, headers, body: payload, signal, redirect: 'manual' });
        body = await readBody(response);
      } catch (error) {
        this.throttle.release();
        this.options.counter?.record(method, path, { status: null, throttled: false, retry: isRetry });
        if (spec.signal?.aborted) throw spec.signal.reason ?? error;
        // A refused address, a redirect or an oversized answer: sending it again cannot help.
        if (error instanceof EgressError) {
          throw new TargetError(`${this.options.target} ${label}: ${error.message}`, null, this.options.target, label, false);
        }
        const reason = timeout.aborted ? `no response within ${this.options.timeoutMs} ms` : describeNetworkError(error);
        if (idempotent && canRetry) {
          await this.backoff(attempt, spec.signal);
          continue;
        }
        throw new TargetError(
          `${this.options.target} ${label}: ${reason}${idempotent ? ` (gave up after ${attempt + 1} attempts)` : ' (not retried: the call may have been applied)'}`,
          null,
          this.options.target,
          label,
          true,
        );
      }
      this.throttle.release();
      const status = response.status;
      const throttled = isThrottle(status, response.headers);
      this.options.counter?.record(method, path, { status, throttled, retry: isRetry });
      this.observeRateLimit(response.headers);

      if (throttled) {
        const wait = parseRetryAfter(response.headers.get('retry-after'), this.options.now());
        if (wait !== null && wait > this.options.maxRetryAfterMs) {
          throw new TargetError(
            `${this.options.target} ${label}: rate limited for ${Math.round(wait / 1000)} s, longer than the ${Math.round(this.options.maxRetryAfterMs / 1000)} s this client waits`,
            status,
            this.options.target,
            label,
            true,
          );
        }
        if (canRetry) {
          if (wait !== null) {
            this.throttle.pauseUntil(this.options.now() + wait);
          } else {
            await this.backoff(attempt, spec.signal);
          }
          continue;
        }
        throw this.error(label, status, body, `still rate limited after ${attempt + 1} attempts`);
      }
      if (status >= 500 && idempotent && canRetry) {
        await this.backoff(attempt, spec.signal);
        continue;
      }
      if ((status >= 200 && status < 300) || spec.accept?.includes(status)) {
        return { status, headers: response.headers, body };
      }
      throw this.error(label, status, body, status >= 500 && idempotent ? `gave up after ${attempt + 1} attempts` : undefined);
    }
  }

  /** `request` plus a zod check of the body: a product answering in an unexpected shape is an error, not a guess. */
  async json<T>(spec: RequestSpec, schema: z.ZodType<T>): Promise<{ status: number; body: T }> {
    const response = await this.request(spec);
    const parsed = schema.safeParse(response.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new TargetError(
        `${this.options.target} ${spec.method} ${spec.path}: unexpected response (${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid'})`,
        response.status,
        this.options.target,
        `${spec.method} ${spec.path}`,
      );
    }
    return { status: response.status, body: parsed.data };
  }

  private error(label: string, status: number, body: unknown, note?: string): TargetError {
    const words = redactText(shownProductMessage(body));
    const hint = STATUS_HINTS[status] ?? (status >= 300 && status < 400 ? 'a redirect, and redirects are not followed' : undefined);
    const message = [`${this.options.target} ${label} answered ${status}`, hint, words, note].filter(Boolean).join(': ');
    return new TargetError(message, status, this.options.target, label, status === 429 || status >= 500);
  }

  private observeRateLimit(headers: Headers): void {
    const remaining = headers.get('x-ratelimit-remaining');
    if (remaining === null || Number(remaining) > 0) return;
    const now = this.options.now();
    const reset = parseRateLimitReset(headers.get('x-ratelimit-reset'), now);
    if (reset !== null && reset > now && reset - now <= this.options.maxRetryAfterMs) this.throttle.pauseUntil(reset);
  }

  /** Full jitter: a random wait in [0, min(cap, base * 2^attempt)]. */
  private async backoff(attempt: number, signal?: AbortSignal): Promise<void> {
    const ceiling = Math.min(this.options.maxBackoffMs, this.options.baseBackoffMs * 2 ** attempt);
    await this.options.sleep(Math.round(this.options.random() * ceiling), signal);
  }
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  const type = response.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return `connection failed (${cause?.code ?? cause?.message ?? (error as Error)?.message ?? 'unknown error'})`;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Offset paging shared by the products that page with start/limit: yields items until the page says it is the last. */
export async function* pages<T>(
  fetchPage: (start: number) => Promise<{ items: T[]; isLast: boolean; next?: number }>,
): AsyncGenerator<T> {
  let start = 0;
  for (;;) {
    const page = await fetchPage(start);
    yield* page.items;
    if (page.isLast || page.items.length === 0) return;
    start = page.next ?? start + page.items.length;
  }
}

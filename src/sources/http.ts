import type { z } from 'zod';
import { redactUrl } from '../logging/logger';
import { EgressError, egressFetch } from '../egress';
import { SourceError, type SourceKind } from './types';

/**
 * The one HTTP path of every source. It honours each IdP's rate-limit signals — `Retry-After` (seconds or
 * an HTTP date; Graph, Keycloak behind a proxy, SCIM servers) and Okta's `X-Rate-Limit-Reset` (UTC epoch
 * seconds) — retries throttling, 5xx gateways and dropped connections a bounded number of times, and
 * turns every final failure into a SourceError that names the call but never its credentials.
 */

export interface SourceHttpOptions {
  /** Replaces global fetch (tests). */
  fetch?: typeof fetch;
  /** How the client waits between attempts; tests record the waits instead of sleeping. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  /** Retries after the first attempt (default 5). */
  maxRetries?: number;
  /** A server asking for a longer wait than this ends the pull instead (default 5 minutes). */
  maxWaitMs?: number;
  /** Per-attempt timeout (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface SourceRequest {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const ERROR_DETAIL_CHARS = 200;

export function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Milliseconds a throttled response asks us to wait, or null when it gives no signal.
 * Retry-After wins (it is the explicit answer); Okta's reset time is the fallback.
 */
export function rateLimitWaitMs(headers: Headers, now: number): number | null {
  const retryAfter = headers.get('retry-after');
  if (retryAfter !== null && retryAfter.trim() !== '') {
    const trimmed = retryAfter.trim();
    if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
    const date = Date.parse(trimmed);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const reset = headers.get('x-rate-limit-reset');
  if (reset !== null && /^\d+$/.test(reset.trim())) {
    // Epoch seconds; +1 s because the window resets at the *end* of that second.
    return Math.max(0, Number(reset.trim()) * 1000 - now + 1000);
  }
  return null;
}

export class SourceHttp {
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly now: () => number;
  private readonly maxRetries: number;
  private readonly maxWaitMs: number;
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal | undefined;
  /** Set when a response said the window is used up (remaining 0): the next call waits for the reset. */
  private notBefore = 0;
  /** Requests sent, retries included: the bench and tests read it. */
  requests = 0;

  constructor(
    readonly kind: SourceKind,
    options: SourceHttpOptions = {},
  ) {
    // The process's egress: refuses non-public addresses at connect time, never follows redirects, caps answers.
    this.fetchImpl = options.fetch ?? egressFetch;
    this.sleep = options.sleep ?? defaultSleep;
    this.now = options.now ?? Date.now;
    this.maxRetries = options.maxRetries ?? 5;
    this.maxWaitMs = options.maxWaitMs ?? 5 * 60_000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.signal = options.signal;
  }

  /** Sends the request, retrying what may be retried; resolves only with a 2xx response. */
  async request(url: string, init: SourceRequest = {}): Promise<Response> {
    const method = init.method ?? 'GET';
    const label = `${method} ${describeUrl(url)}`;
    for (let attempt = 0; ; attempt++) {
      this.signal?.throwIfAborted();
      const pause = this.notBefore - this.now();
      if (pause > 0) {
        if (pause > this.maxWaitMs) throw new SourceError(`${label}: rate limit resets in ${Math.ceil(pause / 1000)} s, longer than the pull waits`, this.kind, 429);
        await this.sleep(pause, this.signal);
      }
      this.notBefore = 0;

      let response: Response;
      try {
        this.requests++;
        const signals = [AbortSignal.timeout(this.timeoutMs)];
        if (this.signal) signals.push(this.signal);
        response = await this.fetchImpl(url, {
          method,
          headers: { accept: 'application/json', ...init.headers },
          body: init.body,
          signal: AbortSignal.any(signals),
          redirect: 'manual',
        });
      } catch (error) {
        if (this.signal?.aborted) throw this.signal.reason ?? error;
        // A refused address, a redirect or an oversized answer: sending it again cannot help.
        if (error instanceof EgressError) throw new SourceError(`${label}: ${error.message}`, this.kind, null);
        // A dropped connection or a timeout: the calls sources make are reads, so they are safe to repeat.
        if (attempt < this.maxRetries) {
          await this.sleep(backoffMs(attempt), this.signal);
          continue;
        }
        throw new SourceError(`${label}: ${(error as Error).message} (after ${attempt + 1} attempts)`, this.kind, null);
      }

      this.rememberQuota(response.headers);
      if (response.ok) return response;

      if (RETRYABLE_STATUS.has(response.status) && attempt < this.maxRetries) {
        const asked = rateLimitWaitMs(response.headers, this.now());
        const wait = asked ?? backoffMs(attempt);
        if (wait > this.maxWaitMs) {
          await response.body?.cancel().catch(() => undefined);
          throw new SourceError(`${label}: answered ${response.status} and asks to wait ${Math.ceil(wait / 1000)} s, longer than the pull waits`, this.kind, response.status);
        }
        await response.body?.cancel().catch(() => undefined);
        await this.sleep(wait, this.signal);
        continue;
      }
      throw await errorFromResponse(this.kind, label, response, attempt);
    }
  }

  /** GET/POST expecting JSON that `schema` accepts; a body of another shape is a SourceError, not a crash. */
  async json<T>(url: string, schema: z.ZodType<T>, init: SourceRequest = {}): Promise<{ body: T; response: Response }> {
    const response = await this.request(url, init);
    const label = `${init.method ?? 'GET'} ${describeUrl(url)}`;
    let raw: unknown;
    try {
      raw = await response.json();
    } catch (error) {
      throw new SourceError(`${label}: response is not JSON (${(error as Error).message})`, this.kind, response.status);
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new SourceError(
        `${label}: unexpected response shape at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
        this.kind,
        response.status,
      );
    }
    return { body: parsed.data, response };
  }

  private rememberQuota(headers: Headers): void {
    // Okta reports the window on every response; waiting for the reset beats spending a request on a 429.
    if (headers.get('x-rate-limit-remaining')?.trim() === '0') {
      const wait = rateLimitWaitMs(new Headers({ 'x-rate-limit-reset': headers.get('x-rate-limit-reset') ?? '' }), this.now());
      if (wait !== null) this.notBefore = this.now() + wait;
    }
  }
}

/** Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … capped at 30 s. */
function backoffMs(attempt: number): number {
  const ceiling = Math.min(30_000, 500 * 2 ** attempt);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** Origin and path only: query strings can carry filters with personal data, and never belong in errors. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return redactUrl(url);
  }
}

async function errorFromResponse(kind: SourceKind, label: string, response: Response, attempt: number): Promise<SourceError> {
  const detail = await shownErrorDetail(response);
  const what =
    response.status === 401 || response.status === 403
      ? `authentication failed (${response.status}): check the credentials and their permissions`
      : response.status === 429
        ? `still rate limited after ${attempt + 1} attempts`
        : response.status >= 300 && response.status < 400
          ? `answered ${response.status} (a redirect; redirects are not followed)`
          : `answered ${response.status}`;
  return new SourceError(`${label}: ${what}${detail ? ` — ${detail}` : ''}`, kind, response.status);
}

/**
 * What of an error answer may be shown to an admin: the IdP's own error fields when the answer is JSON
 * (OAuth error/error_description, Okta errorSummary, Graph error.message, SCIM detail), short and on one
 * line. Raw text or HTML is never echoed: from an arbitrary host it could be anything.
 */
async function shownErrorDetail(response: Response): Promise<string> {
  let body: unknown;
  try {
    if (!(response.headers.get('content-type') ?? '').includes('json')) {
      await response.body?.cancel().catch(() => undefined);
      return '';
    }
    body = await response.json();
  } catch {
    return '';
  }
  if (body === null || typeof body !== 'object') return '';
  const record = body as Record<string, unknown>;
  const nested = record.error && typeof record.error === 'object' ? (record.error as Record<string, unknown>) : {};
  const parts = [
    typeof record.error === 'string' ? record.error : undefined,
    record.error_description,
    record.errorSummary,
    nested.code,
    nested.message,
    record.detail,
    record.message,
  ].filter((part): part is string => typeof part === 'string' && part.trim() !== '');
  return parts.join(': ').replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, ERROR_DETAIL_CHARS);
}

/**
 * A `next` URL from a response (Link header, @odata.nextLink) is followed only on the origin the source
 * was configured with: a credential is never sent to a host the admin did not choose.
 */
export function assertSameOrigin(kind: SourceKind, next: string, configuredBase: string): string {
  const nextUrl = new URL(next, configuredBase);
  if (nextUrl.origin !== new URL(configuredBase).origin) {
    throw new SourceError(`next page link points to ${nextUrl.origin}, not the configured ${new URL(configuredBase).origin}`, kind, null);
  }
  return nextUrl.toString();
}

/** Joins a configured base URL (with or without a trailing slash or a path) and an API path. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

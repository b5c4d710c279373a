import { promises as dns } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';
import { EgressError, EgressPolicy, unbracket, type UrlRules } from './policy';

/**
 * The one way this process calls out. Built on undici (the same HTTP client as Node's fetch, pinned to the
 * version Node 20 bundles) because it lets us own the connect step:
 * - every address a name resolves to is checked by the policy *when the socket is opened*, so a name that
 *   resolved to a public address at save time and to 127.0.0.1 now (DNS rebinding) is still refused; IP
 *   literals, which never reach a resolver, are checked before the socket is opened;
 * - redirects are never followed: a 3xx is an error, so a public host cannot bounce us inward;
 * - every call has a deadline and every answer a byte cap, read before the caller sees it.
 */

export type Resolver = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export interface EgressSettings {
  policy: EgressPolicy;
  /** Largest response body read, in bytes. */
  maxResponseBytes: number;
  /** Ceiling for one call, connect to last byte; callers may set a shorter one with their signal. */
  timeoutMs: number;
  /** How names are resolved (tests stub it to map a name to any address). */
  resolve?: Resolver;
}

const systemResolve: Resolver = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/** Time a save waits for DNS before leaving the check to connect time. */
const SAVE_LOOKUP_MS = 2000;

export class Egress {
  readonly policy: EgressPolicy;
  readonly maxResponseBytes: number;
  readonly timeoutMs: number;
  private readonly resolve: Resolver;
  private readonly dispatcher: Agent;

  constructor(settings: EgressSettings) {
    this.policy = settings.policy;
    this.maxResponseBytes = settings.maxResponseBytes;
    this.timeoutMs = settings.timeoutMs;
    this.resolve = settings.resolve ?? systemResolve;
    const connectTimeout = Math.min(10_000, settings.timeoutMs);
    const connector = buildConnector({ timeout: connectTimeout, lookup: this.checkingLookup });
    this.dispatcher = new Agent({
      headersTimeout: settings.timeoutMs,
      bodyTimeout: settings.timeoutMs,
      connect: (options, callback) => {
        // net.connect skips the lookup for an IP literal, so literals are judged here.
        const host = unbracket(options.hostname);
        if (isIP(host)) {
          const refusal = this.policy.refusalForAddress(host);
          if (refusal) return callback(refusal, null);
        }
        return connector(options, callback);
      },
    });
  }

  /** node:net's lookup hook: resolves with our resolver and refuses if any address is refused. */
  private readonly checkingLookup: LookupFunction = (hostname, options, callback) => {
    this.resolveChecked(hostname).then(
      (addresses) => {
        const family = typeof options === 'object' ? options.family : options;
        const wanted = family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : addresses;
        if (wanted.length === 0) {
          const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
          return (callback as (error: Error) => void)(error);
        }
        if (typeof options === 'object' && options.all) return (callback as (e: null, a: typeof wanted) => void)(null, wanted);
        return callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (error: Error) => (callback as (error: Error) => void)(error),
    );
  };

  /** Resolves a name and checks every address: one refused address refuses the name (no "try the next one"). */
  private async resolveChecked(hostname: string): Promise<Array<{ address: string; family: number }>> {
    const addresses = await this.resolve(hostname);
    if (this.policy.hostAllowed(hostname)) return addresses;
    for (const { address } of addresses) {
      const refusal = this.policy.refusalForAddress(address, hostname);
      if (refusal) throw refusal;
    }
    return addresses;
  }

  /**
   * The save-time check: the static URL rules, then (for a name) its current addresses. A name that does
   * not resolve now is accepted: connect time checks it again anyway, on every call.
   */
  async checkUrl(url: string, rules: UrlRules = {}): Promise<EgressError | null> {
    const refusal = this.policy.refusalForUrl(url, rules);
    if (refusal) return refusal;
    const host = unbracket(new URL(url).hostname);
    if (isIP(host) || this.policy.hostAllowed(host)) return null;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), SAVE_LOOKUP_MS);
    });
    try {
      await Promise.race([this.resolveChecked(host), timeout]);
      return null;
    } catch (error) {
      return error instanceof EgressError ? error : null;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * fetch with the policy: no redirects, a deadline, a byte cap. Refusals and limits reject with an
   * EgressError (never retried by the clients above); the body comes back fully read.
   */
  readonly fetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const refusal = this.policy.refusalForUrl(url);
    if (refusal && (refusal.rule === 'scheme' || refusal.rule === 'credentials-in-url')) throw refusal;
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    let response: Awaited<ReturnType<typeof undiciFetch>>;
    try {
      response = await undiciFetch(url, {
        ...(init as Parameters<typeof undiciFetch>[1]),
        signal,
        redirect: 'manual',
        dispatcher: this.dispatcher,
      });
    } catch (error) {
      throw egressCause(error) ?? error;
    }
    if (response.status >= 300 && response.status < 400 && response.status !== 304) {
      await response.body?.cancel().catch(() => undefined);
      throw new EgressError('redirect', `refused: ${url.origin} answered ${response.status} (a redirect); outbound calls never follow redirects`);
    }
    const body = await this.readCapped(response, url);
    const empty = response.status === 204 || response.status === 205 || response.status === 304;
    return new Response(empty ? null : body, { status: response.status, statusText: response.statusText, headers: response.headers as unknown as Headers });
  };

  private async readCapped(response: Awaited<ReturnType<typeof undiciFetch>>, url: URL): Promise<Uint8Array> {
    const tooLarge = () =>
      new EgressError('response-size', `refused: ${url.origin} sent more than ${this.maxResponseBytes} bytes (EGRESS_MAX_RESPONSE_BYTES)`);
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > this.maxResponseBytes) {
      await response.body?.cancel().catch(() => undefined);
      throw tooLarge();
    }
    if (!response.body) return new Uint8Array();
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for await (const chunk of response.body) {
        total += chunk.byteLength;
        if (total > this.maxResponseBytes) throw tooLarge();
        chunks.push(chunk);
      }
    } catch (error) {
      await response.body.cancel().catch(() => undefined);
      throw egressCause(error) ?? error;
    }
    return Buffer.concat(chunks);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/** fetch wraps connect failures in TypeError('fetch failed'); a refusal is found in the cause chain. */
function egressCause(error: unknown): EgressError | null {
  for (let current = error, depth = 0; current && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    if (current instanceof EgressError) return current;
  }
  return null;
}

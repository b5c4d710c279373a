import { createPublicKey } from 'node:crypto';
import { EgressError, egressFetch } from '../egress';

/**
 * Atlassian's servers for the RS256 public keys of signed lifecycle callbacks (`GET {server}/{kid}`, a PEM).
 * Which one serves a key depends on the product's environment, told by the install's `baseUrl`; the table
 * and the fallback are those of atlassian-connect-express 11.5 (`verify-installation.js`, `getKey`).
 */
const PRODUCTION_CDN = 'https://connect-install-keys.atlassian.com';
const KEY_SERVERS: ReadonlyArray<{ hostSuffixes: readonly string[]; primary: string; fallback: string }> = [
  { hostSuffixes: ['.atlassian.net', '.jira.com'], primary: 'https://asap-distribution.us-west-2.prod.atl-asap.net', fallback: PRODUCTION_CDN },
  {
    hostSuffixes: ['.atlassian-us-gov-mod.net'],
    primary: 'https://asap-distribution.us-west-2.prod.atl-auth-us-gov-mod.net',
    fallback: 'https://cs-migrations--fedrampcdn.us-east-1.prod.cdn.atlassian-us-gov-mod.com',
  },
  {
    hostSuffixes: ['.jira-dev.com'],
    primary: 'https://asap-distribution.us-west-2.staging.atl-asap.net',
    fallback: 'https://cs-migrations--cdn.us-east-1.staging.public.atl-paas.net',
  },
  {
    hostSuffixes: ['.atlassian-stg-fedm.net'],
    primary: 'https://asap-distribution.us-west-2.staging.atl-auth-us-gov-mod.net',
    fallback: 'https://cs-migrations--fedrampcdn.us-east-1.staging.cdn.atlassian-us-gov-mod.com',
  },
];

/**
 * The servers asked for a key, in order. The operator's CONNECT_KEYS_CDN_URL replaces Atlassian's entirely:
 * a deployment that points it elsewhere (tests, an isolated network) must not fall back to the internet.
 */
export function keyServersFor(hostBaseUrl: string, override?: string): string[] {
  if (override) return [override.replace(/\/+$/, '')];
  let host = '';
  try {
    host = new URL(hostBaseUrl).hostname.toLowerCase();
  } catch {
    // Not a URL: Atlassian's production CDN, as for an unknown host.
  }
  const environment = KEY_SERVERS.find((entry) => entry.hostSuffixes.some((suffix) => host.endsWith(suffix)));
  return environment ? [environment.primary, environment.fallback] : [PRODUCTION_CDN];
}

/**
 * A key id as Atlassian issues them (a UUID, or a short path of plain segments). The id comes from the
 * caller's JWT header and becomes part of the key URL, so anything else (`..`, `?`, `#`, `@`, `%`) is refused
 * before a URL is built: it can only name a key on the key server, never another path or host.
 */
const KEY_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}(\/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}){0,4}$/;

export function isPlainKeyId(kid: unknown): kid is string {
  return typeof kid === 'string' && KEY_ID.test(kid) && !kid.split('/').includes('..');
}

/** The key could not be had from any server; the message says why for each, fit for the caller and the log. */
export class InstallKeyError extends Error {
  constructor(
    message: string,
    /** The egress rule that refused a server, when one did (tests and logs tell refusals from outages). */
    readonly rule?: EgressError['rule'],
  ) {
    super(message);
    this.name = 'InstallKeyError';
  }
}

/** A key server answered, but not with a key. */
class KeyServerAnswerError extends Error {}

export interface InstallKeysOptions {
  /** CONNECT_KEYS_CDN_URL, when the operator set one. */
  keyServerOverride?: string;
  /** Ceiling for one key fetch; the process egress's own (longer) deadline still applies. */
  timeoutMs?: number;
  /** How long a fetched key is reused. A kid names one key for good, so this only bounds how late a withdrawn key is noticed. */
  cacheMs?: number;
  /** Most keys kept; Atlassian signs with a handful at a time. */
  cacheEntries?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/** A PEM public key is well under 1 KB; anything much larger is not one. */
const MAX_KEY_CHARS = 16 * 1024;

/**
 * Fetches the public keys of signed lifecycle callbacks through the process egress (address check at connect
 * time, no redirects, a byte cap, a deadline), so the one call a stranger can cause by posting /installed is
 * held to the same rules as every other. Keys are cached briefly per server and kid; concurrent fetches of one
 * key share one call; failures are not cached.
 */
export class InstallKeys {
  private readonly cache = new Map<string, { pem: string; expiresAt: number }>();
  private readonly inFlight = new Map<string, Promise<string>>();
  private readonly fetch: typeof fetch;
  private readonly now: () => number;
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private readonly cacheEntries: number;

  constructor(private readonly options: InstallKeysOptions = {}) {
    this.fetch = options.fetch ?? egressFetch;
    this.now = options.now ?? Date.now;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.cacheMs = options.cacheMs ?? 5 * 60_000;
    this.cacheEntries = options.cacheEntries ?? 64;
  }

  /** The PEM public key `kid` names, for an install from `hostBaseUrl`. */
  async publicKey(kid: string, hostBaseUrl: string): Promise<string> {
    if (!isPlainKeyId(kid)) throw new InstallKeyError('The install JWT names a key id this app does not fetch');
    const servers = keyServersFor(hostBaseUrl, this.options.keyServerOverride);
    const cacheKey = `${servers[0]}/${kid}`;
    const cached = this.cache.get(cacheKey);
    if (cached && cached.expiresAt > this.now()) return cached.pem;
    const pending = this.inFlight.get(cacheKey);
    if (pending) return pending;
    const fetching = this.fetchFrom(servers, kid)
      .then((pem) => {
        this.remember(cacheKey, pem);
        return pem;
      })
      .finally(() => this.inFlight.delete(cacheKey));
    this.inFlight.set(cacheKey, fetching);
    return fetching;
  }

  private remember(cacheKey: string, pem: string): void {
    this.cache.delete(cacheKey);
    this.cache.set(cacheKey, { pem, expiresAt: this.now() + this.cacheMs });
    // A Map iterates in insertion order: the first entries are the oldest.
    for (const key of this.cache.keys()) {
      if (this.cache.size <= this.cacheEntries) break;
      this.cache.delete(key);
    }
  }

  private async fetchFrom(servers: string[], kid: string): Promise<string> {
    const failures: string[] = [];
    let rule: EgressError['rule'] | undefined;
    for (const server of servers) {
      try {
        return await this.fetchOne(server, kid);
      } catch (error) {
        if (error instanceof EgressError) rule ??= error.rule;
        failures.push(describeFailure(server, error));
      }
    }
    throw new InstallKeyError(`Could not get the public key with key id ${kid}: ${failures.join('; ')}`, rule);
  }

  private async fetchOne(server: string, kid: string): Promise<string> {
    const response = await this.fetch(`${server}/${kid}`, {
      signal: AbortSignal.timeout(this.timeoutMs),
      headers: { accept: 'application/x-pem-file, text/plain' },
    });
    const origin = new URL(server).origin;
    if (!response.ok) throw new KeyServerAnswerError(`${origin} answered ${response.status}`);
    const pem = (await response.text()).trim();
    if (pem.length > MAX_KEY_CHARS || !isRsaPublicKey(pem)) throw new KeyServerAnswerError(`${origin} did not answer with an RSA public key`);
    return pem;
  }
}

function isRsaPublicKey(pem: string): boolean {
  try {
    return createPublicKey({ key: pem, format: 'pem' }).asymmetricKeyType === 'rsa';
  } catch {
    return false;
  }
}

/** One server's failure in words: egress refusals say their rule; network errors say no more than that. */
function describeFailure(server: string, error: unknown): string {
  const origin = new URL(server).origin;
  if (error instanceof EgressError || error instanceof KeyServerAnswerError) return error.message;
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `${origin} did not answer in time`;
  return `${origin} could not be reached`;
}

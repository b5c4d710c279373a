import { Egress, type Resolver } from './client';
import { EgressPolicy, parseAllowList } from './policy';

export { Egress, type Resolver } from './client';
export { EgressError, EgressPolicy, classifyAddress, parseAllowList, type EgressRule, type UrlRules } from './policy';
export { CLOUD_VENDOR_HOSTS } from './vendors';

/**
 * The process's egress. It is an operator setting (EGRESS_ALLOW and friends, read by src/config), one per
 * process like the connection pool it owns, so it is held here rather than threaded through every adapter.
 * Until the app configures it, it is the strict default: public addresses only.
 */

export interface EgressConfig {
  /** EGRESS_ALLOW entries: addresses, CIDRs, host names, *.domains. */
  allow: string[];
  maxResponseBytes: number;
  timeoutMs: number;
}

export const EGRESS_DEFAULTS: EgressConfig = { allow: [], maxResponseBytes: 16 * 1024 * 1024, timeoutMs: 60_000 };

let current: Egress | undefined;

/** Replaces the process's egress (the app does this from its config at start; tests may stub DNS). */
export function configureEgress(config: EgressConfig = EGRESS_DEFAULTS, options: { resolve?: Resolver } = {}): Egress {
  const previous = current;
  current = new Egress({
    policy: new EgressPolicy(parseAllowList(config.allow.join(','))),
    maxResponseBytes: config.maxResponseBytes,
    timeoutMs: config.timeoutMs,
    resolve: options.resolve,
  });
  previous?.close().catch(() => undefined);
  return current;
}

export function egress(): Egress {
  return (current ??= configureEgress());
}

/** A fetch for clients that take one: every call goes through the process's egress as it is at call time. */
export const egressFetch: typeof fetch = (input, init) => egress().fetch(input, init);

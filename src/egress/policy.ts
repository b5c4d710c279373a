import { isIP } from 'node:net';

/**
 * What an outbound call may reach. Pure: no sockets, no DNS. The client (client.ts) asks it about every
 * address a name resolves to at connect time; the config schemas ask it about a URL when it is saved.
 *
 * The rule is "public unicast addresses only": every range below is refused unless the operator lists the
 * host or a CIDR covering the address in EGRESS_ALLOW. A tenant admin never widens it.
 */

export type EgressRule =
  | 'scheme'
  | 'credentials-in-url'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cgnat'
  | 'unique-local'
  | 'multicast'
  | 'unspecified'
  | 'ipv4-mapped'
  | 'ipv6-transition'
  | 'reserved'
  | 'vendor-host'
  | 'https-only'
  | 'redirect'
  | 'response-size';

/** An outbound call this process refused to make (or to finish). `rule` names why, for messages and tests. */
export class EgressError extends Error {
  constructor(
    readonly rule: EgressRule,
    message: string,
  ) {
    super(message);
    this.name = 'EgressError';
  }
}

interface Range {
  network: bigint;
  prefix: number;
  bits: 32 | 128;
  rule: EgressRule;
  what: string;
}

function ipv4ToBigInt(address: string): bigint {
  return address.split('.').reduce((value, part) => (value << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(address: string): bigint {
  let text = address.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hex groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const v4 = ipv4ToBigInt(quad[1]!);
    text = `${text.slice(0, quad.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups];
  return groups.reduce((value, group) => (value << 16n) | BigInt(parseInt(group || '0', 16)), 0n);
}

function range(cidr: string, rule: EgressRule, what: string): Range {
  const [address, prefixText] = cidr.split('/') as [string, string];
  const bits = isIP(address) === 4 ? 32 : 128;
  const prefix = Number(prefixText);
  const value = bits === 32 ? ipv4ToBigInt(address) : ipv6ToBigInt(address);
  return { network: mask(value, prefix, bits), prefix, bits, rule, what };
}

function mask(value: bigint, prefix: number, bits: 32 | 128): bigint {
  const hostBits = BigInt(bits - prefix);
  return (value >> hostBits) << hostBits;
}

function inRange(value: bigint, bits: 32 | 128, candidate: Range): boolean {
  return candidate.bits === bits && mask(value, candidate.prefix, bits) === candidate.network;
}

/** Most specific first, so 169.254.169.254 is reported as link-local and ::1 as loopback. */
const REFUSED: Range[] = [
  range('0.0.0.0/8', 'unspecified', 'an unspecified ("this network") address'),
  range('10.0.0.0/8', 'private', 'a private address (RFC 1918)'),
  range('100.64.0.0/10', 'cgnat', 'a carrier-grade NAT address (RFC 6598, 100.64.0.0/10)'),
  range('127.0.0.0/8', 'loopback', 'a loopback address'),
  range('169.254.0.0/16', 'link-local', 'a link-local address (cloud metadata services live here)'),
  range('172.16.0.0/12', 'private', 'a private address (RFC 1918)'),
  range('192.0.0.0/24', 'reserved', 'an IETF protocol address (RFC 6890)'),
  range('192.0.2.0/24', 'reserved', 'a documentation address (RFC 5737)'),
  range('192.88.99.0/24', 'reserved', 'a 6to4 relay address (RFC 7526)'),
  range('192.168.0.0/16', 'private', 'a private address (RFC 1918)'),
  range('198.18.0.0/15', 'reserved', 'a benchmarking address (RFC 2544)'),
  range('198.51.100.0/24', 'reserved', 'a documentation address (RFC 5737)'),
  range('203.0.113.0/24', 'reserved', 'a documentation address (RFC 5737)'),
  range('224.0.0.0/4', 'multicast', 'a multicast address'),
  range('240.0.0.0/4', 'reserved', 'a reserved or broadcast address'),
  range('::/128', 'unspecified', 'the unspecified IPv6 address'),
  range('::1/128', 'loopback', 'a loopback address'),
  range('::ffff:0:0/96', 'ipv4-mapped', 'an IPv4-mapped IPv6 address'),
  range('::/96', 'ipv4-mapped', 'an IPv4-compatible IPv6 address'),
  range('64:ff9b::/96', 'ipv6-transition', 'a NAT64 address (it reaches an IPv4 address)'),
  range('64:ff9b:1::/48', 'ipv6-transition', 'a local NAT64 address'),
  range('100::/64', 'reserved', 'a discard-only IPv6 address'),
  range('2001:db8::/32', 'reserved', 'a documentation address (RFC 3849)'),
  range('2001::/32', 'ipv6-transition', 'a Teredo address (it reaches an IPv4 address)'),
  range('2002::/16', 'ipv6-transition', 'a 6to4 address (it reaches an IPv4 address)'),
  range('fc00::/7', 'unique-local', 'a unique local IPv6 address (fc00::/7)'),
  range('fe80::/10', 'link-local', 'a link-local address'),
  range('fec0::/10', 'reserved', 'a site-local IPv6 address (deprecated)'),
  range('ff00::/8', 'multicast', 'a multicast address'),
];

/** An IP literal as written in a URL host: brackets removed. */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Which refused range an IP address is in, or null for a public unicast address. */
export function classifyAddress(address: string): { rule: EgressRule; what: string } | null {
  const plain = unbracket(address);
  const family = isIP(plain);
  if (family === 0) return { rule: 'reserved', what: 'not an IP address' };
  const bits = family === 4 ? 32 : 128;
  const value = family === 4 ? ipv4ToBigInt(plain) : ipv6ToBigInt(plain);
  const hit = REFUSED.find((candidate) => inRange(value, bits, candidate));
  return hit ? { rule: hit.rule, what: hit.what } : null;
}

/** One EGRESS_ALLOW entry: an address or CIDR, a host name, or `*.suffix` (any name below suffix). */
export type AllowEntry = { kind: 'cidr'; range: Range; text: string } | { kind: 'host'; name: string } | { kind: 'suffix'; suffix: string };

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Parses one allow-list entry; returns an error message for an entry that is none of the three forms. */
export function parseAllowEntry(raw: string): AllowEntry | string {
  const text = raw.trim().toLowerCase();
  const [address, prefixText, extra] = unbracket(text).split('/');
  if (address && isIP(address) && extra === undefined) {
    const bits = isIP(address) === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? bits : Number(prefixText);
    if (!/^\d+$/.test(prefixText ?? String(bits)) || prefix > bits) return `"${raw}" has an invalid prefix length`;
    return { kind: 'cidr', range: range(`${address}/${prefix}`, 'reserved', 'allowed'), text };
  }
  if (text.startsWith('*.') && HOST_NAME.test(text.slice(2))) return { kind: 'suffix', suffix: text.slice(1) };
  if (HOST_NAME.test(text.replace(/\.$/, ''))) return { kind: 'host', name: text.replace(/\.$/, '') };
  return `"${raw}" is not an IP address, a CIDR, a host name or *.domain`;
}

export function parseAllowList(text: string | undefined): AllowEntry[] {
  const entries: AllowEntry[] = [];
  for (const raw of (text ?? '').split(/[\s,]+/).filter(Boolean)) {
    const entry = parseAllowEntry(raw);
    if (typeof entry === 'string') throw new Error(entry);
    entries.push(entry);
  }
  return entries;
}

/** Vendor host patterns: an exact name, or `*.domain` for any name below it. */
export function hostMatches(hostname: string, patterns: readonly string[]): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return patterns.some((pattern) => (pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1 : host === pattern));
}

export interface UrlRules {
  /** Only these hosts (exact or `*.domain`) are accepted, unless the operator lists the host. */
  vendorHosts?: readonly string[];
  /** Refuse plain http, unless the operator lists the host. */
  httpsOnly?: boolean;
  /** Names the kind in messages ("jira-cloud targets accept only …"). */
  what?: string;
}

export const ALLOW_HINT = 'an operator can allow it with EGRESS_ALLOW';

export class EgressPolicy {
  constructor(readonly allow: readonly AllowEntry[] = []) {}

  /** The operator listed this host name (exactly or by suffix): every address it resolves to is accepted. */
  hostAllowed(hostname: string): boolean {
    const host = unbracket(hostname.toLowerCase()).replace(/\.$/, '');
    return this.allow.some((entry) =>
      entry.kind === 'host' ? entry.name === host : entry.kind === 'suffix' ? host.endsWith(entry.suffix) : false,
    );
  }

  addressAllowed(address: string): boolean {
    const plain = unbracket(address);
    const family = isIP(plain);
    if (family === 0) return false;
    const bits = family === 4 ? 32 : 128;
    const value = family === 4 ? ipv4ToBigInt(plain) : ipv6ToBigInt(plain);
    return this.allow.some((entry) => entry.kind === 'cidr' && inRange(value, bits, entry.range));
  }

  /** The refusal for connecting to `address` (reached through `hostname`), or null when it may be reached. */
  refusalForAddress(address: string, hostname = address): EgressError | null {
    if (this.hostAllowed(hostname) || this.addressAllowed(address)) return null;
    const hit = classifyAddress(address);
    if (!hit) return null;
    const plain = unbracket(hostname);
    const subject = plain === unbracket(address) ? plain : `${plain} (${unbracket(address)})`;
    return new EgressError(hit.rule, `refused: ${subject} is ${hit.what}; ${ALLOW_HINT}`);
  }

  /**
   * The checks a URL can pass without DNS: the scheme, IP literals (the URL parser has already turned
   * 2130706433, 0x7f.1 and 017700000001 into 127.0.0.1), names that mean loopback, and per-kind rules.
   */
  refusalForUrl(value: string | URL, rules: UrlRules = {}): EgressError | null {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return new EgressError('scheme', 'refused: not a URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      return new EgressError('scheme', `refused: ${url.protocol} URLs are not called, only http(s)`);
    }
    if (url.username || url.password) {
      return new EgressError('credentials-in-url', 'refused: credentials in a URL are not accepted (give them in their own fields)');
    }
    const host = unbracket(url.hostname.toLowerCase()).replace(/\.$/, '');
    const listed = this.hostAllowed(host) || (isIP(host) !== 0 && this.addressAllowed(host));
    if (listed) return null;
    if (isIP(host)) {
      const refusal = this.refusalForAddress(host);
      if (refusal) return refusal;
    } else if (host === 'localhost' || host.endsWith('.localhost')) {
      return new EgressError('loopback', `refused: ${host} is a loopback name; ${ALLOW_HINT}`);
    }
    const what = rules.what ?? 'this kind';
    if (rules.vendorHosts && !hostMatches(host, rules.vendorHosts)) {
      return new EgressError('vendor-host', `refused: ${what} accepts only ${rules.vendorHosts.join(', ')}, not ${host}; ${ALLOW_HINT}`);
    }
    if (rules.httpsOnly && url.protocol !== 'https:') {
      return new EgressError('https-only', `refused: ${what} is reached over https only; ${ALLOW_HINT}`);
    }
    return null;
  }
}

import { EgressPolicy, classifyAddress, parseAllowList } from '../../src/egress';
import { CLOUD_VENDOR_HOSTS } from '../../src/egress';
import { loadConfig } from '../../src/config';

describe('egress policy: address classes', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.1.2', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'ipv4-mapped'],
    ['::ffff:7f00:1', 'ipv4-mapped'],
    ['::ffff:8.8.8.8', 'ipv4-mapped'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.254', 'cgnat'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'reserved'],
    ['64:ff9b::a00:1', 'ipv6-transition'],
    ['2002:7f00:1::', 'ipv6-transition'],
  ])('%s is refused as %s', (address, rule) => {
    expect(classifyAddress(address)?.rule).toBe(rule);
  });

  it.each(['8.8.8.8', '104.192.141.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '13.227.1.1'])('%s is public', (address) => {
    expect(classifyAddress(address)).toBeNull();
  });
});

describe('egress policy: URLs at save time', () => {
  const strict = new EgressPolicy();

  it.each([
    ['http://2130706433/', 'loopback', '127.0.0.1'],
    ['http://0x7f.1/', 'loopback', '127.0.0.1'],
    ['http://017700000001/', 'loopback', '127.0.0.1'],
    ['http://127.1:4001/', 'loopback', '127.0.0.1'],
    ['http://[::ffff:127.0.0.1]:4001/', 'ipv4-mapped', '::ffff:7f00:1'],
    ['http://[::1]/', 'loopback', '::1'],
    ['http://localhost:3000/', 'loopback', 'localhost'],
    ['http://jira.localhost/', 'loopback', 'jira.localhost'],
    ['http://10.0.0.1/', 'private', '10.0.0.1'],
    ['http://169.254.169.254/latest/meta-data', 'link-local', '169.254.169.254'],
    ['http://0.0.0.0:4001/', 'unspecified', '0.0.0.0'],
    ['ftp://example.com/', 'scheme', 'ftp:'],
    ['https://user:pw@example.com/', 'credentials-in-url', 'credentials'],
  ])('%s is refused (%s) and the message names the address and the rule', (url, rule, named) => {
    const refusal = strict.refusalForUrl(url);
    expect(refusal?.rule).toBe(rule);
    expect(refusal?.message).toContain(named);
  });

  it('names the rule and the operator setting in the message', () => {
    expect(strict.refusalForUrl('http://10.0.0.1')?.message).toBe(
      'refused: 10.0.0.1 is a private address (RFC 1918); an operator can allow it with EGRESS_ALLOW',
    );
  });

  it('cloud kinds accept only their vendor hosts over https', () => {
    const jira = { vendorHosts: CLOUD_VENDOR_HOSTS['jira-cloud'], httpsOnly: true, what: 'a jira-cloud target' };
    expect(strict.refusalForUrl('https://acme.atlassian.net', jira)).toBeNull();
    expect(strict.refusalForUrl('https://acme.jira.com', jira)).toBeNull();
    expect(strict.refusalForUrl('https://ACME.Atlassian.NET.', jira)).toBeNull();
    expect(strict.refusalForUrl('https://atlassian.net.evil.com', jira)?.rule).toBe('vendor-host');
    expect(strict.refusalForUrl('https://evilatlassian.net', jira)?.rule).toBe('vendor-host');
    expect(strict.refusalForUrl('http://acme.atlassian.net', jira)?.rule).toBe('https-only');
    const bitbucket = { vendorHosts: CLOUD_VENDOR_HOSTS['bitbucket-cloud'], httpsOnly: true };
    expect(strict.refusalForUrl('https://api.bitbucket.org', bitbucket)).toBeNull();
    expect(strict.refusalForUrl('https://bitbucket.org', bitbucket)?.rule).toBe('vendor-host');
  });

  it('EGRESS_ALLOW lists addresses, CIDRs and names; a listed host is exempt from every URL rule', () => {
    const policy = new EgressPolicy(parseAllowList('127.0.0.1, 10.20.0.0/16 jira.corp.example,*.svc.internal'));
    expect(policy.refusalForUrl('http://127.0.0.1:4001')).toBeNull();
    expect(policy.refusalForUrl('http://2130706433:4001')).toBeNull();
    expect(policy.refusalForUrl('http://10.20.3.4')).toBeNull();
    expect(policy.refusalForUrl('http://10.21.3.4')?.rule).toBe('private');
    expect(policy.refusalForUrl('http://[::1]')?.rule).toBe('loopback');
    expect(policy.refusalForUrl('http://127.0.0.1:4001', { vendorHosts: ['*.atlassian.net'], httpsOnly: true })).toBeNull();
    expect(policy.refusalForAddress('10.9.9.9', 'jira.corp.example')).toBeNull();
    expect(policy.refusalForAddress('10.9.9.9', 'keycloak.svc.internal')).toBeNull();
    expect(policy.refusalForAddress('10.9.9.9', 'svc.internal')?.rule).toBe('private');
  });

  it('refuses a malformed EGRESS_ALLOW at start, naming the entry', () => {
    expect(() => parseAllowList('127.0.0.1,not a host!')).toThrow(/"not" is not|"host!" is not/);
    expect(() => loadConfig({ NODE_ENV: 'test', EGRESS_ALLOW: '10.0.0.0/99' })).toThrow(/EGRESS_ALLOW: "10.0.0.0\/99" has an invalid prefix length/);
  });

  it('holds the operator URLs (install keys, OAuth server) to the same rules at start', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', CONNECT_KEYS_CDN_URL: 'http://127.0.0.1:9999' })).toThrow(
      /CONNECT_KEYS_CDN_URL: refused: 127.0.0.1 is a loopback address/,
    );
    expect(loadConfig({ NODE_ENV: 'test', CONNECT_KEYS_CDN_URL: 'http://127.0.0.1:9999', EGRESS_ALLOW: '127.0.0.1' }).connect.keysCdnUrl).toBe('http://127.0.0.1:9999');
  });
});

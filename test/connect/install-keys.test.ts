import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { promises as dns } from 'node:dns';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { testApp } from '../helpers/runtime';
import { createLogger } from '../../src/logging/logger';
import { installPayload, signLifecycle, startKeyServer, type KeyServer } from '../helpers/connect';
import { configureEgress, type Resolver } from '../../src/egress';
import { InstallKeys, keyServersFor } from '../../src/connect/install-keys';
import type { App } from '../../src/app';
import type { Config } from '../../src/config';

const BASE_URL = 'https://app.example.test';

/** A loopback listener that counts the TCP connections it accepted. */
async function listener(handler: http.RequestListener) {
  const server = http.createServer(handler);
  let accepted = 0;
  server.on('connection', () => accepted++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The public key of a signed /installed or /uninstalled is fetched through src/egress: the address is checked
 * when the socket opens, redirects are refused, the answer is bounded. (ACE's own fetch, with `request`,
 * followed the redirect, read any size and resolved names without a check.)
 */
describe('signed-install key fetch through the egress layer', () => {
  let t: TestDatabase;
  let keys: KeyServer;
  let app: App & { config: Config };
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    t = await createTestDatabase();
    keys = await startKeyServer();
  });
  afterAll(async () => {
    await keys.close();
    await t.destroy();
  });
  beforeEach(async () => {
    await t.truncate();
    keys.answer = null;
    keys.requested.length = 0;
  });
  afterEach(async () => {
    while (closers.length) await closers.pop()!();
  });

  // A fresh app per test: each has its own key cache, so one test's fetched key does not serve the next.
  // What the app logs: the reason a key could not be had is written there, not sent to the caller.
  let logged: { reason?: string }[] = [];
  const start = async (env: Record<string, string> = {}) => {
    logged = [];
    const logger = createLogger({ level: 'warn', destination: { write: (line: string) => void logged.push(JSON.parse(line) as { reason?: string }) } });
    app = await testApp(t.db, { APP_BASE_URL: BASE_URL, CONNECT_KEYS_CDN_URL: keys.url, EGRESS_MAX_RESPONSE_BYTES: '65536', ...env }, logger);
  };
  const loggedReasons = () => logged.map((line) => line.reason ?? '').join('\n');
  const signed = (clientKey: string, path: '/installed' | '/uninstalled' = '/installed') =>
    signLifecycle({ privateKey: keys.privateKey, kid: keys.kid, clientKey, audience: BASE_URL, path });
  const install = (clientKey = 'client-a') =>
    request(app.app).post('/installed').set('Authorization', `JWT ${signed(clientKey)}`).send(installPayload(clientKey, 'secret'));

  it('refuses an install whose key server answers with a redirect, and never connects to the redirect target', async () => {
    await start();
    // The redirect target would serve the right key: following the redirect would let the install in.
    const elsewhere = await listener((_req, res) => res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(keys.publicPem));
    closers.push(elsewhere.close);
    keys.answer = (_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${elsewhere.port}/${keys.kid}` }).end();

    const res = await install().expect(401);
    expect(loggedReasons()).toMatch(/answered 302 \(a redirect\); outbound calls never follow redirects/);
    expect(keys.requested).toEqual([`/${keys.kid}`]);
    expect(elsewhere.accepted).toBe(0);
    expect(await app.tenants.findByClientKey('client-a')).toBeNull();

    const uninstall = await request(app.app)
      .post('/uninstalled')
      .set('Authorization', `JWT ${signed('client-a', '/uninstalled')}`)
      .send({ ...installPayload('client-a', 'secret'), eventType: 'uninstalled' })
      .expect(401);
    expect(uninstall.body.message).toMatch(/the app's log says why/);
    expect(logged.filter((line) => /a redirect/.test(line.reason ?? ''))).toHaveLength(2);
    expect(elsewhere.accepted).toBe(0);
  });

  it('refuses an install whose key server answers more than the egress byte cap, and keeps serving', async () => {
    await start();
    keys.answer = (_req, res) => {
      // Chunked, no Content-Length: the cap is enforced while reading, not from a header.
      res.writeHead(200, { 'content-type': 'application/x-pem-file' });
      for (let i = 0; i < 16; i++) res.write(Buffer.alloc(8 * 1024, 'A'));
      res.end();
    };
    const res = await install().expect(401);
    expect(res.body.message).toBe(`Could not get the public key with key id ${keys.kid}; the app's log says why`);
    expect(loggedReasons()).toMatch(/sent more than 65536 bytes \(EGRESS_MAX_RESPONSE_BYTES\)/);
    expect(await app.tenants.findByClientKey('client-a')).toBeNull();

    // Still alive, and the refusal was not remembered: once the key server behaves, the install goes through.
    await request(app.app).get('/healthz').expect(200);
    keys.answer = null;
    await install().expect(204);
  });

  it.each([
    ['10.0.0.7', 'a private address (RFC 1918)'],
    ['169.254.169.254', 'a link-local address (cloud metadata services live here)'],
    ['100.64.0.1', 'a carrier-grade NAT address (RFC 6598, 100.64.0.0/10)'],
    ['fd00::7', 'a unique local IPv6 address (fc00::/7)'],
  ])('refuses an install whose key server name resolves to %s (not in EGRESS_ALLOW), naming the rule', async (address, what) => {
    // The name also resolves to the listed loopback address the key server listens on: without the check at
    // connect time, the fetch would reach it and the install would pass.
    const port = new URL(keys.url).port;
    await start({ CONNECT_KEYS_CDN_URL: `http://keys.corp.example:${port}` });
    const resolve: Resolver = async (hostname) =>
      hostname === 'keys.corp.example'
        ? [{ address: '127.0.0.1', family: 4 }, { address, family: address.includes(':') ? 6 : 4 }]
        : dns.lookup(hostname, { all: true, verbatim: true });
    configureEgress(app.config.egress, { resolve });

    const res = await install().expect(401);
    expect(loggedReasons()).toContain(`refused: keys.corp.example (${address}) is ${what}; an operator can allow it with EGRESS_ALLOW`);
    // The caller (anyone can post /installed) does not learn the operator's addresses.
    expect(JSON.stringify(res.body)).not.toContain(address);
    expect(keys.requested).toEqual([]);
    expect(await app.tenants.findByClientKey('client-a')).toBeNull();
  });

  it('fetches a kid once and reuses it for the next install', async () => {
    await start();
    await install('client-a').expect(204);
    await install('client-b').expect(204);
    expect(keys.requested).toEqual([`/${keys.kid}`]);
  });
});

describe('InstallKeys', () => {
  // Any RSA public key will do: the class checks that the answer is one; the signature check is the caller's.
  const pem = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

  function fakeFetch(answer: (url: string) => Response) {
    const urls: string[] = [];
    const fetch = (async (input: string | URL | Request) => {
      const url = String(input);
      urls.push(url);
      return answer(url);
    }) as typeof globalThis.fetch;
    return { fetch, urls };
  }

  it("asks Atlassian's key server for the product's environment, then its fallback; the operator's server alone when set", async () => {
    expect(keyServersFor('https://acme.atlassian.net')).toEqual([
      'https://asap-distribution.us-west-2.prod.atl-asap.net',
      'https://connect-install-keys.atlassian.com',
    ]);
    expect(keyServersFor('https://acme.jira-dev.com')[0]).toBe('https://asap-distribution.us-west-2.staging.atl-asap.net');
    expect(keyServersFor('https://x.atlassian-us-gov-mod.net')[0]).toBe('https://asap-distribution.us-west-2.prod.atl-auth-us-gov-mod.net');
    expect(keyServersFor('https://x.atlassian-stg-fedm.net')[0]).toBe('https://asap-distribution.us-west-2.staging.atl-auth-us-gov-mod.net');
    expect(keyServersFor('https://jira.example.com')).toEqual(['https://connect-install-keys.atlassian.com']);
    expect(keyServersFor('https://acme.atlassian.net', 'https://keys.example/')).toEqual(['https://keys.example']);

    const { fetch, urls } = fakeFetch((url) => (url.startsWith('https://asap') ? new Response('', { status: 503 }) : new Response(pem)));
    await expect(new InstallKeys({ fetch }).publicKey('k1', 'https://acme.atlassian.net')).resolves.toBe(pem.trim());
    expect(urls).toEqual(['https://asap-distribution.us-west-2.prod.atl-asap.net/k1', 'https://connect-install-keys.atlassian.com/k1']);
  });

  it('refuses an answer that is not an RSA public key, naming each server that failed', async () => {
    const { fetch } = fakeFetch(() => new Response('<html>not a key</html>'));
    await expect(new InstallKeys({ fetch }).publicKey('k1', 'https://acme.atlassian.net')).rejects.toThrow(
      'Could not get the public key with key id k1: https://asap-distribution.us-west-2.prod.atl-asap.net did not answer with an RSA public key; https://connect-install-keys.atlassian.com did not answer with an RSA public key',
    );
  });

  it('keeps a bounded number of keys, for a bounded time', async () => {
    let now = 0;
    const { fetch, urls } = fakeFetch(() => new Response(pem));
    const keys = new InstallKeys({ fetch, keyServerOverride: 'https://keys.example', cacheEntries: 2, cacheMs: 1000, now: () => now });
    for (const kid of ['a', 'b', 'a', 'c', 'a']) await keys.publicKey(kid, '');
    // a, b fetched; a reused; c pushes out the oldest (a); a fetched again.
    expect(urls.map((url) => url.slice('https://keys.example/'.length))).toEqual(['a', 'b', 'c', 'a']);
    now = 1000;
    await keys.publicKey('a', '');
    expect(urls).toHaveLength(5);
  });

  it('shares one fetch between concurrent installs of the same kid', async () => {
    const { fetch, urls } = fakeFetch(() => new Response(pem));
    const keys = new InstallKeys({ fetch, keyServerOverride: 'https://keys.example' });
    await Promise.all([keys.publicKey('a', ''), keys.publicKey('a', ''), keys.publicKey('a', '')]);
    expect(urls).toHaveLength(1);
  });
});

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { EGRESS_DEFAULTS, Egress, EgressError, EgressPolicy, configureEgress, parseAllowList, type Resolver } from '../../src/egress';
import { JiraAdminCheck, type AdminIdentity } from '../../src/web/auth';

/** A loopback HTTP server that counts the TCP connections it accepted. */
async function listener(handler: http.RequestListener = (_req, res) => res.end('{"ok":true}'), host = '127.0.0.1') {
  const server = http.createServer(handler);
  let accepted = 0;
  server.on('connection', () => accepted++);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    get accepted() {
      return accepted;
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function egressWith(allow = '', resolve?: Resolver, limits: { maxResponseBytes?: number; timeoutMs?: number } = {}) {
  return new Egress({
    policy: new EgressPolicy(parseAllowList(allow)),
    maxResponseBytes: limits.maxResponseBytes ?? 1024 * 1024,
    timeoutMs: limits.timeoutMs ?? 10_000,
    resolve,
  });
}

async function refusal(promise: Promise<unknown>): Promise<EgressError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(EgressError);
  return error as EgressError;
}

describe('Egress.fetch', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (closers.length) await closers.pop()!();
  });

  it('reaches a listed loopback host', async () => {
    const server = await listener();
    closers.push(server.close);
    const egress = egressWith('127.0.0.1');
    closers.push(() => egress.close());
    const response = await egress.fetch(`http://127.0.0.1:${server.port}/x`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    expect(server.accepted).toBe(1);
  });

  it.each([
    ['127.0.0.1', (port: number) => `http://127.0.0.1:${port}/`, 'loopback'],
    ['decimal 2130706433', (port: number) => `http://2130706433:${port}/`, 'loopback'],
    ['hex 0x7f.1', (port: number) => `http://0x7f.1:${port}/`, 'loopback'],
    ['IPv4-mapped [::ffff:127.0.0.1]', (port: number) => `http://[::ffff:127.0.0.1]:${port}/`, 'ipv4-mapped'],
    ['0.0.0.0 (Linux connects it to loopback)', (port: number) => `http://0.0.0.0:${port}/`, 'unspecified'],
    ['localhost (real DNS)', (port: number) => `http://localhost:${port}/`, 'loopback'],
  ])('refuses %s without opening a connection', async (_label, url, rule) => {
    const server = await listener();
    closers.push(server.close);
    const egress = egressWith();
    closers.push(() => egress.close());
    expect((await refusal(egress.fetch(url(server.port)))).rule).toBe(rule);
    expect(server.accepted).toBe(0);
  });

  it('refuses [::1] without opening a connection', async () => {
    const server = await listener(undefined, '::1');
    closers.push(server.close);
    const egress = egressWith();
    closers.push(() => egress.close());
    expect((await refusal(egress.fetch(`http://[::1]:${server.port}/`))).rule).toBe('loopback');
    expect(server.accepted).toBe(0);
  });

  it('checks at connect time: a name that resolved to a public address at save and to loopback now is refused (DNS rebinding)', async () => {
    const server = await listener();
    closers.push(server.close);
    let answers = 0;
    const resolve: Resolver = async () => (answers++ === 0 ? [{ address: '93.184.216.34', family: 4 }] : [{ address: '127.0.0.1', family: 4 }]);
    const egress = egressWith('', resolve);
    closers.push(() => egress.close());
    await expect(egress.checkUrl(`http://rebind.example:${server.port}/`)).resolves.toBeNull();
    const error = await refusal(egress.fetch(`http://rebind.example:${server.port}/`));
    expect(error.message).toBe('refused: rebind.example (127.0.0.1) is a loopback address; an operator can allow it with EGRESS_ALLOW');
    expect(server.accepted).toBe(0);
  });

  it.each([
    ['10.0.0.1', 'private'],
    ['172.16.0.9', 'private'],
    ['192.168.0.9', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'cgnat'],
    ['fc00::1', 'unique-local'],
    ['224.0.0.1', 'multicast'],
  ])('a name that resolves to %s as well as to a reachable listener is refused as a whole (%s)', async (address, rule) => {
    // 127.0.0.1 is listed, so without the check the client would happily connect to the listener.
    const server = await listener();
    closers.push(server.close);
    const resolve: Resolver = async () => [{ address: '127.0.0.1', family: 4 }, { address, family: address.includes(':') ? 6 : 4 }];
    const egress = egressWith('127.0.0.1', resolve);
    closers.push(() => egress.close());
    const error = await refusal(egress.fetch(`http://mixed.example:${server.port}/`));
    expect(error.rule).toBe(rule);
    expect(error.message).toContain(`mixed.example (${address})`);
    await expect(egress.checkUrl(`http://mixed.example:${server.port}/`)).resolves.toMatchObject({ rule });
    expect(server.accepted).toBe(0);
  });

  it('never follows a redirect: the redirect target sees no connection', async () => {
    const inner = await listener();
    closers.push(inner.close);
    const outer = await listener((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${inner.port}/secret` });
      res.end();
    });
    closers.push(outer.close);
    const egress = egressWith('127.0.0.1');
    closers.push(() => egress.close());
    const error = await refusal(egress.fetch(`http://127.0.0.1:${outer.port}/`));
    expect(error.rule).toBe('redirect');
    expect(error.message).toMatch(/answered 302 \(a redirect\); outbound calls never follow redirects/);
    expect(outer.accepted).toBe(1);
    expect(inner.accepted).toBe(0);
  });

  it.each([
    ['with Content-Length', true],
    ['chunked', false],
  ])('bounds the answer size (%s)', async (_label, declared) => {
    const big = Buffer.alloc(256 * 1024, 'x');
    const server = await listener((_req, res) => {
      if (declared) res.setHeader('content-length', big.length);
      res.end(big);
    });
    closers.push(server.close);
    const egress = egressWith('127.0.0.1', undefined, { maxResponseBytes: 64 * 1024 });
    closers.push(() => egress.close());
    const error = await refusal(egress.fetch(`http://127.0.0.1:${server.port}/`));
    expect(error.rule).toBe('response-size');
    expect(error.message).toMatch(/sent more than 65536 bytes/);
  });

  it('bounds the time of a call that never answers', async () => {
    const server = await listener(() => undefined);
    closers.push(server.close);
    const egress = egressWith('127.0.0.1', undefined, { timeoutMs: 300 });
    closers.push(() => egress.close());
    const error = await egress.fetch(`http://127.0.0.1:${server.port}/`).then(() => null, (e: unknown) => e as Error);
    expect(error?.name).toMatch(/TimeoutError|AbortError/);
  });
});

describe('the process egress', () => {
  it("carries the administrator check's calls to the OAuth server and Jira, so they meet the same rules", async () => {
    const server = await listener();
    configureEgress(EGRESS_DEFAULTS);
    try {
      const check = new JiraAdminCheck({ oauthServerUrl: `http://127.0.0.1:${server.port}`, cacheMs: 0, isProduction: true });
      const identity = {
        tenant: { id: 't', origin: 'connect', baseUrl: 'https://acme.atlassian.net' },
        clientInfo: { oauthClientId: 'client', sharedSecret: 'secret' },
        accountId: 'a',
      } as unknown as AdminIdentity;
      await expect(check.isAdmin(identity)).rejects.toThrow(/refused: 127\.0\.0\.1 is a loopback address/);
      expect(server.accepted).toBe(0);
    } finally {
      await server.close();
    }
  });
});

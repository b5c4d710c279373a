import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config';
import { createApp, type App } from '../../src/app';
import { SecretBox } from '../../src/security/crypto';
import { isLoopbackAddress } from '../../src/web/dev';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { silentLogger, testConfig } from '../helpers/runtime';

/**
 * The development host hands out admin tokens for the local tenant: it must answer this machine only, and a
 * development server must not listen on the network unless told to (issue: "admin without login").
 */

jest.setTimeout(60_000);

describe('the HOST default', () => {
  it('is 127.0.0.1 outside production and 0.0.0.0 in production; HOST always wins', () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ NODE_ENV: 'test' }).host).toBe('127.0.0.1');
    const production = { NODE_ENV: 'production', ENCRYPTION_KEYS: 'k:x', APP_BASE_URL: 'https://app.example' };
    expect(loadConfig(production).host).toBe('0.0.0.0');
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ ...production, HOST: '10.1.2.3' }).host).toBe('10.1.2.3');
  });
});

describe('isLoopbackAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['192.0.2.2', false],
    ['10.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['fd00::2', false],
    ['0.0.0.0', false],
    ['::', false],
    ['127.0.0.1.evil', false],
    [undefined, false],
    ['', false],
  ])('%s → %s', (address, expected) => {
    expect(isLoopbackAddress(address)).toBe(expected);
  });
});

describe('/dev and /dev/token on a server listening on every interface', () => {
  let tdb: TestDatabase;
  let app: App;
  let server: http.Server;
  let port: number;
  // A local address that is not loopback, if this machine has one: a client connecting to it is "the network".
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    const config = testConfig({ HOST: '0.0.0.0' });
    app = createApp({ config, db: tdb.db, logger: silentLogger(), secrets: SecretBox.fromKeyList(config.encryptionKeys!) });
    await app.ready;
    server = http.createServer(app.app);
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await tdb.destroy();
  });

  const get = (host: string, path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host, port, path, headers, localAddress: host }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  it('answers loopback clients', async () => {
    const res = await get('127.0.0.1', '/dev/token');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).token).toEqual(expect.any(String));
  });

  (external ? it : it.skip)('refuses a client on a non-loopback address with 403, whatever X-Forwarded-For says', async () => {
    for (const path of ['/dev/token', '/dev', '/dev/ap-shim.js']) {
      const res = await get(external!, path, { 'X-Forwarded-For': '127.0.0.1' });
      expect({ path, status: res.status, leaked: res.body.includes('token') && res.body.includes('eyJ') }).toEqual({ path, status: 403, leaked: false });
    }
  });
});

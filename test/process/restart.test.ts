import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createPostgresDatabase, usingPostgres } from '../helpers/database';
import { installPayload, signLifecycle, startKeyServer, type KeyServer } from '../helpers/connect';
import { killAllProcesses, runCliProcess, spawnServer } from '../helpers/process';

const BASE_URL = 'https://app.example.test';
const KEYS = `k1:${randomBytes(32).toString('base64')}`;

async function installTenant(url: string, keys: KeyServer, clientKey: string) {
  const token = signLifecycle({ privateKey: keys.privateKey, kid: keys.kid, clientKey, audience: BASE_URL, path: '/installed' });
  const res = await fetch(`${url}/installed`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `JWT ${token}` },
    body: JSON.stringify(installPayload(clientKey, 'shared-secret')),
  });
  expect(res.status).toBe(204);
}

async function listedClientKeys(env: Record<string, string>): Promise<string[]> {
  const result = await runCliProcess(['tenants', 'list'], env);
  expect(result.code).toBe(0);
  return (JSON.parse(result.stdout) as Array<{ clientKey: string }>).map((t) => t.clientKey);
}

// Each test starts and stops real processes (the embedded database takes seconds to open): generous timeouts.
jest.setTimeout(120_000);

describe('the app as a process', () => {
  let keys: KeyServer;
  let dataDir: string;
  beforeAll(async () => {
    keys = await startKeyServer();
  });
  afterAll(() => keys.close());
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ugs-data-'));
  });
  afterEach(async () => {
    await killAllProcesses();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const baseEnv = () => ({
    APP_BASE_URL: BASE_URL,
    CONNECT_KEYS_CDN_URL: keys.url,
    EGRESS_ALLOW: '127.0.0.1', // the operator lets the app reach the loopback key server
    ENCRYPTION_KEYS: KEYS,
    DATA_DIR: dataDir,
    NODE_ENV: 'production',
  });

  it('keeps tenants across a restart on the embedded database', async () => {
    const env = baseEnv();
    const first = spawnServer(env);
    await installTenant(await first.url, keys, 'tenant-embedded');
    expect(await first.stop('SIGTERM')).toBe(0);

    const second = spawnServer(env);
    const url = await second.url;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect(await second.stop('SIGINT')).toBe(0);
    expect(await listedClientKeys(env)).toEqual(['tenant-embedded']);
  });

  it('refuses a second process on the same embedded data folder and keeps the first working', async () => {
    const env = baseEnv();
    const first = spawnServer(env);
    const url = await first.url;
    const second = spawnServer(env);
    const code = await second.exit;
    expect(code).not.toBe(0);
    expect(second.stderr()).toMatch(/in use by another process/);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    await installTenant(url, keys, 'still-working');
    expect(await first.stop()).toBe(0);
    expect(await listedClientKeys(env)).toEqual(['still-working']);
  });

  it('fails fast naming every invalid variable', async () => {
    const result = await runCliProcess(['tenants', 'list'], { PORT: 'eighty', DATABASE_URL: 'mysql://x', NODE_ENV: 'production' });
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(/PORT/);
    expect(result.stderr).toMatch(/DATABASE_URL/);
  });

  (usingPostgres ? it : it.skip)('keeps tenants across a restart on Postgres', async () => {
    const database = await createPostgresDatabase();
    try {
      const env = { ...baseEnv(), DATABASE_URL: database.url };
      const first = spawnServer(env);
      await installTenant(await first.url, keys, 'tenant-postgres');
      expect(await first.stop()).toBe(0);
      const second = spawnServer(env);
      expect((await fetch(`${await second.url}/readyz`)).status).toBe(200);
      // Two instances on one Postgres is the scale-out path: the embedded lock must not apply.
      const third = spawnServer(env);
      expect((await fetch(`${await third.url}/readyz`)).status).toBe(200);
      expect(await third.stop()).toBe(0);
      expect(await second.stop()).toBe(0);
      expect(await listedClientKeys(env)).toEqual(['tenant-postgres']);
    } finally {
      await database.drop();
    }
  });
});

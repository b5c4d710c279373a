import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createPostgresDatabase, usingPostgres } from '../helpers/database';
import { installPayload, signLifecycle, startKeyServer, type KeyServer } from '../helpers/connect';
import { killAllProcesses, runCliProcess, spawnServer } from '../helpers/process';
import { connectDescriptor } from '../../src/connect/app-definition';

/**
 * The production path as README's "Deploy to your Jira site" runs it: the compiled server with NODE_ENV=production,
 * real encryption keys, an https public base URL and (in CI) Postgres. It must serve the descriptor Atlassian
 * fetches, answer ready, refuse the development host, and accept a signed Connect-on-Forge install.
 */
const BASE_URL = 'https://ugs.example.com';
const INSTALLATION_ID = 'ari:cloud:ecosystem::installation/0d4a3c52-9f1e-4d8b-a0a5-6c1f2b7e9e10';

jest.setTimeout(120_000);

describe('the production server', () => {
  let keys: KeyServer;
  let dataDir: string;
  let database: { url: string; drop: () => Promise<void> } | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    keys = await startKeyServer();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ugs-prod-'));
    database = usingPostgres ? await createPostgresDatabase() : undefined;
    env = {
      NODE_ENV: 'production',
      APP_BASE_URL: BASE_URL,
      ENCRYPTION_KEYS: `prod1:${randomBytes(32).toString('base64')}`,
      CONNECT_KEYS_CDN_URL: keys.url,
      // The loopback key server is reached through the operator allow-list, as any private host would be.
      EGRESS_ALLOW: '127.0.0.1',
      DATA_DIR: dataDir,
      ...(database ? { DATABASE_URL: database.url } : {}),
    };
  });
  afterAll(async () => {
    await killAllProcesses();
    await keys.close();
    await database?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('boots, serves the descriptor, is ready, refuses /dev and keeps a Connect-on-Forge install', async () => {
    const server = spawnServer(env);
    const url = await server.url;

    const descriptor = await fetch(`${url}/atlassian-connect.json`);
    expect(descriptor.status).toBe(200);
    const body = (await descriptor.json()) as { key: string; baseUrl: string; links: { self: string }; modules: unknown };
    expect(body).toMatchObject({ key: 'user-group-sync-for-atlassian', baseUrl: BASE_URL, links: { self: `${BASE_URL}/atlassian-connect.json` } });
    // What the image serves is the module list manifest.yml is generated from.
    expect(body.modules).toEqual(connectDescriptor().modules);

    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', database: database ? 'postgres' : 'pglite' });

    for (const devPath of ['/dev', '/dev/token', '/dev/ap-shim.js']) {
      expect({ devPath, status: (await fetch(`${url}${devPath}`)).status }).toEqual({ devPath, status: 404 });
    }

    const token = signLifecycle({ privateKey: keys.privateKey, kid: keys.kid, clientKey: 'site-1', audience: BASE_URL, path: '/installed' });
    const installed = await fetch(`${url}/installed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `JWT ${token}` },
      body: JSON.stringify({ ...installPayload('site-1', 'shared-secret'), installationId: INSTALLATION_ID }),
    });
    expect(installed.status).toBe(204);
    const unsigned = await fetch(`${url}/installed`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...installPayload('site-2', 'shared-secret'), installationId: INSTALLATION_ID }),
    });
    expect(unsigned.status).toBe(401);

    expect(await server.stop()).toBe(0);
    // Production logs carry no secret: neither the keys nor the tenant's shared secret.
    expect(server.stdout() + server.stderr()).not.toContain('shared-secret');
    expect(server.stdout() + server.stderr()).not.toContain(env.ENCRYPTION_KEYS!.split(':')[1]!);

    const listed = await runCliProcess(['tenants', 'list'], env);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ clientKey: 'site-1', forgeInstallationId: INSTALLATION_ID, uninstalledAt: null }),
    ]);
  });

  it('refuses to start in production without encryption keys or with a plain-http base URL', async () => {
    const noKeys = await runCliProcess(['tenants', 'list'], { ...env, ENCRYPTION_KEYS: '' });
    expect(noKeys.code).toBe(78);
    expect(noKeys.stderr).toMatch(/ENCRYPTION_KEYS/);
    const server = spawnServer({ ...env, APP_BASE_URL: 'http://ugs.example.com' });
    expect(await server.exit).toBe(78);
    expect(server.stderr()).toMatch(/APP_BASE_URL: must be https in production/);
  });
});

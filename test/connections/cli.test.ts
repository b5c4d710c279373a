import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../src/cli';
import { createPostgresDatabase, usingPostgres } from '../helpers/database';
import { TEST_ENCRYPTION_KEYS } from '../helpers/runtime';

/** The operator CLI end to end: each command opens the configured database like `npm run cli` does. */
// Every command reopens the database (an embedded one takes a few seconds on a busy machine).
jest.setTimeout(120_000);

describe(`cli: connections (${usingPostgres ? 'Postgres' : 'PGlite'})`, () => {
  let env: NodeJS.ProcessEnv;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    if (usingPostgres) {
      const created = await createPostgresDatabase();
      env = { DATABASE_URL: created.url };
      cleanup = created.drop;
    } else {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ugs-cli-'));
      env = { DATA_DIR: dir };
      cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
    }
    env = { ...env, NODE_ENV: 'test', LOG_LEVEL: 'silent', APP_BASE_URL: 'https://sync.example.com', ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS };
  });
  afterAll(async () => {
    await cleanup();
  });

  async function cli(...argv: string[]): Promise<{ code: number; out: unknown }> {
    let out: unknown;
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = await runCli(argv, env, (value) => {
        out = value;
      });
      return { code, out };
    } finally {
      stderr.mockRestore();
    }
  }

  it('creates, lists, rotates, revokes, renames and deletes connections', async () => {
    expect((await cli('tenants', 'create-local', '--client-key', 'site-1', '--base-url', 'https://site-1.atlassian.net')).code).toBe(0);

    const created = await cli('connections', 'create', '--tenant', 'site-1', '--name', 'Entra ID', '--provider', 'entra');
    expect(created.code).toBe(0);
    const { id, scimBaseUrl, token } = created.out as { id: string; scimBaseUrl: string; token: string };
    expect(Object.keys(created.out as object).sort()).toEqual(['id', 'scimBaseUrl', 'token']);
    expect(scimBaseUrl).toBe(`https://sync.example.com/scim/v2/${id}`);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const listed = await cli('connections', 'list', '--tenant', 'site-1');
    expect(listed.out).toEqual([expect.objectContaining({ id, name: 'Entra ID', provider: 'entra', scimBaseUrl, tokens: [expect.objectContaining({ active: true })] })]);
    expect(JSON.stringify(listed.out)).not.toContain(token);

    const rotated = await cli('connections', 'rotate-token', '--id', id, '--grace-seconds', '0');
    expect(rotated.code).toBe(0);
    expect((rotated.out as { token: string }).token).not.toBe(token);
    const afterRotate = (await cli('connections', 'list')).out as { tokens: { active: boolean }[] }[];
    expect(afterRotate[0]!.tokens.map((t) => t.active)).toEqual([false, true]);

    expect((await cli('connections', 'revoke-tokens', '--id', id)).out).toEqual({ id, revoked: 1 });
    expect((await cli('connections', 'rename', '--id', id, '--name', 'Entra (prod)')).out).toEqual({ id, name: 'Entra (prod)' });
    expect((await cli('connections', 'delete', '--id', id)).out).toEqual({ id, deleted: true });
    expect((await cli('connections', 'list')).out).toEqual([]);
  });

  it('answers bad input with a usage error (exit 64) and no output', async () => {
    expect((await cli('connections', 'create', '--tenant', 'site-1', '--name', 'x', '--provider', 'azure')).code).toBe(64);
    expect((await cli('connections', 'create', '--tenant', 'unknown', '--name', 'x', '--provider', 'okta')).code).toBe(64);
    expect((await cli('connections', 'create', '--name', 'x', '--provider', 'okta')).code).toBe(64);
    expect((await cli('connections', 'delete', '--id', '00000000-0000-4000-8000-000000000000')).code).toBe(64);
    expect((await cli('connections', 'rotate-token', '--id', 'nope')).code).toBe(64);
  });
});

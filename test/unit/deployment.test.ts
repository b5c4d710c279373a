import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { projectRoot } from '../../src/db/migrate';
import { loadConfig } from '../../src/config';

/**
 * compose.yaml and the Dockerfile are what an operator runs in production; no Docker engine runs in CI, so their
 * structure is checked here (the production server itself is started by test/process/production.test.ts).
 */
const root = projectRoot();
const compose = parse(fs.readFileSync(path.join(root, 'compose.yaml'), 'utf8')) as {
  services: Record<string, {
    image?: string;
    build?: string;
    environment?: Record<string, string>;
    volumes?: string[];
    healthcheck?: { test: string[] };
    depends_on?: Record<string, { condition: string }>;
    ports?: string[];
  }>;
  volumes: Record<string, unknown>;
};
const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');

describe('compose.yaml', () => {
  const { app, db } = compose.services;

  it('runs Postgres 16 on a named volume, health-checked', () => {
    expect(db?.image).toMatch(/^postgres:16(\b|$)/);
    const volume = db?.volumes?.find((v) => v.endsWith(':/var/lib/postgresql/data'));
    expect(volume).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(volume!.split(':')[0]);
    expect(db?.healthcheck?.test.join(' ')).toMatch(/pg_isready/);
  });

  it('builds the app from this Dockerfile, starts it once the database is healthy, and checks /readyz', () => {
    expect(app?.build).toBe('.');
    expect(app?.depends_on).toEqual({ db: { condition: 'service_healthy' } });
    expect(app?.healthcheck?.test.join(' ')).toMatch(/\/readyz/);
  });

  it('runs the app in production, refusing to start without its public URL and keys, on the compose database', () => {
    const env = app!.environment!;
    expect(env.NODE_ENV).toBe('production');
    expect(env.APP_BASE_URL).toMatch(/^\$\{APP_BASE_URL:\?/);
    expect(env.ENCRYPTION_KEYS).toMatch(/^\$\{ENCRYPTION_KEYS:\?/);
    expect(db!.environment!.POSTGRES_PASSWORD).toMatch(/^\$\{POSTGRES_PASSWORD:\?/);
    const { POSTGRES_USER: user, POSTGRES_DB: name } = db!.environment!;
    expect(env.DATABASE_URL).toBe(`postgres://${user}:\${POSTGRES_PASSWORD}@db:5432/${name}`);
  });

  it('gives the app a configuration the server accepts once the variables are filled in', () => {
    const filled = Object.fromEntries(
      Object.entries(app!.environment!).map(([key, value]) => [
        key,
        value
          .replace(/\$\{APP_BASE_URL[^}]*\}/, 'https://ugs.example.com')
          .replace(/\$\{ENCRYPTION_KEYS[^}]*\}/, `k1:${Buffer.alloc(32, 7).toString('base64')}`)
          .replace(/\$\{POSTGRES_PASSWORD[^}]*\}/, 'abc123')
          .replace(/\$\{LOG_LEVEL:-([a-z]+)\}/, '$1'),
      ]),
    );
    const config = loadConfig(filled);
    expect(config).toMatchObject({ isProduction: true, baseUrl: 'https://ugs.example.com', devHostEnabled: false });
    expect(config.database).toMatchObject({ kind: 'postgres', url: 'postgres://usersync:abc123@db:5432/usersync' });
  });

  it('publishes the app on loopback only (a TLS proxy in front serves the public https URL)', () => {
    expect(app?.ports).toHaveLength(1);
    expect(app!.ports![0]).toMatch(/^127\.0\.0\.1:/);
  });
});

describe('Dockerfile', () => {
  const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('runs as a non-root user', () => {
    const users = [...runtimeStage.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
  });

  it('ships every file the server reads at run time', () => {
    for (const needed of ['atlassian-connect.json', 'config.json', 'migrations', 'views', 'public', 'dist/src']) {
      expect({ needed, copied: new RegExp(`^COPY .*\\b${needed.replace('/', '\\/')}\\b`, 'm').test(runtimeStage) }).toEqual({ needed, copied: true });
    }
  });

  it('listens on every interface in production mode and checks /readyz', () => {
    expect(runtimeStage).toMatch(/NODE_ENV=production/);
    expect(runtimeStage).toMatch(/HOST=0\.0\.0\.0/);
    expect(runtimeStage).toMatch(/HEALTHCHECK[\s\S]*\/readyz/);
  });
});

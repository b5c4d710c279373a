import { ConfigError, loadConfig } from '../../src/config';

describe('loadConfig', () => {
  it('runs on the embedded database with safe defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.database).toEqual({ kind: 'pglite', dataDir: './data' });
    expect(config.port).toBe(3000);
    expect(config.baseUrl).toBe('http://localhost:3000');
    expect(config.devHostEnabled).toBe(true);
    expect(config.connect.hostAllowlist).toContain('*.atlassian.net');
  });

  it('switches to Postgres when DATABASE_URL is set', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/app', DATABASE_POOL_MAX: '4' });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://u@db:5432/app', poolMax: 4, ssl: false, preparedStatements: true });
  });

  it('names every invalid variable at once', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'abc', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', APP_BASE_URL: 'ftp://x' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const name of ['PORT', 'DATABASE_URL', 'LOG_LEVEL', 'APP_BASE_URL']) expect(problems).toContain(name);
  });

  it('refuses to run in production without encryption keys and an https base URL', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/ENCRYPTION_KEYS[\s\S]*APP_BASE_URL/);
    expect(() => loadConfig({ NODE_ENV: 'production', ENCRYPTION_KEYS: 'k:x', APP_BASE_URL: 'http://plain.example' })).toThrow(/https/);
  });

  it('never lets the development host or ACE auth bypasses into a running app', () => {
    expect(() =>
      loadConfig({ NODE_ENV: 'production', ENCRYPTION_KEYS: 'k:x', APP_BASE_URL: 'https://a.example', DEV_HOST_ENABLED: 'true' }),
    ).toThrow(/DEV_HOST_ENABLED/);
    expect(loadConfig({ NODE_ENV: 'production', ENCRYPTION_KEYS: 'k:x', APP_BASE_URL: 'https://a.example' }).devHostEnabled).toBe(false);
    expect(() => loadConfig({ AC_OPTS: 'no-auth' })).toThrow(/AC_OPTS/);
  });

  it('trims a trailing slash from the base URL', () => {
    expect(loadConfig({ APP_BASE_URL: 'https://sync.example.com/' }).baseUrl).toBe('https://sync.example.com');
  });
});

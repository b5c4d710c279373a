import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../src/config';
import { createLogger, type Logger } from '../../src/logging/logger';
import { createApp, type App } from '../../src/app';
import { SecretBox } from '../../src/security/crypto';
import type { Database } from '../../src/db/database';
import { configureEgress } from '../../src/egress';

export const TEST_ENCRYPTION_KEYS = `test:${randomBytes(32).toString('base64')}`;

/** A Config for tests: defaults plus the given environment, never the developer's own environment. */
export function testConfig(env: Record<string, string | undefined> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    APP_BASE_URL: 'https://app.example.test',
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    DATA_DIR: 'memory://',
    LOG_LEVEL: 'silent',
    // The operator setting that lets outbound calls reach the loopback fakes (src/egress refuses loopback otherwise).
    EGRESS_ALLOW: '127.0.0.1,::1',
    ...env,
  });
}

/** For suites that build adapters without an app: the process's egress as testConfig() configures it. */
export function allowLoopbackEgress(): void {
  configureEgress(testConfig().egress);
}

export function silentLogger(): Logger {
  return createLogger({ level: 'silent' });
}

/** The real app (ACE, routes, store) over a test database. */
export async function testApp(db: Database, env: Record<string, string | undefined> = {}, logger = silentLogger()): Promise<App & { config: Config; secrets: SecretBox }> {
  const config = testConfig(env);
  const secrets = SecretBox.fromKeyList(config.encryptionKeys!);
  const app = createApp({ config, db, logger, secrets });
  await app.ready;
  return { ...app, config, secrets };
}

import { ConfigError, loadConfig } from '../../src/config';
import { jobsOptionsFrom } from '../../src/jobs/service';
import { testConfig } from '../helpers/runtime';

test('JOBS_* settings become the jobs options', () => {
  const options = jobsOptionsFrom(
    testConfig({
      JOBS_CONCURRENCY: '3',
      JOBS_LEASE_SECONDS: '20',
      JOBS_MAX_ATTEMPTS: '7',
      JOBS_RETRY_BASE_SECONDS: '2',
      JOBS_RETRY_MAX_SECONDS: '60',
      JOBS_CHANGE_DEBOUNCE_MS: '1500',
      JOBS_SCHEDULER_ENABLED: 'false',
      SCHEDULER_TICK_SECONDS: '15',
    }),
  );
  expect(options).toMatchObject({
    worker: true,
    scheduler: false,
    concurrency: 3,
    leaseMs: 20_000,
    heartbeatMs: 5_000,
    tickSeconds: 15,
    schedule: { allowSeconds: false },
    policy: { maxAttempts: 7, backoff: { baseMs: 2_000, maxMs: 60_000 }, changeDebounceMs: 1500 },
  });
  expect(options.instanceId).toMatch(new RegExp(`:${process.pid}:[0-9a-f]{6}$`));
});

test('a tick period that does not fit a minute, and seconds-level schedules in production, are refused', () => {
  expect(() => testConfig({ SCHEDULER_TICK_SECONDS: '7' })).toThrow(/SCHEDULER_TICK_SECONDS: must be 60 or a whole divisor of 60/);
  let error: unknown;
  try {
    loadConfig({ NODE_ENV: 'production', APP_BASE_URL: 'https://sync.example.com', ENCRYPTION_KEYS: 'k:x', SCHEDULE_ALLOW_SECONDS: 'true' });
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).problems).toContain('SCHEDULE_ALLOW_SECONDS: seconds-level schedules are for tests and are refused in production');
});

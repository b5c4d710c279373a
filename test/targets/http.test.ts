import { CallCounter, HttpClient, parseRateLimitReset, parseRetryAfter, type HttpClientOptions } from '../../src/targets/http';
import { TargetError } from '../../src/targets/types';
import { FakeServer, basicAuth } from '../fakes/fake-server';
import { allowLoopbackEgress } from '../helpers/runtime';

beforeAll(allowLoopbackEgress);

/** A clock that moves only when the client sleeps: waits are observed, never spent. */
function fakeClock(start = 1_700_000_000_000) {
  const clock = {
    now: start,
    sleeps: [] as number[],
    sleep: async (ms: number) => {
      clock.sleeps.push(ms);
      clock.now += ms;
    },
  };
  return clock;
}

describe('HttpClient', () => {
  const server = new FakeServer(basicAuth({ bot: 's3cr3t-token' }));
  let hits = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  server.route('GET', '/thing', () => {
    hits += 1;
    return { status: 200, body: { hits } };
  });
  server.route('POST', '/thing', () => {
    hits += 1;
    return { status: 201, body: { hits } };
  });
  server.route('GET', '/slow', async () => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 20));
    inFlight -= 1;
    return { status: 200, body: {} };
  });
  server.route('GET', '/hang', () => new Promise(() => undefined));
  server.route('GET', '/broken', () => ({ status: 400, body: { errorMessages: ['Field "x" is wrong.'], errors: { y: 'bad' } } }));

  let baseUrl: string;
  beforeAll(async () => {
    baseUrl = await server.start();
  });
  afterAll(() => server.stop());
  beforeEach(() => {
    hits = 0;
    server.clearFaults();
    server.clearLog();
    server.setRateLimit(null);
  });

  function client(overrides: Partial<HttpClientOptions> = {}, clock = fakeClock()) {
    return new HttpClient({
      target: 'jira-cloud',
      baseUrl,
      auth: { kind: 'basic', username: 'bot', password: 's3cr3t-token' },
      sleep: clock.sleep,
      now: () => clock.now,
      random: () => 0.5,
      ...overrides,
    });
  }

  it('builds URLs from templates and query values, arrays repeated', () => {
    const url = client().url('/p/{key}/x', { key: 'A B' }, { a: 1, b: ['x', 'y'], c: undefined, d: true });
    expect(url).toBe(`${baseUrl}/p/A%20B/x?a=1&b=x&b=y&d=true`);
  });

  it('honours Retry-After on 429 and then succeeds, counting the throttled attempts', async () => {
    const clock = fakeClock();
    const counter = new CallCounter();
    server.queueRateLimit(2, 3);
    const response = await client({ counter }, clock).request({ method: 'GET', path: '/thing' });
    expect(response.status).toBe(200);
    expect(hits).toBe(1);
    expect(clock.sleeps).toEqual([3000, 3000]);
    const counts = counter.snapshot();
    expect(counts).toMatchObject({ reads: 3, writes: 0, readsThrottled: 2, retries: 2 });
    expect(counts.byOperation['GET /thing']).toEqual({ calls: 3, throttled: 2, failed: 2 });
  });

  it('retries a 429 even for a non-idempotent POST (the product did not act on it)', async () => {
    server.queueRateLimit(1, 1);
    const response = await client().request({ method: 'POST', path: '/thing', body: {} });
    expect(response.status).toBe(201);
    expect(hits).toBe(1);
  });

  it('treats 503 with Retry-After as throttling', async () => {
    const clock = fakeClock();
    server.queueStatus(1, 503, undefined, { 'Retry-After': '2' });
    await client({}, clock).request({ method: 'GET', path: '/thing' });
    expect(clock.sleeps).toEqual([2000]);
  });

  it('pauses until X-RateLimit-Reset when X-RateLimit-Remaining reaches 0', async () => {
    // Real time here: the fake's bucket refills on the wall clock (10 tokens/s, so ~100 ms).
    const sleeps: number[] = [];
    const sleep = (ms: number) => {
      sleeps.push(ms);
      return new Promise<void>((resolve) => setTimeout(resolve, ms));
    };
    server.setRateLimit({ capacity: 1, refillPerSecond: 10 });
    const http = client({ sleep, now: Date.now });
    await http.request({ method: 'GET', path: '/thing' });
    await http.request({ method: 'GET', path: '/thing' });
    // The first answer said "0 remaining, reset soon": the second waited for the reset instead of earning a 429.
    expect(sleeps).toHaveLength(1);
    expect(sleeps[0]).toBeGreaterThan(0);
    expect(sleeps[0]).toBeLessThanOrEqual(100);
    expect(server.requests().map((r) => r.status)).toEqual([200, 200]);
  });

  it('retries 5xx with exponential backoff and full jitter, then succeeds', async () => {
    const clock = fakeClock();
    server.queueStatus(3, 502);
    const response = await client({ baseBackoffMs: 100 }, clock).request({ method: 'GET', path: '/thing' });
    expect(response.status).toBe(200);
    // random() = 0.5 of min(cap, 100 * 2^attempt)
    expect(clock.sleeps).toEqual([50, 100, 200]);
  });

  it('caps backoff at maxBackoffMs', async () => {
    const clock = fakeClock();
    server.queueStatus(4, 500);
    await client({ baseBackoffMs: 1000, maxBackoffMs: 1500, random: () => 1 }, clock).request({ method: 'GET', path: '/thing' });
    expect(clock.sleeps).toEqual([1000, 1500, 1500, 1500]);
  });

  it('gives up after maxRetries with a retryable TargetError naming the call', async () => {
    server.queueStatus(10, 500);
    const error = await client({ maxRetries: 2 }).request({ method: 'GET', path: '/thing' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetError);
    expect(error).toMatchObject({ status: 500, target: 'jira-cloud', request: 'GET /thing', retryable: true });
    expect((error as Error).message).toMatch(/gave up after 3 attempts/);
    expect(server.requests('GET', '/thing')).toHaveLength(3);
  });

  it('does not retry a 5xx on a non-idempotent call', async () => {
    server.queueStatus(1, 500);
    await expect(client().request({ method: 'POST', path: '/thing', body: {} })).rejects.toMatchObject({ status: 500 });
    expect(server.requests('POST', '/thing')).toHaveLength(1);
  });

  it('retries a dropped connection for idempotent calls', async () => {
    server.queueDrop(2);
    const counter = new CallCounter();
    const response = await client({ counter }).request({ method: 'GET', path: '/thing' });
    expect(response.status).toBe(200);
    expect(counter.snapshot().networkErrors).toBe(2);
  });

  it('does not resend a non-idempotent call whose connection dropped', async () => {
    server.queueDrop(1, { method: 'POST' }, true);
    const error = await client().request({ method: 'POST', path: '/thing', body: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetError);
    expect((error as Error).message).toMatch(/may have been applied/);
    expect(hits).toBe(1);
  });

  it('resends an idempotent write whose connection dropped after it was applied', async () => {
    server.queueDrop(1, { method: 'POST' }, true);
    await client().request({ method: 'POST', path: '/thing', body: {}, idempotent: true });
    expect(hits).toBe(2);
  });

  it('turns 401 into a clear error without the credentials', async () => {
    const http = new HttpClient({ target: 'jira-cloud', baseUrl, auth: { kind: 'basic', username: 'bot', password: 'wrong-password-123' } });
    const error = (await http.request({ method: 'GET', path: '/thing' }).catch((e: unknown) => e)) as TargetError;
    expect(error).toBeInstanceOf(TargetError);
    expect(error.status).toBe(401);
    expect(error.message).toMatch(/authentication failed/);
    expect(error.message).not.toContain('wrong-password-123');
    expect(JSON.stringify(error)).not.toContain('wrong-password-123');
    expect(error.retryable).toBe(false);
  });

  it("puts the product's error messages in the TargetError", async () => {
    await expect(client().request({ method: 'GET', path: '/broken' })).rejects.toThrow(/answered 400: Field "x" is wrong\.; y: bad/);
  });

  it('returns accepted statuses instead of throwing', async () => {
    const response = await client().request({ method: 'GET', path: '/broken', accept: [400] });
    expect(response.status).toBe(400);
  });

  it('limits the requests in flight to the configured concurrency', async () => {
    maxInFlight = 0;
    const http = client({ concurrency: 3 });
    await Promise.all(Array.from({ length: 12 }, () => http.request({ method: 'GET', path: '/slow' })));
    expect(maxInFlight).toBe(3);
  });

  it('times out an attempt and gives up after bounded retries', async () => {
    const error = await client({ timeoutMs: 50, maxRetries: 1 })
      .request({ method: 'GET', path: '/hang' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetError);
    expect((error as Error).message).toMatch(/no response within 50 ms/);
  });

  it("stops at once when the caller's signal aborts", async () => {
    const controller = new AbortController();
    const pending = client({ timeoutMs: 10_000 }).request({ method: 'GET', path: '/hang', signal: controller.signal });
    setTimeout(() => controller.abort(new Error('run cancelled')), 20);
    await expect(pending).rejects.toThrow('run cancelled');
  });

  it('refuses to wait longer than maxRetryAfterMs', async () => {
    server.queueRateLimit(1, 3600);
    await expect(client({ maxRetryAfterMs: 60_000 }).request({ method: 'GET', path: '/thing' })).rejects.toThrow(/rate limited for 3600 s/);
  });
});

describe('rate-limit header parsing', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it.each([
    ['5', 5000],
    ['0', 0],
    ['1.5', 1500],
    ['Thu, 01 Jan 2026 00:00:10 GMT', 10_000],
    ['soon', null],
    [null, null],
  ])('Retry-After %p → %p ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it.each([
    ['2026-01-01T00:00:30.000Z', now + 30_000],
    [String((now + 7000) / 1000), now + 7000],
    ['20', now + 20_000],
    ['nonsense', null],
  ])('X-RateLimit-Reset %p', (value, expected) => {
    expect(parseRateLimitReset(value, now)).toBe(expected);
  });
});

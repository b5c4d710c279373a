import { z } from 'zod';
import { FakeServer } from '../fakes/fake-server';
import { assertSameOrigin, rateLimitWaitMs, SourceHttp } from '../../src/sources/http';
import { SourceError } from '../../src/sources/types';
import { allowLoopbackEgress } from '../helpers/runtime';

beforeAll(allowLoopbackEgress);

describe('source HTTP: rate-limit signals and bounded retries', () => {
  const server = new FakeServer(() => 'caller');
  let calls = 0;
  server.route('GET', '/ok', () => {
    calls++;
    return { status: 200, body: { ok: true } };
  });
  let waits: number[];
  const client = (extra = {}) => new SourceHttp('scim', { sleep: async (ms) => void waits.push(ms), maxRetries: 3, ...extra });

  beforeAll(() => server.start());
  afterAll(() => server.stop());
  beforeEach(() => {
    waits = [];
    calls = 0;
    server.clearFaults();
    server.clearLog();
  });

  test('Retry-After in seconds or as an HTTP date, and Okta\'s X-Rate-Limit-Reset in epoch seconds', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(rateLimitWaitMs(new Headers({ 'retry-after': '7' }), now)).toBe(7000);
    expect(rateLimitWaitMs(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:05 GMT' }), now)).toBe(5000);
    expect(rateLimitWaitMs(new Headers({ 'x-rate-limit-reset': String(now / 1000 + 10) }), now)).toBe(11_000);
    expect(rateLimitWaitMs(new Headers({ 'retry-after': '2', 'x-rate-limit-reset': String(now / 1000 + 10) }), now)).toBe(2000);
    expect(rateLimitWaitMs(new Headers({}), now)).toBeNull();
  });

  test('429s are retried after the wait the server asks for, then the answer comes through', async () => {
    server.queueRateLimit(2, 3, { path: '/ok' });
    const { body } = await client().json(`${server.baseUrl}/ok`, z.object({ ok: z.boolean() }));
    expect(body.ok).toBe(true);
    expect(waits).toEqual([3000, 3000]);
  });

  test('retries are bounded: a server that keeps throttling ends the call with a SourceError', async () => {
    server.queueRateLimit(10, 1, { path: '/ok' });
    const error = await client().request(`${server.baseUrl}/ok`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).status).toBe(429);
    expect((error as Error).message).toMatch(/still rate limited after 4 attempts/);
    expect(calls).toBe(0);
  });

  test('a wait longer than the pull is willing to wait fails at once instead of hanging', async () => {
    server.queueRateLimit(1, 3600, { path: '/ok' });
    await expect(client({ maxWaitMs: 60_000 }).request(`${server.baseUrl}/ok`)).rejects.toThrow(/asks to wait 3600 s/);
    expect(waits).toEqual([]);
  });

  test('dropped connections and 503s are retried with backoff; 4xx are not', async () => {
    server.queueDrop(1, { path: '/ok' });
    server.queueStatus(1, 503, { path: '/ok' });
    await client().request(`${server.baseUrl}/ok`);
    expect(calls).toBe(1);
    expect(waits).toHaveLength(2);
    server.queueStatus(1, 400, { path: '/ok' });
    await expect(client().request(`${server.baseUrl}/ok`)).rejects.toThrow(/answered 400/);
    expect(calls).toBe(1);
  });

  test('when a response says the window is used up, the next call waits for the reset first', async () => {
    let now = 1_000_000_000_000;
    const http = new SourceHttp('okta', {
      now: () => now,
      sleep: async (ms) => {
        waits.push(ms);
        now += ms;
      },
      fetch: async () =>
        new Response('{}', { status: 200, headers: { 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': String(now / 1000 + 5) } }),
    });
    await http.request('https://example.okta.com/api/v1/users');
    expect(waits).toEqual([]);
    await http.request('https://example.okta.com/api/v1/users');
    expect(waits).toEqual([6000]);
  });

  test('errors name the call but never its query string or credentials', async () => {
    server.queueStatus(1, 401, { path: '/ok' });
    const error = (await client()
      .request(`${server.baseUrl}/ok?filter=userName%20eq%20%22secret%40example.com%22`, { headers: { Authorization: 'Bearer top-secret' } })
      .catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/ok: authentication failed \(401\)/);
    expect(error.message).not.toMatch(/secret/);
  });

  test('next-page links are followed only on the configured origin', () => {
    expect(assertSameOrigin('entra', 'https://graph.microsoft.com/v1.0/users?$skiptoken=x', 'https://graph.microsoft.com')).toBe('https://graph.microsoft.com/v1.0/users?$skiptoken=x');
    expect(() => assertSameOrigin('entra', 'https://attacker.example/v1.0/users', 'https://graph.microsoft.com')).toThrow(/not the configured/);
  });
});


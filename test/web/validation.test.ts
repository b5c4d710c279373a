import request from 'supertest';
import { z } from 'zod';
import { mintContextJwt } from '../../src/connect/jwt';
import { createApp, type App } from '../../src/app';
import { scheduleSchema } from '../../src/jobs/schedule';
import { SecretBox } from '../../src/security/crypto';
import { pullConfigSchema } from '../../src/sources/config';
import { defaultSettings, settingsSchema } from '../../src/sync/settings';
import { targetInputSchema } from '../../src/targets/config';
import { ValidationError, ZOD_DEFAULT_PHRASES, fieldsFromProblems, humanizeMessage, parseInput } from '../../src/web/validation';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { silentLogger, testConfig } from '../helpers/runtime';

jest.setTimeout(120_000);

const defaultPhraseIn = (text: string) => ZOD_DEFAULT_PHRASES.find((phrase) => text.includes(phrase));

/** Every leaf of a valid sample, spoiled one way at a time: missing, wrong type, too long, out of range. */
function spoiled(sample: Record<string, unknown>): unknown[] {
  const out: unknown[] = [{}, null, 'text', []];
  const walk = (value: unknown, path: string[]) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) walk(inner, [...path, key]);
      out.push(setAt(sample, path, 42), setAt(sample, path, undefined));
      return;
    }
    for (const bad of [undefined, null, '', 'x'.repeat(600), -5, 1e9, 1.5, 'text', true, [], {}, ['([a-z'], [''], ['x'.repeat(300)]]) {
      if (path.length && path[path.length - 1] === 'kind') continue;
      out.push(setAt(sample, path, bad));
    }
  };
  walk(sample, []);
  return out;
}

function setAt(sample: Record<string, unknown>, path: string[], value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(sample)) as Record<string, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  if (path.length === 0) return value;
  if (value === undefined) delete node[path[path.length - 1]!];
  else node[path[path.length - 1]!] = value;
  return copy;
}

function messagesOf(schema: z.ZodType, value: unknown): string[] {
  try {
    parseInput(schema, value);
    return [];
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return Object.entries(error.fields).map(([path, message]) => `${path}: ${message}`);
  }
}

describe('the error map', () => {
  const FORM_SCHEMAS: Array<[string, z.ZodType, Record<string, unknown>[]]> = [
    ['settings', settingsSchema, [defaultSettings() as unknown as Record<string, unknown>, { ...defaultSettings(), group: { ...defaultSettings().group, manual: { ...defaultSettings().group.manual, mappings: [{ idpGroup: 'Eng', targetGroups: ['jira-eng'] }] } } }]],
    [
      'schedule',
      scheduleSchema,
      [
        { kind: 'hourly', minute: 5, timeZone: 'UTC' },
        { kind: 'everyNHours', hours: 6, minute: 0, timeZone: 'UTC' },
        { kind: 'daily', time: '02:00', timeZone: 'Europe/Berlin' },
        { kind: 'twiceDaily', times: ['06:00', '18:00'], timeZone: 'UTC' },
        { kind: 'weekly', day: 'mon', time: '02:00', timeZone: 'UTC' },
        { kind: 'cron', expression: '30 2 * * 1-5', timeZone: 'UTC' },
      ],
    ],
    [
      'pull credentials',
      pullConfigSchema,
      [
        { kind: 'miniorange', baseUrl: 'https://login.xecurify.com', customerKey: 'k', apiKey: 'a', pageSize: 100 },
        { kind: 'okta', baseUrl: 'https://example.okta.com', apiToken: 't', appId: 'app', pageSize: 200 },
        { kind: 'entra', tenantId: 't', clientId: 'c', clientSecret: 's', pageSize: 999 },
        { kind: 'keycloak', baseUrl: 'https://sso.example.com', realm: 'r', clientId: 'c', clientSecret: 's' },
        { kind: 'scim', baseUrl: 'https://scim.example.com/v2', bearerToken: 'b' },
      ],
    ],
    [
      'target',
      targetInputSchema,
      [
        { kind: 'jira-cloud', name: 'acme', baseUrl: 'https://acme.atlassian.net', credentials: { email: 'a@example.com', apiToken: 't' }, settings: { limits: { concurrency: 4 } } },
        { kind: 'confluence-cloud', name: 'wiki', baseUrl: 'https://acme.atlassian.net/wiki', credentials: { email: 'a@example.com', apiToken: 't' } },
        { kind: 'bitbucket-cloud', name: 'bb', settings: { workspace: 'acme' }, credentials: { username: 'u', apiToken: 't' } },
        { kind: 'jira-dc', name: 'dc', baseUrl: 'http://jira.internal', credentials: { token: 't' } },
        { kind: 'atlassian-org', name: 'org', settings: { orgId: 'o' }, credentials: { apiKey: 'k' } },
      ],
    ],
  ];

  it.each(FORM_SCHEMAS)('words every %s error for a person, never with zod default text', (_name, schema, samples) => {
    let failures = 0;
    for (const sample of samples) {
      expect(messagesOf(schema, sample)).toEqual([]);
      for (const bad of spoiled(sample)) {
        const messages = messagesOf(schema, bad);
        failures += messages.length;
        for (const message of messages) {
          if (defaultPhraseIn(message)) throw new Error(`zod default text in "${message}" for ${JSON.stringify(bad)}`);
          expect(message).toMatch(/: ["A-Z(]/);
        }
      }
    }
    expect(failures).toBeGreaterThan(10);
  });

  it('says what to do: enter the missing field, a number in its range', () => {
    expect(messagesOf(targetInputSchema, { kind: 'jira-cloud', name: 'acme', baseUrl: 'https://acme.atlassian.net', credentials: { email: 'a@example.com' } })).toEqual([
      'credentials.apiToken: Enter the API token',
    ]);
    expect(messagesOf(targetInputSchema, { kind: 'jira-cloud', name: 'acme', baseUrl: 'https://acme.atlassian.net' })).toEqual(['credentials: Enter the credentials']);
    expect(messagesOf(settingsSchema, { ...defaultSettings(), safety: { deprovisionThresholdPercent: 500, deprovisionThresholdMin: 1 } })).toEqual([
      'safety.deprovisionThresholdPercent: Enter a number from 0 to 100',
    ]);
    expect(messagesOf(pullConfigSchema, { kind: 'okta', baseUrl: 'https://x.okta.com', apiToken: 't', pageSize: 0 })).toEqual(['pageSize: Enter a whole number from 1 to 200']);
  });

  it("rewords other modules' problem strings that carry zod's defaults", () => {
    expect(fieldsFromProblems(['apiToken: Invalid input: expected string, received undefined', '(config): it broke'])).toEqual({ apiToken: 'Enter the API token', '': 'It broke' });
    expect(humanizeMessage('safety.deprovisionThresholdPercent', 'Too big: expected number to be <=100')).toBe('Enter a number no greater than 100');
    expect(humanizeMessage('credentials', 'Invalid input: expected object, received undefined')).toBe('Enter the credentials');
  });
});

/** Through the API, as the pages see it: no answer carries zod's default text. */
describe('admin API validation answers', () => {
  let tdb: TestDatabase;
  let app: App;
  let secret = '';
  let connectionId = '';
  let targetId = '';

  beforeAll(async () => {
    tdb = await createTestDatabase();
    const config = testConfig({ DEV_HOST_ENABLED: 'false' });
    app = createApp({ config, db: tdb.db, logger: silentLogger(), secrets: SecretBox.fromKeyList(config.encryptionKeys!) });
    await app.ready;
    secret = (await app.tenants.createLocal({ clientKey: 'tenant-v', baseUrl: 'https://tenant-v.example.test' })).sharedSecret;
  });
  afterAll(() => tdb.destroy());

  const auth = () => `JWT ${mintContextJwt({ clientKey: 'tenant-v', sharedSecret: secret, accountId: 'admin', method: 'GET', url: '/', qsh: 'context' })}`;
  const call = (method: 'get' | 'post' | 'put' | 'patch', path: string, body?: unknown) => {
    const r = request(app.app)[method](`/api${path}`).set('authorization', auth());
    return body === undefined ? r : r.send(body as object);
  };

  it('answers every bad form with sentences', async () => {
    connectionId = (await call('post', '/connections', { provider: 'miniorange', name: 'Prod' }).expect(201)).body.connection.id;
    // The target is saved (its connection test fails: nothing listens there) and the answer says what the test found.
    const created = await call('post', '/targets', { kind: 'jira-dc', name: 'dc', baseUrl: 'http://127.0.0.1:9', credentials: { token: 't' } }).expect(201);
    targetId = created.body.target.id;
    expect(created.body.test.ok).toBe(false);
    expect(typeof created.body.test.message).toBe('string');
    const settings = (await call('get', `/connections/${connectionId}/settings`).expect(200)).body;
    const bad: Array<[string, 'get' | 'post' | 'put' | 'patch', string, unknown?]> = [
      ['no body', 'post', '/connections', {}],
      ['no name', 'post', '/connections', { provider: 'okta' }],
      ['rename', 'patch', `/connections/${connectionId}`, { name: 5 }],
      ['rotate', 'post', `/connections/${connectionId}/token/rotate`, { graceSeconds: -1 }],
      ['pull, no kind', 'put', `/connections/${connectionId}/pull`, {}],
      ['pull, no secret', 'put', `/connections/${connectionId}/pull`, { kind: 'okta', baseUrl: 'https://x.okta.com' }],
      ['pull, bad kind', 'put', `/connections/${connectionId}/pull`, { kind: 'nope' }],
      ['pull test', 'post', `/connections/${connectionId}/pull/test`, { kind: 'entra', pageSize: 5000 }],
      ['target, nothing', 'post', '/targets', {}],
      ['target, no credentials', 'post', '/targets', { kind: 'jira-cloud', name: 'acme', baseUrl: 'https://acme.atlassian.net' }],
      ['target, bad url', 'post', '/targets', { kind: 'jira-cloud', name: '', baseUrl: 'nope', credentials: { email: 'x', apiToken: '' } }],
      ['target patch', 'patch', `/targets/${targetId}`, { name: 5, extra: true }],
      ['target patch url', 'patch', `/targets/${targetId}`, { baseUrl: 'ftp://x' }],
      ['settings', 'put', `/connections/${connectionId}/settings`, { settings: { safety: { deprovisionThresholdPercent: 500, deprovisionThresholdMin: -1 }, user: { ...settings.settings.user, onGone: 'nope', productsOnCreate: ['x'] } } }],
      ['settings, mapping', 'put', `/connections/${connectionId}/settings`, { settings: { group: { ...settings.settings.group, manual: { mappings: [{ idpGroup: '', targetGroups: [] }] } } } }],
      ['settings, shape', 'put', `/connections/${connectionId}/settings`, { settings: { other: 1 }, expectedVersion: 'x' }],
      ['preview', 'post', '/rules/preview', { names: 'x', transform: { pattern: '(' } }],
      ['schedule', 'put', `/connections/${connectionId}/schedule`, { schedule: { kind: 'daily', timeZone: 'UTC' } }],
      ['schedule minute', 'post', '/schedule/preview', { schedule: { kind: 'hourly', minute: 99, timeZone: 'UTC' } }],
      ['schedule kind', 'post', '/schedule/preview', { schedule: { kind: 'sometimes' } }],
      ['schedule missing', 'post', '/schedule/preview', {}],
      ['sync', 'post', `/connections/${connectionId}/sync`, { dryRun: 'yes' }],
      ['runs query', 'get', '/runs?limit=5000&status=nope&from=yesterday&connectionId=x'],
      ['picker', 'get', `/connections/${connectionId}/directory/groups?limit=0`],
      ['audit', 'get', '/audit?limit=0&beforeId=x'],
    ];
    for (const [name, method, path, body] of bad) {
      const res = await call(method, path, body);
      expect([name, res.status]).toEqual([name, 400]);
      const text = JSON.stringify(res.body);
      const phrase = defaultPhraseIn(text);
      if (phrase) throw new Error(`${name}: zod default text "${phrase}" in ${text}`);
      expect(Object.keys(res.body.fields ?? {}).length).toBeGreaterThan(0);
    }
  });

  it('serves the help docs with their anchors, and the page modules revalidated on every load', async () => {
    const help = await request(app.app).get('/help/sync').expect(200);
    expect(help.text).toContain('<h3 id="confirmation-threshold">Confirmation threshold</h3>');
    await request(app.app).get('/help/secrets').expect(404);
    const main = await request(app.app).get('/static/js/main.js').expect(200);
    expect(main.headers['cache-control']).toBe('no-cache');
    expect(main.headers['content-type']).toMatch(/javascript/);
    await request(app.app).get('/static/js/pages/synchronize.js').expect(200);
  });

  it('names the missing API token and credentials in words', async () => {
    const res = await call('post', '/targets', { kind: 'jira-cloud', name: 'acme', baseUrl: 'https://acme.atlassian.net', credentials: { email: 'a@example.com' } }).expect(400);
    expect(res.body.fields).toEqual({ 'credentials.apiToken': 'Enter the API token' });
    const none = await call('post', '/targets', { kind: 'jira-cloud', name: 'acme', baseUrl: 'https://acme.atlassian.net' }).expect(400);
    expect(none.body.fields).toEqual({ credentials: 'Enter the credentials' });
  });
});

import type { z } from 'zod';

/**
 * The admin API validates every body and query with the same zod schemas the services use, and answers a
 * failure as `{ error: 'validation', message, fields: { 'path.to.field': 'message' } }`: the pages render each
 * message next to the field whose `name` is that path, so the form and the API can never disagree.
 *
 * Messages are for the person at the form, never zod's defaults ("Invalid input: expected string, received
 * undefined"): `humanError` is passed as the parse's error map, so it names every issue a schema did not word
 * itself ("Enter the API token", "Enter a number from 0 to 100"). Messages other modules wrote from zod issues
 * (problem strings) are reworded by `humanizeMessage` as a last resort.
 */
export class ValidationError extends Error {
  constructor(
    readonly fields: Record<string, string>,
    message = 'Some fields are not valid',
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

/** What a field is called in a sentence, by the last key of its path. */
const FIELD_NOUNS: Record<string, string> = {
  name: 'a name',
  provider: 'a provider',
  kind: 'an option',
  baseUrl: 'the base URL',
  email: 'the email address',
  apiToken: 'the API token',
  apiKey: 'the API key',
  token: 'the access token',
  bearerToken: 'the bearer token',
  username: 'the username',
  customerKey: 'the customer key',
  tenantId: 'the directory (tenant) id',
  clientId: 'the client id',
  clientSecret: 'the client secret',
  realm: 'the realm',
  appId: 'the app id',
  workspace: 'the workspace',
  orgId: 'the organization id',
  orgTargetId: 'the organization target',
  credentials: 'the credentials',
  settings: 'the settings',
  pattern: 'a regular expression',
  replacement: 'the replacement',
  include: 'the include patterns',
  exclude: 'the exclude patterns',
  idpGroup: 'the IdP group',
  targetGroups: 'a target group',
  productAccessGroups: 'the product-access groups',
  productsOnCreate: 'the products',
  newUsers: 'the default groups',
  allUsers: 'the default groups',
  defaultProjectLead: 'an account',
  defaultComponentLead: 'an account',
  onInactive: 'what happens to inactive users',
  onGone: 'what happens to removed users',
  deactivateFallback: 'a fallback',
  mapping: 'a mapping',
  timeZone: 'a time zone',
  time: 'a time (HH:MM)',
  times: 'two times (HH:MM)',
  minute: 'the minute',
  hours: 'the hours',
  day: 'a day',
  expression: 'a cron expression',
  schedule: 'a schedule',
  deprovisionThresholdPercent: 'a percentage',
  deprovisionThresholdMin: 'a number',
  expectedVersion: 'the version',
  dryRun: 'dry run or not',
  names: 'the names',
  q: 'a search',
  limit: 'how many to show',
  offset: 'where to start',
  from: 'a date',
  to: 'a date',
  status: 'a status',
  trigger: 'a trigger',
  connectionId: 'an IdP app',
  targetId: 'a target',
  runId: 'a run',
  jobId: 'a job',
  beforeId: 'an entry',
  graceSeconds: 'a number of seconds',
};

/** The noun for a path ('credentials.apiToken' → 'the API token'); numeric segments are skipped. */
export function fieldNoun(path: readonly PropertyKey[]): string {
  for (let i = path.length - 1; i >= 0; i--) {
    const key = path[i];
    if (typeof key === 'number' || /^\d+$/.test(String(key))) continue;
    const known = FIELD_NOUNS[String(key)];
    if (known) return known;
    return `the ${String(key).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()}`;
  }
  return 'this value';
}

const sentence = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** The bounds a number schema's checks set (zod keeps them on the schema's checks, not on the issue). */
function numberBounds(schema: unknown): { min?: number; max?: number; int: boolean } {
  const out: { min?: number; max?: number; int: boolean } = { int: false };
  const def = (schema as { _zod?: { def?: { checks?: Array<{ _zod?: { def?: { check?: string; value?: unknown; format?: string } } }> } } })?._zod?.def;
  for (const check of def?.checks ?? []) {
    const c = check?._zod?.def;
    if (c?.check === 'greater_than' && typeof c.value === 'number') out.min = c.value;
    if (c?.check === 'less_than' && typeof c.value === 'number') out.max = c.value;
    if (c?.check === 'number_format' && /int/.test(String(c.format))) out.int = true;
  }
  return out;
}

function numberRange(bounds: { min?: number; max?: number; int: boolean }): string {
  const what = bounds.int ? 'a whole number' : 'a number';
  if (bounds.min !== undefined && bounds.max !== undefined) return `Enter ${what} from ${bounds.min} to ${bounds.max}`;
  if (bounds.max !== undefined) return `Enter ${what} no greater than ${bounds.max}`;
  if (bounds.min !== undefined) return `Enter ${what} of at least ${bounds.min}`;
  return `Enter ${what}`;
}

const FORMATS: Record<string, string> = {
  url: 'Enter a full URL, like https://your-site.atlassian.net',
  email: 'Enter an email address, like admin@example.com',
  uuid: 'Choose an item from the list',
  guid: 'Choose an item from the list',
  date: 'Enter a date as YYYY-MM-DD',
  datetime: 'Enter a date and time',
  time: 'Enter a time as HH:MM',
};

/** zod issue (raw, with its input and schema) → a sentence the admin can act on. */
export function humanError(issue: z.core.$ZodRawIssue): string {
  const noun = fieldNoun(issue.path ?? []);
  const input = (issue as { input?: unknown }).input;
  const missing = input === undefined || input === null || input === '';
  const raw = issue as unknown as Record<string, unknown>;
  switch (issue.code) {
    case 'invalid_type': {
      const expected = String(raw.expected);
      if (expected === 'int') return 'Enter a whole number';
      if (expected === 'number') return missing ? `Enter ${noun}` : numberRange(numberBounds(raw.schema ?? raw.inst));
      if (missing) return sentence(`${expected === 'boolean' ? 'Choose' : 'Enter'} ${noun}`);
      if (expected === 'boolean') return `Choose on or off for ${noun}`;
      if (expected === 'array') return `Enter ${noun} as a list`;
      if (expected === 'string') return `Enter ${noun} as text`;
      return `Enter ${noun}`;
    }
    case 'too_small': {
      const minimum = Number(raw.minimum);
      if (raw.origin === 'number') return numberRange(numberBounds(raw.schema ?? raw.inst));
      if (raw.origin === 'array' || raw.origin === 'set') return minimum <= 1 ? `Enter at least one: ${noun}` : `Enter at least ${minimum} items`;
      if (minimum <= 1) return `Enter ${noun}`;
      return `Enter at least ${minimum} characters`;
    }
    case 'too_big': {
      const maximum = Number(raw.maximum);
      if (raw.origin === 'number') return numberRange(numberBounds(raw.schema ?? raw.inst));
      if (raw.origin === 'array' || raw.origin === 'set') return `Enter at most ${maximum} items`;
      return `Use at most ${maximum} characters`;
    }
    case 'invalid_value': {
      if (missing) return sentence(`Choose ${noun}`);
      const values = Array.isArray(raw.values) ? (raw.values as unknown[]).map(String) : [];
      return values.length > 0 && values.length <= 8 ? `Choose one of: ${values.join(', ')}` : sentence(`Choose ${noun} from the list`);
    }
    case 'invalid_format':
      return FORMATS[String(raw.format)] ?? sentence(`Enter ${noun} in the form this field takes`);
    case 'not_multiple_of':
      return `Enter a multiple of ${String(raw.divisor)}`;
    case 'unrecognized_keys': {
      const keys = Array.isArray(raw.keys) ? (raw.keys as unknown[]).map(String).join(', ') : '';
      return `This form does not take: ${keys}`;
    }
    case 'invalid_union':
      return missing ? sentence(`Enter ${noun}`) : sentence(`Check ${noun}: it is not one of the accepted forms`);
    case 'invalid_key':
    case 'invalid_element':
      return sentence(`Check ${noun}`);
    default:
      return missing ? sentence(`Enter ${noun}`) : sentence(`Check ${noun}`);
  }
}

/**
 * Phrases zod writes by default (its English locale). A message with one of these was not worded for a
 * person; tests assert none reaches an API answer.
 */
export const ZOD_DEFAULT_PHRASES = [
  'Invalid input',
  'expected string',
  'expected number',
  'expected object',
  'expected array',
  'expected boolean',
  'received undefined',
  'received null',
  'Too big',
  'Too small',
  'Invalid option',
  'Invalid string',
  'Invalid URL',
  'Invalid email',
  'Invalid UUID',
  'Invalid ISO',
  'Invalid date',
  'Unrecognized key',
  'Invalid key',
  'Invalid element',
  'Invalid discriminator',
] as const;

const looksLikeZodDefault = (message: string) => ZOD_DEFAULT_PHRASES.some((phrase) => message.includes(phrase));

/** A message from elsewhere: kept if it was worded for a person, else reworded from what it says. */
export function humanizeMessage(path: string, message: string): string {
  if (!looksLikeZodDefault(message)) return sentence(message);
  const keys = path ? path.split('.') : [];
  const noun = fieldNoun(keys);
  const max = /<=?\s*(\d+)/.exec(message)?.[1];
  const min = />=?\s*(\d+)/.exec(message)?.[1];
  if (/received (undefined|null)/.test(message)) return sentence(`Enter ${noun}`);
  if (/expected number/.test(message) && (max || min)) return numberRange({ min: min ? Number(min) : undefined, max: max ? Number(max) : undefined, int: false });
  if (/Too small/.test(message) && /characters/.test(message)) return min === '1' ? sentence(`Enter ${noun}`) : `Enter at least ${min} characters`;
  if (/Too big/.test(message) && /characters/.test(message)) return `Use at most ${max} characters`;
  if (/Invalid URL/.test(message)) return FORMATS.url!;
  if (/Invalid email/.test(message)) return FORMATS.email!;
  if (/Invalid UUID/.test(message)) return FORMATS.uuid!;
  if (/Invalid option/.test(message)) return sentence(`Choose ${noun} from the list`);
  return sentence(`Check ${noun}`);
}

/** One message per field (the first zod reports), keyed by the dotted path; '' is the form as a whole. */
export function fieldsFromIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of issues) {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    if (!(path in fields)) fields[path] = humanizeMessage(path, issue.message);
  }
  return fields;
}

/** Parses with the person-worded error map; a failure is a ValidationError with one sentence per field. */
export function safeParseHuman<S extends z.ZodType>(schema: S, value: unknown): ReturnType<S['safeParse']> {
  return schema.safeParse(value, { error: humanError }) as ReturnType<S['safeParse']>;
}

export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const parsed = schema.safeParse(value, { error: humanError });
  if (!parsed.success) throw new ValidationError(fieldsFromIssues(parsed.error.issues, prefix));
  return parsed.data;
}

/** A problem-string list as other modules report it ("path: message") turned into fields. */
export function fieldsFromProblems(problems: readonly string[], prefix = ''): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const problem of problems) {
    const match = /^([^:\s]*): (.*)$/s.exec(problem);
    const path = [prefix, match && match[1] !== '(config)' && match[1] !== '(settings)' ? match[1] : ''].filter(Boolean).join('.');
    if (!(path in fields)) fields[path] = humanizeMessage(path, match ? match[2]! : problem);
  }
  return fields;
}

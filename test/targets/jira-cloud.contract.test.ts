import fs from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { projectRoot } from '../../src/db/migrate';
import { JiraCloudTarget } from '../../src/targets/jira-cloud';
import { FakeJiraCloud } from '../fakes/fake-jira-cloud';
import type { LoggedRequest } from '../fakes/fake-server';
import { allowLoopbackEgress } from '../helpers/runtime';

beforeAll(allowLoopbackEgress);

/**
 * Keeps the Jira adapter and the fake Jira honest against Atlassian's published OpenAPI spec for the
 * Jira Cloud platform REST API v3: (1) every request the adapter sends in a realistic scenario is an
 * operation of the spec with declared, well-typed parameters and a valid body, and (2) every response
 * of the fake matches the spec's schema for its status. The spec is reference data kept outside the
 * repository; without it this test is skipped.
 */

const SPEC_PATH = path.resolve(projectRoot(), '..', 'shared', 'specs', 'jira-cloud-platform-v3.users-groups.json');
const hasSpec = fs.existsSync(SPEC_PATH);

interface Parameter {
  name: string;
  in: 'query' | 'path' | 'header';
  required?: boolean;
  schema?: Record<string, unknown>;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Record<string, unknown> }> };
  responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>;
}

type Spec = { paths: Record<string, Record<string, Operation>>; components: Record<string, unknown> };

/** Limits the spec states in parameter descriptions rather than in schemas. */
const DESCRIBED_LIMITS: Record<string, Record<string, number>> = {
  'GET /rest/api/3/group/member': { maxResults: 50 },
  'GET /rest/api/3/users/search': { maxResults: 1000 },
  'GET /rest/api/3/project/search': { maxResults: 100 },
};

function compileAgainst(spec: Spec) {
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat('uri', { validate: (value: string) => URL.canParse(value) });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) <= 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('date-time', { validate: (value: string) => !Number.isNaN(Date.parse(value)) });
  ajv.addSchema({ $id: 'jira', components: spec.components });
  const cache = new Map<string, ValidateFunction>();
  return (schema: Record<string, unknown>): ValidateFunction => {
    const text = JSON.stringify(schema).replaceAll('"#/components/', '"jira#/components/');
    let validate = cache.get(text);
    if (!validate) {
      validate = ajv.compile(JSON.parse(text) as object);
      cache.set(text, validate);
    }
    return validate;
  };
}

function findOperation(spec: Spec, method: string, requestPath: string): { template: string; operation: Operation; pathParams: Record<string, string> } | null {
  const segments = requestPath.split('/');
  for (const [template, operations] of Object.entries(spec.paths)) {
    const operation = operations[method.toLowerCase()];
    if (!operation) continue;
    const expected = template.split('/');
    if (expected.length !== segments.length) continue;
    const pathParams: Record<string, string> = {};
    const matches = expected.every((part, i) => {
      const match = /^\{(\w+)\}$/.exec(part);
      if (match) {
        pathParams[match[1]!] = decodeURIComponent(segments[i]!);
        return segments[i] !== '';
      }
      return part === segments[i];
    });
    // A literal segment beats a parameter (/project/search vs /project/{projectIdOrKey}).
    if (matches && !(Object.keys(pathParams).length > 0 && spec.paths[requestPath]?.[method.toLowerCase()])) {
      return { template, operation, pathParams };
    }
  }
  return null;
}

/** Query strings carry text; coerce to what the parameter's schema says before validating. */
function coerce(value: string, schema: Record<string, unknown> | undefined): unknown {
  switch (schema?.type) {
    case 'integer':
    case 'number':
      return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    case 'boolean':
      return value === 'true' ? true : value === 'false' ? false : value;
    default:
      return value;
  }
}

function checkRequest(spec: Spec, validatorFor: ReturnType<typeof compileAgainst>, request: LoggedRequest): string[] {
  const problems: string[] = [];
  const label = `${request.method} ${request.path}${request.query}`;
  const found = findOperation(spec, request.method, request.path);
  if (!found) return [`${label}: no such operation in the spec`];
  const { template, operation, pathParams } = found;
  const parameters = operation.parameters ?? [];
  const query = new URLSearchParams(request.query);

  for (const name of new Set(query.keys())) {
    const parameter = parameters.find((p) => p.in === 'query' && p.name === name);
    if (!parameter) {
      problems.push(`${label}: query parameter "${name}" is not declared for ${request.method} ${template}`);
      continue;
    }
    const values = query.getAll(name);
    const schema = parameter.schema ?? {};
    const value = schema.type === 'array' ? values.map((v) => coerce(v, schema.items as Record<string, unknown>)) : coerce(values[0]!, schema);
    if (schema.type !== 'array' && values.length > 1) problems.push(`${label}: "${name}" repeated but not an array parameter`);
    const validate = validatorFor(schema);
    if (!validate(value)) problems.push(`${label}: query "${name}"=${JSON.stringify(value)}: ${JSON.stringify(validate.errors)}`);
    const limit = DESCRIBED_LIMITS[`${request.method} ${template}`]?.[name];
    if (limit !== undefined && Number(value) > limit) problems.push(`${label}: "${name}" above the documented ${limit}`);
  }
  for (const parameter of parameters) {
    if (!parameter.required) continue;
    if (parameter.in === 'query' && !query.has(parameter.name)) problems.push(`${label}: required query parameter "${parameter.name}" missing`);
    if (parameter.in === 'path' && !(parameter.name in pathParams)) problems.push(`${label}: path parameter "${parameter.name}" missing`);
  }
  for (const [name, value] of Object.entries(pathParams)) {
    const parameter = parameters.find((p) => p.in === 'path' && p.name === name);
    if (!parameter) problems.push(`${label}: path parameter "${name}" not declared`);
    else if (!validatorFor(parameter.schema ?? {})(coerce(value, parameter.schema))) problems.push(`${label}: path parameter "${name}" invalid`);
  }

  const bodySchema = operation.requestBody?.content?.['application/json']?.schema;
  if (request.body !== null && request.body !== undefined) {
    if (!bodySchema) problems.push(`${label}: sends a body but the operation takes none`);
    else {
      const validate = validatorFor(bodySchema);
      if (!validate(request.body)) problems.push(`${label}: body ${JSON.stringify(request.body)}: ${JSON.stringify(validate.errors)}`);
    }
  } else if (operation.requestBody?.required) {
    problems.push(`${label}: the operation requires a body`);
  }
  return problems;
}

function checkResponse(spec: Spec, validatorFor: ReturnType<typeof compileAgainst>, request: LoggedRequest): string[] {
  const found = findOperation(spec, request.method, request.path);
  if (!found || request.status === 0) return [];
  const label = `${request.method} ${found.template} → ${request.status}`;
  const declared = found.operation.responses[String(request.status)];
  if (!declared) return [`${label}: status not declared in the spec`];
  const schema = declared.content?.['application/json']?.schema;
  if (!schema || request.response === undefined || request.response === null) return [];
  const validate = validatorFor(schema);
  return validate(request.response) ? [] : [`${label}: ${JSON.stringify(validate.errors?.slice(0, 3))}`];
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

if (!hasSpec) {
  // eslint-disable-next-line no-console
  console.warn(`Jira Cloud contract test skipped: the OpenAPI spec is not at ${SPEC_PATH}`);
}

(hasSpec ? describe : describe.skip)('Jira Cloud adapter and fake against the OpenAPI spec', () => {
  const spec = hasSpec ? (JSON.parse(fs.readFileSync(SPEC_PATH, 'utf8')) as Spec) : ({ paths: {}, components: {} } as Spec);
  const validatorFor = compileAgainst(spec);
  const jira = new FakeJiraCloud();
  let log: LoggedRequest[] = [];

  beforeAll(async () => {
    await jira.start();
    jira.server.recordResponses = true;
    const target = new JiraCloudTarget({ http: { baseUrl: jira.baseUrl, email: 'admin@example.com', apiToken: 'jira-token', baseBackoffMs: 1 } });

    // A realistic sync: read everything, create, adopt, group and membership changes, leads, deprovision.
    const seeded = Array.from({ length: 120 }, (_, i) => jira.addUser({ emailAddress: `seed${i}@example.com`, displayName: `Seed ${i}`, products: ['jira-software'] }));
    jira.addUser({ emailAddress: 'hidden@example.com', emailHidden: true });
    jira.addUser({ emailAddress: 'app@connect.invalid', accountType: 'app' });
    const existing = jira.addGroup('jira-software-users', seeded.slice(0, 70).map((u) => u.accountId));
    jira.addProject('OPS', 'Operations', seeded[0]!.accountId);
    const component = jira.addComponent('OPS', 'Pager', seeded[0]!.accountId);

    await target.testConnection();
    await collect(target.listUsers());
    const groups = await collect(target.listGroups());
    for (const group of groups) await collect(target.listGroupMembers(group.groupId));
    await collect(target.listProjectLeads());
    await collect(target.listComponentLeads());

    const created = await target.createUser({ email: 'new.person@example.com', displayName: 'New Person', username: 'new.person', products: ['jira-software'] });
    await target.createUser({ email: 'new.person@example.com', displayName: 'New Person', username: 'new.person', products: ['jira-software'] });
    await target.findUserByEmail('seed5@example.com');
    await target.getUser(created.accountId);
    await target.getUser('557058:does-not-exist');
    const team = await target.createGroup('team-blue');
    await target.createGroup('team-blue');
    await target.addMember(team.groupId, created.accountId);
    await target.addMember(team.groupId, created.accountId);
    await target.addMember(existing.groupId, created.accountId);
    await target.listUserGroups(created.accountId);
    await target.removeMember(existing.groupId, created.accountId);
    await target.removeMember(existing.groupId, created.accountId);
    await target.setProjectLead('OPS', created.accountId);
    await target.setComponentLead(component.id, created.accountId);
    await target.deleteUser(seeded[1]!.accountId);
    await target.deleteUser(seeded[1]!.accountId);
    await target.deleteGroup(team.groupId);
    await target.deleteGroup(team.groupId);
    await target.createUser({ email: 'bad-email', displayName: null, username: 'x', products: ['jira-software'] }).catch(() => undefined);

    log = [...jira.server.log];
  });
  afterAll(() => jira.stop());

  it('exercised every operation the adapter uses', () => {
    const operations = new Set(log.map((r) => `${r.method} ${findOperation(spec, r.method, r.path)?.template ?? r.path}`));
    expect([...operations].sort()).toEqual(
      [
        'DELETE /rest/api/3/group',
        'DELETE /rest/api/3/group/user',
        'DELETE /rest/api/3/user',
        'GET /rest/api/3/group/bulk',
        'GET /rest/api/3/group/member',
        'GET /rest/api/3/myself',
        'GET /rest/api/3/mypermissions',
        'GET /rest/api/3/project/search',
        'GET /rest/api/3/project/{projectIdOrKey}/components',
        'GET /rest/api/3/user',
        'GET /rest/api/3/user/groups',
        'GET /rest/api/3/user/search',
        'GET /rest/api/3/users/search',
        'POST /rest/api/3/group',
        'POST /rest/api/3/group/user',
        'POST /rest/api/3/user',
        'PUT /rest/api/3/component/{id}',
        'PUT /rest/api/3/project/{projectIdOrKey}',
      ].sort(),
    );
  });

  it('sends only operations of the spec, with declared and valid parameters and bodies', () => {
    const problems = log.flatMap((request) => checkRequest(spec, validatorFor, request));
    expect(problems).toEqual([]);
  });

  it("answers with the spec's response schema for every status", () => {
    const problems = log.flatMap((request) => checkResponse(spec, validatorFor, request));
    expect(problems).toEqual([]);
    // The check is live: it catches a body that breaks the schema.
    const broken: LoggedRequest = { method: 'GET', route: '', path: '/rest/api/3/group/bulk', query: '', body: null, status: 200, response: { values: [{ name: 7 }] } };
    expect(checkResponse(spec, validatorFor, broken)).toHaveLength(1);
  });

  it('rejects requests the spec does not allow (the checker itself is live)', () => {
    const bad: LoggedRequest[] = [
      { method: 'GET', route: '', path: '/rest/api/3/group/member', query: '?groupId=x&maxResults=100', body: null, status: 200 },
      { method: 'POST', route: '', path: '/rest/api/3/user', query: '', body: { products: ['jira-software'] }, status: 400 },
      { method: 'GET', route: '', path: '/rest/api/3/user/groups', query: '?username=bob', body: null, status: 200 },
      { method: 'PATCH', route: '', path: '/rest/api/3/group', query: '', body: null, status: 405 },
    ];
    for (const request of bad) expect(checkRequest(spec, validatorFor, request).length).toBeGreaterThan(0);
  });
});

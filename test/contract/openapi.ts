import fs from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { projectRoot } from '../../src/db/migrate';
import type { LoggedRequest } from '../fakes/fake-server';

/**
 * Contract checks of an adapter and its fake against a vendor's published OpenAPI document, for any spec:
 * (1) every request the adapter sent is an operation of the spec, with declared, well-typed parameters and a
 * valid body, and (2) every answer of the fake matches the spec's schema for its status.
 *
 * The specs are reference data kept outside the repository, in `../shared/specs/` (relative to the repository
 * root); only the project lead adds files there. A contract whose spec file is absent is skipped with a
 * message that names the file and where the vendor publishes it (docs/targets.md lists them all).
 */

export interface SpecSource {
  /** File name under ../shared/specs/. */
  file: string;
  /** Where the vendor publishes it (what the project lead downloads, possibly trimmed to the paths used). */
  publishedAt: string;
}

export const SPECS = {
  jiraCloudV3: {
    file: 'jira-cloud-platform-v3.users-groups.json',
    publishedAt: 'https://developer.atlassian.com/cloud/jira/platform/swagger-v3.v3.json (trimmed to users, groups, projects)',
  },
  confluenceCloudV1: { file: 'confluence-cloud-v1.json', publishedAt: 'https://dac-static.atlassian.com/cloud/confluence/swagger.v3.json' },
  atlassianOrgAdmin: { file: 'atlassian-org-admin.json', publishedAt: 'https://dac-static.atlassian.com/cloud/admin/organization/swagger.v3.json' },
  atlassianUserManagement: {
    file: 'atlassian-user-management.json',
    publishedAt: 'https://dac-static.atlassian.com/cloud/admin/user-management/swagger.v3.json',
  },
  jiraDc: { file: 'jira-dc-platform.json', publishedAt: 'the "OpenAPI" link of https://developer.atlassian.com/server/jira/platform/rest/ (Jira Data Center REST API)' },
  confluenceDc: { file: 'confluence-dc.json', publishedAt: 'the "OpenAPI" link of https://developer.atlassian.com/server/confluence/rest/ (Confluence Data Center REST API)' },
} as const satisfies Record<string, SpecSource>;

export const SPECS_DIR = path.resolve(projectRoot(), '..', 'shared', 'specs');

interface Parameter {
  name: string;
  in: 'query' | 'path' | 'header' | 'cookie';
  required?: boolean;
  schema?: Record<string, unknown>;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Record<string, unknown> }> };
  responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>;
}

export interface Spec {
  paths: Record<string, Record<string, Operation> & { parameters?: Parameter[] }>;
  components?: Record<string, unknown>;
  servers?: Array<{ url: string; variables?: Record<string, { default?: string }> }>;
}

export interface FoundOperation {
  spec: number;
  template: string;
  operation: Operation;
  parameters: Parameter[];
  pathParams: Record<string, string>;
}

/** The specs that exist, and the missing ones described for a skip message. */
export function loadSpecs(sources: readonly SpecSource[]): { specs: Spec[]; missing: string[] } {
  const specs: Spec[] = [];
  const missing: string[] = [];
  for (const source of sources) {
    const file = path.join(SPECS_DIR, source.file);
    if (fs.existsSync(file)) specs.push(JSON.parse(fs.readFileSync(file, 'utf8')) as Spec);
    else missing.push(`${file} (published at ${source.publishedAt})`);
  }
  return { specs, missing };
}

/** The path part of a server URL (`https://{host}/wiki` → `/wiki`), variables at their defaults. */
function serverBasePath(spec: Spec): string[] {
  const bases = new Set<string>();
  for (const server of spec.servers ?? []) {
    let url = server.url;
    for (const [name, variable] of Object.entries(server.variables ?? {})) url = url.replaceAll(`{${name}}`, variable.default ?? 'x');
    url = url.replace(/\{[^}]+\}/g, 'x');
    try {
      const pathname = new URL(url, 'http://relative.invalid').pathname.replace(/\/+$/, '');
      if (pathname && pathname !== '/') bases.add(pathname);
    } catch {
      // A server URL that does not parse adds no base path.
    }
  }
  // Paths of a spec whose servers carry no path are absolute already.
  return bases.size > 0 ? [...bases] : [''];
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

export class ContractChecker {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly cache = new Map<string, ValidateFunction>();

  constructor(
    readonly specs: Spec[],
    /** Limits a spec states only in prose: `{'GET /rest/api/3/group/member': {maxResults: 50}}`. */
    private readonly describedLimits: Record<string, Record<string, number>> = {},
  ) {
    this.ajv.addFormat('uri', { validate: (value: string) => URL.canParse(value) });
    this.ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) <= 2 ** 31 });
    this.ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
    this.ajv.addFormat('date-time', { validate: (value: string) => !Number.isNaN(Date.parse(value)) });
    for (const format of ['email', 'uuid', 'date', 'password', 'byte', 'binary', 'double', 'float']) this.ajv.addFormat(format, () => true);
    specs.forEach((spec, index) => this.ajv.addSchema({ $id: `spec${index}`, components: spec.components ?? {} }));
  }

  validatorFor(spec: number, schema: Record<string, unknown>): ValidateFunction {
    const text = JSON.stringify(schema).replaceAll('"#/components/', `"spec${spec}#/components/`);
    let validate = this.cache.get(text);
    if (!validate) {
      validate = this.ajv.compile(JSON.parse(text) as object);
      this.cache.set(text, validate);
    }
    return validate;
  }

  findOperation(method: string, requestPath: string): FoundOperation | null {
    const verb = method.toLowerCase();
    for (const [index, spec] of this.specs.entries()) {
      for (const base of serverBasePath(spec)) {
        if (base && !requestPath.startsWith(`${base}/`)) continue;
        const relative = requestPath.slice(base.length);
        const segments = relative.split('/');
        // A literal path beats a template (/project/search vs /project/{projectIdOrKey}).
        const exact = spec.paths[relative]?.[verb];
        if (exact) return { spec: index, template: relative, operation: exact, parameters: this.parametersOf(spec, relative, exact), pathParams: {} };
        for (const [template, operations] of Object.entries(spec.paths)) {
          const operation = operations[verb];
          if (!operation) continue;
          const expected = template.split('/');
          if (expected.length !== segments.length) continue;
          const pathParams: Record<string, string> = {};
          const matches = expected.every((part, i) => {
            const match = /^\{([\w.-]+)\}$/.exec(part);
            if (match) {
              pathParams[match[1]!] = decodeURIComponent(segments[i]!);
              return segments[i] !== '';
            }
            return part === segments[i];
          });
          if (matches) return { spec: index, template, operation, parameters: this.parametersOf(spec, template, operation), pathParams };
        }
      }
    }
    return null;
  }

  /** Operation parameters plus the path item's shared ones (resolving local $refs). */
  private parametersOf(spec: Spec, template: string, operation: Operation): Parameter[] {
    const resolve = (p: Parameter | { $ref: string }): Parameter => {
      if ('$ref' in p) {
        const name = p.$ref.split('/').pop()!;
        return ((spec.components?.parameters as Record<string, Parameter> | undefined)?.[name] ?? { name, in: 'query' }) as Parameter;
      }
      return p;
    };
    const shared = ((spec.paths[template]?.parameters ?? []) as Array<Parameter | { $ref: string }>).map(resolve);
    const own = ((operation.parameters ?? []) as Array<Parameter | { $ref: string }>).map(resolve);
    return [...shared.filter((s) => !own.some((o) => o.name === s.name && o.in === s.in)), ...own];
  }

  checkRequest(request: LoggedRequest): string[] {
    const problems: string[] = [];
    const label = `${request.method} ${request.path}${request.query}`;
    const found = this.findOperation(request.method, request.path);
    if (!found) return [`${label}: no such operation in the spec`];
    const { template, operation, parameters, pathParams, spec } = found;
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
      const validate = this.validatorFor(spec, schema);
      if (!validate(value)) problems.push(`${label}: query "${name}"=${JSON.stringify(value)}: ${JSON.stringify(validate.errors)}`);
      const limit = this.describedLimits[`${request.method} ${template}`]?.[name];
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
      else if (!this.validatorFor(spec, parameter.schema ?? {})(coerce(value, parameter.schema))) problems.push(`${label}: path parameter "${name}" invalid`);
    }

    const content = operation.requestBody?.content ?? {};
    const bodySchema = (content['application/json'] ?? Object.values(content)[0])?.schema;
    if (request.body !== null && request.body !== undefined) {
      if (!operation.requestBody) problems.push(`${label}: sends a body but the operation takes none`);
      else if (bodySchema) {
        const validate = this.validatorFor(spec, bodySchema);
        if (!validate(request.body)) problems.push(`${label}: body ${JSON.stringify(request.body)}: ${JSON.stringify(validate.errors)}`);
      }
    } else if (operation.requestBody?.required) {
      problems.push(`${label}: the operation requires a body`);
    }
    return problems;
  }

  checkResponse(request: LoggedRequest): string[] {
    const found = this.findOperation(request.method, request.path);
    if (!found || request.status === 0) return [];
    const label = `${request.method} ${found.template} → ${request.status}`;
    const declared = found.operation.responses[String(request.status)] ?? found.operation.responses[`${String(request.status)[0]}XX`] ?? found.operation.responses.default;
    if (!declared) return [`${label}: status not declared in the spec`];
    const schema = declared.content?.['application/json']?.schema;
    if (!schema || request.response === undefined || request.response === null) return [];
    const validate = this.validatorFor(found.spec, schema);
    return validate(request.response) ? [] : [`${label}: ${JSON.stringify(validate.errors?.slice(0, 3))}`];
  }
}

export interface ContractOptions {
  /** The adapter's realistic scenario against a started fake; returns the fake's log (with recorded responses). */
  run(): Promise<LoggedRequest[]>;
  describedLimits?: Record<string, Record<string, number>>;
  /** Statuses the fake answers that the spec does not declare and that are knowingly tolerated (e.g. 429). */
  ignoreStatuses?: number[];
}

/**
 * A contract suite for one adapter + fake against one or more specs (a request may match any of them). Skips,
 * naming the missing files and where they are published, unless every spec is present.
 */
export function describeContract(name: string, sources: readonly SpecSource[], options: ContractOptions): void {
  const { specs, missing } = loadSpecs(sources);
  if (missing.length > 0) {
    // eslint-disable-next-line no-console
    console.warn(`${name} contract test skipped: the OpenAPI spec is not in ../shared/specs: ${missing.join('; ')}`);
    describe.skip(`${name} against the vendor's OpenAPI spec (spec absent)`, () => {
      it('needs the spec', () => undefined);
    });
    // The scenario still runs, so it keeps working against the adapter and the fake until the spec arrives.
    describe(`${name}: contract scenario against the fake (spec checks skipped)`, () => {
      it('runs and sends requests', async () => {
        expect((await options.run()).length).toBeGreaterThan(0);
      }, 60_000);
    });
    return;
  }
  describe(`${name} against the vendor's OpenAPI spec`, () => {
    const checker = new ContractChecker(specs, options.describedLimits);
    const ignored = new Set(options.ignoreStatuses ?? [429]);
    let log: LoggedRequest[] = [];
    beforeAll(async () => {
      log = await options.run();
    }, 60_000);

    it('sent requests', () => {
      expect(log.length).toBeGreaterThan(0);
    });

    it('sends only operations of the spec, with declared and valid parameters and bodies', () => {
      expect(log.flatMap((request) => checker.checkRequest(request))).toEqual([]);
    });

    it("answers with the spec's response schema for every status", () => {
      expect(log.filter((r) => !ignored.has(r.status)).flatMap((request) => checker.checkResponse(request))).toEqual([]);
    });

    it('the checker itself is live: an invented operation is refused', () => {
      const bogus: LoggedRequest = { method: 'PATCH', route: '', path: '/definitely/not/an/operation', query: '?x=1', body: { a: 1 }, status: 200 };
      expect(checker.checkRequest(bogus).length).toBeGreaterThan(0);
    });
  });
}

import { ContractChecker, SPECS, loadSpecs, type Spec } from './openapi';
import type { LoggedRequest } from '../fakes/fake-server';

/**
 * The generic contract checker on a small hand-written OpenAPI document (shaped like Confluence's v1, whose
 * server URL carries the /wiki base path): it must accept what the document allows and refuse the rest, or
 * every contract built on it proves nothing.
 */

const spec: Spec = {
  servers: [{ url: 'https://{your-domain}/wiki', variables: { 'your-domain': { default: 'example.atlassian.net' } } }],
  paths: {
    '/rest/api/group/picker': {
      get: {
        parameters: [
          { name: 'query', in: 'query', required: true, schema: { type: 'string' } },
          { name: 'start', in: 'query', schema: { type: 'integer', format: 'int32', minimum: 0 } },
          { name: 'limit', in: 'query', schema: { type: 'integer', format: 'int32', minimum: 0 } },
        ],
        responses: { '200': { content: { 'application/json': { schema: { $ref: '#/components/schemas/GroupArray' } } } }, '400': {} },
      },
    },
    '/rest/api/group/{groupId}/membersByGroupId': {
      parameters: [{ name: 'groupId', in: 'path', required: true, schema: { type: 'string' } }],
      get: { parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer' } }], responses: { '200': {} } },
    },
    '/rest/api/group': {
      post: {
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['name'], properties: { name: { type: 'string' } }, additionalProperties: false } } } },
        responses: { '201': {} },
      },
    },
  } as unknown as Spec['paths'],
  components: {
    schemas: {
      GroupArray: { type: 'object', required: ['results', 'size'], properties: { results: { type: 'array', items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } }, size: { type: 'integer' } } },
    },
  },
};

const request = (method: string, path: string, query = '', body: unknown = null, status = 200, response?: unknown): LoggedRequest => ({ method, route: '', path, query, body, status, response });

describe('OpenAPI contract checker', () => {
  const checker = new ContractChecker([spec], { 'GET /rest/api/group/{groupId}/membersByGroupId': { limit: 200 } });

  it('matches requests under the server base path, with shared path parameters', () => {
    expect(checker.findOperation('GET', '/wiki/rest/api/group/picker')?.template).toBe('/rest/api/group/picker');
    expect(checker.findOperation('GET', '/wiki/rest/api/group/g-1/membersByGroupId')?.pathParams).toEqual({ groupId: 'g-1' });
    expect(checker.findOperation('GET', '/rest/api/group/picker')).toBeNull();
  });

  it('accepts what the spec allows', () => {
    expect(checker.checkRequest(request('GET', '/wiki/rest/api/group/picker', '?query=team&start=0&limit=200'))).toEqual([]);
    expect(checker.checkRequest(request('POST', '/wiki/rest/api/group', '', { name: 'team' }, 201))).toEqual([]);
    expect(checker.checkResponse(request('GET', '/wiki/rest/api/group/picker', '?query=a', null, 200, { results: [{ name: 'a' }], size: 1 }))).toEqual([]);
  });

  it('refuses undeclared or ill-typed parameters, missing required ones, bad bodies, prose limits and unknown operations', () => {
    expect(checker.checkRequest(request('GET', '/wiki/rest/api/group/picker', '?start=0'))).toEqual([expect.stringMatching(/required query parameter "query"/)]);
    expect(checker.checkRequest(request('GET', '/wiki/rest/api/group/picker', '?query=a&name=b'))).toEqual([expect.stringMatching(/"name" is not declared/)]);
    expect(checker.checkRequest(request('GET', '/wiki/rest/api/group/picker', '?query=a&limit=lots'))).toHaveLength(1);
    expect(checker.checkRequest(request('GET', '/wiki/rest/api/group/g/membersByGroupId', '?limit=500'))).toEqual([expect.stringMatching(/above the documented 200/)]);
    expect(checker.checkRequest(request('POST', '/wiki/rest/api/group', '', { name: 'x', type: 'group' }, 201))).toHaveLength(1);
    expect(checker.checkRequest(request('POST', '/wiki/rest/api/group', '', null, 400))).toEqual([expect.stringMatching(/requires a body/)]);
    expect(checker.checkRequest(request('GET', '/wiki/rest/api/group/by-name', '?name=x'))).toEqual([expect.stringMatching(/no such operation/)]);
  });

  it('refuses answers that break the response schema or use an undeclared status', () => {
    expect(checker.checkResponse(request('GET', '/wiki/rest/api/group/picker', '?query=a', null, 200, { results: [{ name: 7 }], size: 1 }))).toHaveLength(1);
    expect(checker.checkResponse(request('GET', '/wiki/rest/api/group/picker', '?query=a', null, 404, {}))).toEqual([expect.stringMatching(/status not declared/)]);
  });

  it('names each missing spec file and where Atlassian publishes it', () => {
    const { missing } = loadSpecs([{ file: 'no-such-spec.json', publishedAt: 'https://example.invalid/spec.json' }]);
    expect(missing).toEqual([expect.stringMatching(/shared\/specs\/no-such-spec\.json \(published at https:\/\/example\.invalid\/spec\.json\)/)]);
    expect(Object.values(SPECS).map((s) => s.file)).toEqual(
      expect.arrayContaining(['confluence-cloud-v1.json', 'atlassian-org-admin.json', 'atlassian-user-management.json', 'jira-dc-platform.json', 'confluence-dc.json']),
    );
  });
});

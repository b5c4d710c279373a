import { FakeServer, FakeService, intParam, type FakeRequest, type FakeResponse } from '../fake-server';
import type { IdpData } from './directory-data';

/**
 * Fake SCIM 2.0 service provider (RFC 7644) at /scim/v2: bearer token, GET /Users and /Groups as a
 * ListResponse paged by 1-based startIndex/count (count capped at maxResults, as servers may), members
 * inside each Group (value, display, $ref, type), `attributes` / `excludedAttributes=members`, and
 * SCIM error bodies.
 */

export const SCIM_BASE_PATH = '/scim/v2';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

export interface FakeScimServerOptions {
  data: IdpData;
  token: string;
  /** Largest page served whatever count asks for (default 100). */
  maxResults?: number;
}

export class FakeScimServer extends FakeService {
  readonly server: FakeServer;

  constructor(readonly options: FakeScimServerOptions) {
    super();
    this.server = new FakeServer(() => 'caller');
    const s = this.server;
    s.route('GET', `${SCIM_BASE_PATH}/Users`, (req) =>
      this.authed(req, () =>
        this.list(req, this.options.data.userTotal(), (start, n) =>
          this.options.data.users(start, n).map((u) => ({
            schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
            id: u.id,
            userName: u.userName,
            name: { givenName: u.givenName, familyName: u.familyName },
            displayName: [u.givenName, u.familyName].filter(Boolean).join(' ') || undefined,
            emails: u.email ? [{ value: u.email, type: 'work', primary: true }] : [],
            active: u.active,
            meta: { resourceType: 'User', location: `${this.baseUrl}${SCIM_BASE_PATH}/Users/${u.id}` },
          })),
        ),
      ),
    );
    s.route('GET', `${SCIM_BASE_PATH}/Groups`, (req) =>
      this.authed(req, () =>
        this.list(req, this.options.data.groupTotal(), (start, n) =>
          this.options.data.groups(start, n).map((g) => this.group(req, g.id, g.name)),
        ),
      ),
    );
    s.route('GET', `${SCIM_BASE_PATH}/Groups/:id`, (req) =>
      this.authed(req, () => {
        const group = this.options.data.group(req.params.id!);
        if (!group) return { status: 404, body: { schemas: [ERROR], status: '404', detail: `Group ${req.params.id} not found` } };
        return { status: 200, body: this.group(req, group.id, group.name) };
      }),
    );
  }

  /** The SCIM base URL a client is configured with. */
  get scimBaseUrl(): string {
    return `${this.server.baseUrl}${SCIM_BASE_PATH}`;
  }

  private group(req: FakeRequest, id: string, name: string): Record<string, unknown> {
    const excluded = (req.query.get('excludedAttributes') ?? '').split(',').map((a) => a.trim());
    const data = this.options.data;
    const group: Record<string, unknown> = { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], id, displayName: name, meta: { resourceType: 'Group' } };
    if (!excluded.includes('members')) {
      const users = data.members(id, 0, data.memberTotal(id)).map((userId) => ({
        value: userId,
        display: data.user(userId)?.userName,
        $ref: `${this.baseUrl}${SCIM_BASE_PATH}/Users/${userId}`,
        type: 'User',
      }));
      const nested = data.children(id).map((child) => ({ value: child.id, display: child.name, type: 'Group' }));
      group.members = [...users, ...nested];
    }
    const attributes = req.query.get('attributes');
    if (attributes) {
      const keep = new Set(['id', 'schemas', ...attributes.split(',').map((a) => a.trim())]);
      return Object.fromEntries(Object.entries(group).filter(([k]) => keep.has(k)));
    }
    return group;
  }

  private authed(req: FakeRequest, handle: () => FakeResponse): FakeResponse {
    if (req.headers.authorization !== `Bearer ${this.options.token}`) {
      return { status: 401, body: { schemas: [ERROR], status: '401', detail: 'Authorization failure. The authorization header is invalid or missing.' } };
    }
    return handle();
  }

  private list(req: FakeRequest, total: number, slice: (start: number, count: number) => unknown[]): FakeResponse {
    const startIndex = intParam(req.query, 'startIndex', 1, 1, Number.MAX_SAFE_INTEGER);
    const count = intParam(req.query, 'count', 100, 0, this.options.maxResults ?? 100);
    const resources = slice(startIndex - 1, count);
    return { status: 200, body: { schemas: [LIST], totalResults: total, startIndex, itemsPerPage: resources.length, Resources: resources } };
  }
}

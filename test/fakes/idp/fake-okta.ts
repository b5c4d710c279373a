import { FakeServer, FakeService, intParam, type FakeRequest, type FakeResponse } from '../fake-server';
import type { IdpData, IdpUser } from './directory-data';

/**
 * Fake Okta Management API: `Authorization: SSWS <token>`, cursor paging with `after` and a
 * `Link: <…>; rel="next"` header, `limit` capped per endpoint (users 200, groups 10000, group members
 * 1000, app users 500, app groups 200), X-Rate-Limit-Limit/-Remaining/-Reset (epoch seconds) on every
 * answer, and Okta's error body ({errorCode, errorSummary}).
 */

export interface FakeOktaOptions {
  data: IdpData;
  apiToken: string;
  apps?: Record<string, { label: string; users: string[]; groups: string[] }>;
  /** Requests per rate-limit window reported in X-Rate-Limit-Limit (nothing is enforced unless a fault is queued). */
  rateLimit?: number;
}

export class FakeOkta extends FakeService {
  readonly server: FakeServer;
  private windowUsed = 0;

  constructor(readonly options: FakeOktaOptions) {
    super();
    this.server = new FakeServer(() => 'caller');
    const s = this.server;
    s.route('GET', '/api/v1/users', (req) => this.authed(req, () => this.list(req, '/api/v1/users', 200, this.options.data.userTotal(), (start, n) => this.options.data.users(start, n).map((u) => this.user(u)))));
    s.route('GET', '/api/v1/groups', (req) => this.authed(req, () => this.list(req, '/api/v1/groups', 10_000, this.options.data.groupTotal(), (start, n) => this.options.data.groups(start, n).map((g) => this.group(g.id, g.name)))));
    s.route('GET', '/api/v1/groups/:id', (req) =>
      this.authed(req, () => {
        const group = this.options.data.group(req.params.id!);
        return group ? { status: 200, body: this.group(group.id, group.name) } : this.notFound(`Group ${req.params.id}`);
      }),
    );
    s.route('GET', '/api/v1/groups/:id/users', (req) =>
      this.authed(req, () => {
        const id = req.params.id!;
        if (!this.options.data.group(id)) return this.notFound(`Group ${id}`);
        return this.list(req, `/api/v1/groups/${id}/users`, 1000, this.options.data.memberTotal(id), (start, n) =>
          this.options.data.members(id, start, n).map((userId) => {
            const user = this.options.data.user(userId);
            return user ? this.user(user) : { id: userId };
          }),
        );
      }),
    );
    s.route('GET', '/api/v1/apps/:appId', (req) =>
      this.authed(req, () => {
        const app = this.options.apps?.[req.params.appId!];
        return app ? { status: 200, body: { id: req.params.appId, label: app.label, status: 'ACTIVE' } } : this.notFound(`App ${req.params.appId}`);
      }),
    );
    s.route('GET', '/api/v1/apps/:appId/users', (req) =>
      this.authed(req, () => {
        const appId = req.params.appId!;
        const app = this.options.apps?.[appId];
        if (!app) return this.notFound(`App ${appId}`);
        return this.list(req, `/api/v1/apps/${appId}/users`, 500, app.users.length, (start, n) =>
          app.users.slice(start, start + n).flatMap((userId) => {
            const user = this.options.data.user(userId);
            if (!user) return [];
            return [
              {
                id: user.id,
                scope: 'USER',
                status: user.active ? 'ACTIVE' : 'INACTIVE',
                credentials: { userName: user.userName },
                profile: { email: user.email, given_name: user.givenName, family_name: user.familyName },
              },
            ];
          }),
        );
      }),
    );
    s.route('GET', '/api/v1/apps/:appId/groups', (req) =>
      this.authed(req, () => {
        const appId = req.params.appId!;
        const app = this.options.apps?.[appId];
        if (!app) return this.notFound(`App ${appId}`);
        const expand = req.query.get('expand') === 'group';
        return this.list(req, `/api/v1/apps/${appId}/groups`, 200, app.groups.length, (start, n) =>
          app.groups.slice(start, start + n).map((groupId) => {
            const group = this.options.data.group(groupId);
            return {
              id: groupId,
              priority: 0,
              ...(expand && group ? { _embedded: { group: this.group(group.id, group.name) } } : {}),
            };
          }),
        );
      }),
    );
  }

  private rateHeaders(): Record<string, string> {
    const limit = this.options.rateLimit ?? 600;
    this.windowUsed += 1;
    const resetAt = Math.ceil(Date.now() / 60_000) * 60;
    return {
      'X-Rate-Limit-Limit': String(limit),
      'X-Rate-Limit-Remaining': String(Math.max(1, limit - (this.windowUsed % limit))),
      'X-Rate-Limit-Reset': String(resetAt),
    };
  }

  private authed(req: FakeRequest, handle: () => FakeResponse): FakeResponse {
    const authorization = req.headers.authorization ?? '';
    if (authorization !== `SSWS ${this.options.apiToken}`) {
      return {
        status: 401,
        headers: this.rateHeaders(),
        body: { errorCode: 'E0000011', errorSummary: 'Invalid token provided', errorLink: 'E0000011', errorId: 'oae-fake', errorCauses: [] },
      };
    }
    const response = handle();
    return { ...response, headers: { ...this.rateHeaders(), ...response.headers } };
  }

  private notFound(what: string): FakeResponse {
    return { status: 404, body: { errorCode: 'E0000007', errorSummary: `Not found: Resource not found: ${what}`, errorCauses: [] } };
  }

  private list(req: FakeRequest, path: string, maxLimit: number, total: number, slice: (start: number, count: number) => unknown[]): FakeResponse {
    const limit = intParam(req.query, 'limit', maxLimit, 1, maxLimit);
    const after = intParam(req.query, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
    const items = slice(after, limit);
    const links = [`<${this.baseUrl}${path}?limit=${limit}>; rel="self"`];
    if (after + limit < total) {
      const extra = [...req.query.entries()].filter(([k]) => k !== 'limit' && k !== 'after').map(([k, v]) => `&${k}=${encodeURIComponent(v)}`).join('');
      links.push(`<${this.baseUrl}${path}?limit=${limit}&after=${after + limit}${extra}>; rel="next"`);
    }
    return { status: 200, headers: { Link: links.join(', ') }, body: items };
  }

  private user(user: IdpUser) {
    return {
      id: user.id,
      status: user.active ? 'ACTIVE' : 'SUSPENDED',
      created: '2024-01-01T00:00:00.000Z',
      profile: { login: user.userName, email: user.email, firstName: user.givenName, lastName: user.familyName },
    };
  }

  private group(id: string, name: string) {
    return { id, type: 'OKTA_GROUP', profile: { name, description: null } };
  }
}

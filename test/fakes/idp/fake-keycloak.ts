import { randomBytes } from 'node:crypto';
import { FakeServer, FakeService, intParam, type FakeRequest, type FakeResponse } from '../fake-server';
import type { IdpData, IdpGroup } from './directory-data';

/**
 * Fake Keycloak: the realm's OpenID Connect token endpoint (client credentials) and the Admin REST API
 * users, groups, group children and group members with first/max paging (default max 100). Two group
 * shapes: `legacyTree` answers GET /groups with the whole tree in subGroups (Keycloak before 23); the
 * default answers top-level groups with subGroupCount and serves /groups/{id}/children (23 and later).
 */

export interface FakeKeycloakOptions {
  data: IdpData;
  realm: string;
  clientId: string;
  clientSecret: string;
  legacyTree?: boolean;
}

export class FakeKeycloak extends FakeService {
  readonly server: FakeServer;
  readonly tokens = new Set<string>();

  constructor(readonly options: FakeKeycloakOptions) {
    super();
    this.server = new FakeServer(() => 'caller');
    const s = this.server;
    const admin = '/admin/realms/:realm';
    s.route('POST', '/realms/:realm/protocol/openid-connect/token', (req) => this.token(req));
    s.route('GET', `${admin}/users`, (req) =>
      this.authed(req, () => {
        const { first, max } = this.paging(req);
        return {
          status: 200,
          body: this.options.data.users(first, max).map((u) => ({
            id: u.id,
            username: u.userName.toLowerCase(),
            email: u.email,
            firstName: u.givenName,
            lastName: u.familyName,
            enabled: u.active,
            emailVerified: true,
            createdTimestamp: 1_700_000_000_000,
          })),
        };
      }),
    );
    s.route('GET', `${admin}/groups`, (req) =>
      this.authed(req, () => {
        const { first, max } = this.paging(req);
        const top = this.topLevel().slice(first, first + max);
        return { status: 200, body: top.map((g) => this.render(g, `/${g.name}`)) };
      }),
    );
    s.route('GET', `${admin}/groups/:id/children`, (req) =>
      this.authed(req, () => {
        if (this.options.legacyTree) return { status: 404, body: { error: 'HTTP 404 Not Found' } };
        const parent = this.options.data.group(req.params.id!);
        if (!parent) return { status: 404, body: { error: 'Could not find group by id' } };
        const { first, max } = this.paging(req);
        const path = this.pathOf(parent);
        return { status: 200, body: this.options.data.children(parent.id).slice(first, first + max).map((g) => this.render(g, `${path}/${g.name}`)) };
      }),
    );
    s.route('GET', `${admin}/groups/:id/members`, (req) =>
      this.authed(req, () => {
        const id = req.params.id!;
        if (!this.options.data.group(id)) return { status: 404, body: { error: 'Could not find group by id' } };
        const { first, max } = this.paging(req);
        return {
          status: 200,
          body: this.options.data.members(id, first, max).map((userId) => ({ id: userId, username: this.options.data.user(userId)?.userName.toLowerCase() ?? userId })),
        };
      }),
    );
  }

  private topLevel(): IdpGroup[] {
    const data = this.options.data;
    return data.groups(0, data.groupTotal()).filter((g) => g.parentId === null);
  }

  private pathOf(group: IdpGroup): string {
    const names = [group.name];
    let parentId = group.parentId;
    while (parentId) {
      const parent = this.options.data.group(parentId);
      if (!parent) break;
      names.unshift(parent.name);
      parentId = parent.parentId;
    }
    return `/${names.join('/')}`;
  }

  private render(group: IdpGroup, path: string): Record<string, unknown> {
    const children = this.options.data.children(group.id);
    if (this.options.legacyTree) {
      return { id: group.id, name: group.name, path, subGroups: children.map((c) => this.render(c, `${path}/${c.name}`)) };
    }
    return { id: group.id, name: group.name, path, subGroupCount: children.length, subGroups: [] };
  }

  private paging(req: FakeRequest): { first: number; max: number } {
    return { first: intParam(req.query, 'first', 0, 0, Number.MAX_SAFE_INTEGER), max: intParam(req.query, 'max', 100, 1, 10_000) };
  }

  private token(req: FakeRequest): FakeResponse {
    const form = (req.body ?? {}) as Record<string, string>;
    if (req.params.realm !== this.options.realm) return { status: 404, body: { error: 'Realm does not exist' } };
    if (form.grant_type !== 'client_credentials') return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type' } };
    if (form.client_id !== this.options.clientId || form.client_secret !== this.options.clientSecret) {
      return { status: 401, body: { error: 'unauthorized_client', error_description: 'Invalid client or Invalid client credentials' } };
    }
    const token = randomBytes(24).toString('base64url');
    this.tokens.add(token);
    return { status: 200, body: { access_token: token, expires_in: 300, refresh_expires_in: 0, token_type: 'Bearer', 'not-before-policy': 0, scope: 'profile email' } };
  }

  private authed(req: FakeRequest, handle: () => FakeResponse): FakeResponse {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!match || !this.tokens.has(match[1]!)) return { status: 401, body: { error: 'HTTP 401 Unauthorized' } };
    if (req.params.realm !== this.options.realm) return { status: 404, body: { error: 'Realm not found.' } };
    return handle();
  }
}

import { randomBytes } from 'node:crypto';
import { FakeServer, FakeService, intParam, type FakeRequest, type FakeResponse } from '../fake-server';
import { transitiveMembers, type IdpData } from './directory-data';

/**
 * Fake Microsoft identity platform token endpoint plus Microsoft Graph v1.0 users/groups on one loopback
 * server (point both authorityBaseUrl and graphBaseUrl at it). Client credentials issue bearer tokens;
 * lists page with $top (max 999, default 100) and @odata.nextLink ($skiptoken); groups'
 * transitiveMembers/microsoft.graph.user flattens nested groups; errors use Graph's {error:{code,message}}.
 */

export interface FakeGraphOptions {
  data: IdpData;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** Token lifetime in seconds (default 3599). */
  tokenLifetime?: number;
}

export class FakeGraph extends FakeService {
  readonly server: FakeServer;
  readonly tokens = new Set<string>();
  tokenRequests = 0;

  constructor(readonly options: FakeGraphOptions) {
    super();
    this.server = new FakeServer(() => 'caller');
    const s = this.server;
    s.route('POST', '/:tenant/oauth2/v2.0/token', (req) => this.token(req));
    s.route('GET', '/v1.0/users', (req) =>
      this.authed(req, () =>
        this.list(req, '/v1.0/users', this.options.data.userTotal(), (start, n) =>
          this.options.data.users(start, n).map((u) =>
            this.select(req, {
              id: u.id,
              userPrincipalName: u.userName,
              mail: u.email,
              displayName: [u.givenName, u.familyName].filter(Boolean).join(' ') || null,
              givenName: u.givenName,
              surname: u.familyName,
              accountEnabled: u.active,
            }),
          ),
        ),
      ),
    );
    s.route('GET', '/v1.0/groups', (req) =>
      this.authed(req, () =>
        this.list(req, '/v1.0/groups', this.options.data.groupTotal(), (start, n) =>
          this.options.data.groups(start, n).map((g) => this.select(req, { id: g.id, displayName: g.name, securityEnabled: true, mailEnabled: false })),
        ),
      ),
    );
    s.route('GET', '/v1.0/groups/:id/transitiveMembers/microsoft.graph.user', (req) =>
      this.authed(req, () => {
        const id = req.params.id!;
        if (!this.options.data.group(id)) {
          return { status: 404, body: { error: { code: 'Request_ResourceNotFound', message: `Resource '${id}' does not exist or one of its queried reference-property objects are not present.` } } };
        }
        const data = this.options.data;
        const nested = data.children(id).length > 0;
        const all = nested ? transitiveMembers(data, id) : null;
        const total = all ? all.length : data.memberTotal(id);
        return this.list(req, `/v1.0/groups/${id}/transitiveMembers/microsoft.graph.user`, total, (start, n) =>
          (all ? all.slice(start, start + n) : data.members(id, start, n)).map((userId) => ({ '@odata.type': '#microsoft.graph.user', id: userId })),
        );
      }),
    );
  }

  /** Forgets every issued token (as if they expired): the next Graph call answers 401. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  private token(req: FakeRequest): FakeResponse {
    this.tokenRequests += 1;
    const form = (req.body ?? {}) as Record<string, string>;
    if (req.params.tenant !== this.options.tenantId) {
      return { status: 400, body: { error: 'invalid_request', error_description: `AADSTS90002: Tenant '${req.params.tenant}' not found.` } };
    }
    if (form.grant_type !== 'client_credentials') {
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'AADSTS70003: The app requested an unsupported grant type.' } };
    }
    if (form.client_id !== this.options.clientId || form.client_secret !== this.options.clientSecret) {
      return { status: 401, body: { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' } };
    }
    if (!form.scope?.endsWith('/.default')) {
      return { status: 400, body: { error: 'invalid_scope', error_description: 'AADSTS1002012: The provided value for scope is not valid.' } };
    }
    const token = randomBytes(24).toString('base64url');
    this.tokens.add(token);
    return { status: 200, body: { token_type: 'Bearer', expires_in: this.options.tokenLifetime ?? 3599, ext_expires_in: 3599, access_token: token } };
  }

  private authed(req: FakeRequest, handle: () => FakeResponse): FakeResponse {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!match || !this.tokens.has(match[1]!)) {
      return { status: 401, body: { error: { code: 'InvalidAuthenticationToken', message: 'Access token validation failure. Invalid audience.' } } };
    }
    return handle();
  }

  private select(req: FakeRequest, entity: Record<string, unknown>): Record<string, unknown> {
    const select = req.query.get('$select');
    if (!select) return entity;
    const fields = new Set(select.split(',').map((f) => f.trim()));
    return Object.fromEntries(Object.entries(entity).filter(([k]) => fields.has(k)));
  }

  private list(req: FakeRequest, path: string, total: number, slice: (start: number, count: number) => unknown[]): FakeResponse {
    const top = intParam(req.query, '$top', 100, 1, 999);
    const start = intParam(req.query, '$skiptoken', 0, 0, Number.MAX_SAFE_INTEGER);
    const body: Record<string, unknown> = { '@odata.context': `${this.baseUrl}/v1.0/$metadata#${path}`, value: slice(start, top) };
    if (start + top < total) {
      const params = new URLSearchParams(req.query);
      params.set('$skiptoken', String(start + top));
      body['@odata.nextLink'] = `${this.baseUrl}${path}?${params.toString()}`;
    }
    return { status: 200, body };
  }
}

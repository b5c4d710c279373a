import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import * as jwt from 'atlassian-jwt';

/**
 * A loopback stand-in for Atlassian's OAuth 2.0 authorization server (JWT bearer grant for Connect apps) and
 * for one Jira site's GET /rest/api/3/mypermissions, as one server: its URL is both the auth server and the
 * tenant's baseUrl. The token endpoint checks what Atlassian documents: grant_type, an HS256 assertion signed
 * with the tenant's shared secret, iss = urn:atlassian:connect:clientid:{oauthClientId}, sub =
 * urn:atlassian:connect:useraccountid:{accountId}, tnt = the site, aud = the auth server, not expired.
 */
export class FakeAtlassianAuth {
  private server: http.Server | undefined;
  url = '';
  /** accountIds that hold the global ADMINISTER permission. */
  readonly admins = new Set<string>();
  readonly tokens = new Map<string, string>();
  tokenRequests = 0;
  permissionRequests = 0;
  /** Answer the token endpoint with this status instead (fault injection). */
  tokenFailure: number | null = null;

  constructor(
    readonly oauthClientId: string,
    readonly sharedSecret: string,
  ) {}

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => this.handle(req, body, res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private handle(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'POST' && url.pathname === '/oauth2/token') {
      this.tokenRequests += 1;
      if (this.tokenFailure) return this.json(res, this.tokenFailure, { error: 'server_error' });
      const form = new URLSearchParams(body);
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return this.json(res, 400, { error: 'unsupported_grant_type' });
      let claims: Record<string, unknown>;
      try {
        claims = jwt.decodeSymmetric(form.get('assertion') ?? '', this.sharedSecret, jwt.SymmetricAlgorithm.HS256, false);
      } catch {
        return this.json(res, 401, { error: 'invalid_grant' });
      }
      const sub = String(claims.sub ?? '');
      const valid =
        claims.iss === `urn:atlassian:connect:clientid:${this.oauthClientId}` &&
        sub.startsWith('urn:atlassian:connect:useraccountid:') &&
        claims.tnt === this.url &&
        // RFC 7519: aud is a string or an array of strings (atlassian-jwt writes an array).
        (claims.aud === this.url || (Array.isArray(claims.aud) && claims.aud.includes(this.url))) &&
        typeof claims.exp === 'number' &&
        claims.exp > Date.now() / 1000;
      if (!valid) return this.json(res, 401, { error: 'invalid_grant' });
      const token = randomBytes(16).toString('hex');
      this.tokens.set(token, sub.slice('urn:atlassian:connect:useraccountid:'.length));
      return this.json(res, 200, { access_token: token, expires_in: 900, token_type: 'Bearer' });
    }
    if (req.method === 'GET' && url.pathname === '/rest/api/3/mypermissions') {
      this.permissionRequests += 1;
      const accountId = this.tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
      if (!accountId) return this.json(res, 401, { errorMessages: ['Client must be authenticated to access this resource.'] });
      const keys = (url.searchParams.get('permissions') ?? '').split(',').filter(Boolean);
      if (keys.length === 0) return this.json(res, 400, { errorMessages: ['The permissions query parameter is required.'] });
      const permissions = Object.fromEntries(
        keys.map((key) => [key, { id: '0', key, name: key, type: 'GLOBAL', description: key, havePermission: key === 'ADMINISTER' && this.admins.has(accountId) }]),
      );
      return this.json(res, 200, { permissions });
    }
    this.json(res, 404, { errorMessages: ['not found'] });
  }
}

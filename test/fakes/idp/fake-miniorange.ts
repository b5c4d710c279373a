import { MINIORANGE_ENDPOINTS, miniOrangeSignature } from '../../../src/sources/miniorange';
import { FakeServer, FakeService, type FakeRequest, type FakeResponse } from '../fake-server';
import type { IdpData, IdpUser } from './directory-data';

/**
 * Fake miniOrange admin API: only what miniOrange documents. The signature check (Customer-Key, Timestamp,
 * Authorization = sha512(customerKey + timestamp + apiKey)), the server time, and the single-user
 * `users/search` (USER_FOUND / USER_NOT_FOUND) and `users/get` (SUCCESS / FAILED). There is no list-users,
 * list-groups or group-members endpoint here because no public document or client shows one; a client that
 * calls one gets the 404 a real tenant would give. See docs/sources.md.
 */

export interface FakeMiniOrangeOptions {
  data: IdpData;
  customerKey: string;
  apiKey: string;
  /** How far a request's Timestamp may be from the fake's clock (assumed: miniOrange does not document it). */
  clockToleranceMs?: number;
  /** The fake's clock offset from the real one, to exercise useServerTime. */
  clockOffsetMs?: number;
}

export class FakeMiniOrange extends FakeService {
  readonly server: FakeServer;

  constructor(readonly options: FakeMiniOrangeOptions) {
    super();
    this.server = new FakeServer(() => 'caller');
    const e = MINIORANGE_ENDPOINTS;
    this.server.route('POST', e.serverTime, () => ({ status: 200, body: String(this.now()) }));
    this.server.route('POST', e.searchUser, (req) => this.authed(req, () => this.searchUser(req)));
    this.server.route('POST', e.getUser, (req) => this.authed(req, () => this.getUser(req)));
  }

  private now(): number {
    return Date.now() + (this.options.clockOffsetMs ?? 0);
  }

  private authed(req: FakeRequest, handle: () => FakeResponse): FakeResponse {
    const header = (name: string) => {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value[0] : value;
    };
    const customerKey = header('Customer-Key');
    const timestamp = header('Timestamp');
    const authorization = header('Authorization');
    const denied = (message: string): FakeResponse => ({ status: 401, body: { status: 'ERROR', message } });
    if (!customerKey || !timestamp || !authorization) return denied('Missing authentication headers.');
    if (customerKey !== this.options.customerKey) return denied('Invalid customer key.');
    if (Math.abs(Number(timestamp) - this.now()) > (this.options.clockToleranceMs ?? 120_000)) return denied('Request timestamp is out of range.');
    if (authorization !== miniOrangeSignature(customerKey, timestamp, this.options.apiKey)) return denied('Invalid authorization.');
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (body.customerKey !== customerKey) return { status: 200, body: { status: 'ERROR', message: 'customerKey in the body does not match.' } };
    return handle();
  }

  private render(user: IdpUser) {
    return {
      id: user.id,
      username: user.userName,
      email: user.email,
      firstName: user.givenName,
      lastName: user.familyName,
      status: user.active ? 'ACTIVE' : 'INACTIVE',
    };
  }

  private findByUsername(req: FakeRequest): IdpUser | undefined {
    const username = String((req.body as Record<string, unknown>).username ?? '').toLowerCase();
    const total = this.options.data.userTotal();
    return this.options.data.users(0, total).find((u) => u.userName.toLowerCase() === username);
  }

  private searchUser(req: FakeRequest): FakeResponse {
    return { status: 200, body: { status: this.findByUsername(req) ? 'USER_FOUND' : 'USER_NOT_FOUND' } };
  }

  private getUser(req: FakeRequest): FakeResponse {
    const user = this.findByUsername(req);
    if (!user) return { status: 200, body: { status: 'FAILED', message: 'User not found.' } };
    const { status: userStatus, ...rest } = this.render(user);
    return { status: 200, body: { ...rest, userStatus, status: 'SUCCESS' } };
  }
}

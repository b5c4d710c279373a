import { MINIORANGE_ENDPOINTS, miniOrangeSignature } from '../../../src/sources/miniorange';
import { FakeServer, type FakeRequest, type FakeResponse } from '../fake-server';
import type { IdpData, IdpUser } from './directory-data';

/**
 * Fake miniOrange admin API. The signature check (Customer-Key, Timestamp, Authorization =
 * sha512(customerKey + timestamp + apiKey), Api-Key on group calls) and the single-user endpoints follow
 * miniOrange's documentation. The list endpoints and their paging do not come from any document we could
 * read: they implement exactly what src/sources/miniorange.ts ASSUMES (MINIORANGE_ENDPOINTS), so these
 * tests prove the connector against its own assumption, not against miniOrange. See docs/sources.md.
 */

export interface FakeMiniOrangeOptions {
  data: IdpData;
  customerKey: string;
  apiKey: string;
  /** Largest page the fake serves (assumed; the connector asks for its configured pageSize). */
  maxPageSize?: number;
  /** How far a request's Timestamp may be from the fake's clock (assumed: miniOrange does not document it). */
  clockToleranceMs?: number;
  /** The fake's clock offset from the real one, to exercise useServerTime. */
  clockOffsetMs?: number;
}

export class FakeMiniOrange {
  readonly server: FakeServer;
  readonly maxPageSize: number;

  constructor(readonly options: FakeMiniOrangeOptions) {
    this.maxPageSize = options.maxPageSize ?? 1000;
    this.server = new FakeServer(() => 'caller');
    const e = MINIORANGE_ENDPOINTS;
    this.server.route('POST', e.serverTime, () => ({ status: 200, body: String(this.now()) }));
    this.server.route('POST', e.searchUser, (req) => this.authed(req, false, () => this.searchUser(req)));
    this.server.route('POST', e.getUser, (req) => this.authed(req, false, () => this.getUser(req)));
    this.server.route('POST', e.listUsers, (req) => this.authed(req, false, () => this.listUsers(req)));
    this.server.route('POST', e.listGroups, (req) => this.authed(req, true, () => this.listGroups(req)));
    this.server.route('POST', e.listGroupMembers, (req) => this.authed(req, true, () => this.listMembers(req)));
  }

  get baseUrl(): string {
    return this.server.baseUrl;
  }

  start(): Promise<string> {
    return this.server.start();
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  private now(): number {
    return Date.now() + (this.options.clockOffsetMs ?? 0);
  }

  private authed(req: FakeRequest, groupApi: boolean, handle: () => FakeResponse): FakeResponse {
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
    if (groupApi && header('Api-Key') !== this.options.apiKey) return denied('Invalid API key.');
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (body.customerKey !== customerKey) return { status: 200, body: { status: 'ERROR', message: 'customerKey in the body does not match.' } };
    return handle();
  }

  private paging(req: FakeRequest): { start: number; count: number } | FakeResponse {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const startIndex = Number(body.startIndex ?? 1);
    const count = Number(body.count ?? 100);
    if (!Number.isInteger(startIndex) || startIndex < 1 || !Number.isInteger(count) || count < 1) {
      return { status: 200, body: { status: 'ERROR', message: 'startIndex and count must be positive integers.' } };
    }
    return { start: startIndex - 1, count: Math.min(count, this.maxPageSize) };
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

  private listUsers(req: FakeRequest): FakeResponse {
    const paging = this.paging(req);
    if ('status' in paging) return paging;
    const users = this.options.data.users(paging.start, paging.count).map((u) => this.render(u));
    return { status: 200, body: { status: 'SUCCESS', totalResults: this.options.data.userTotal(), users } };
  }

  private listGroups(req: FakeRequest): FakeResponse {
    const paging = this.paging(req);
    if ('status' in paging) return paging;
    const groups = this.options.data.groups(paging.start, paging.count).map((g) => ({ id: g.id, name: g.name }));
    return { status: 200, body: { status: 'SUCCESS', totalResults: this.options.data.groupTotal(), groups } };
  }

  private listMembers(req: FakeRequest): FakeResponse {
    const paging = this.paging(req);
    if ('status' in paging) return paging;
    const groupId = String((req.body as Record<string, unknown>).groupId ?? '');
    if (!this.options.data.group(groupId)) return { status: 200, body: { status: 'ERROR', message: 'Group not found.' } };
    const users = this.options.data.members(groupId, paging.start, paging.count).map((id) => ({ id, username: this.options.data.user(id)?.userName ?? id }));
    return { status: 200, body: { status: 'SUCCESS', totalResults: this.options.data.memberTotal(groupId), users } };
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

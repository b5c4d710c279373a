import * as jwt from 'atlassian-jwt';

export interface ContextJwtInput {
  /** The app key (issuer of the tenant's tokens is the host; ACE reads the clientKey from `iss`). */
  clientKey: string;
  sharedSecret: string;
  /** The Jira user the token speaks for. */
  accountId: string;
  method: string;
  /** Path with its query string, relative to the app's base URL, e.g. `/admin?x=1`. */
  url: string;
  /** Include a query-string hash (page loads); API calls with `AP.context.getToken()` tokens carry `context-qsh`. */
  qsh?: 'request' | 'context';
  lifetimeSeconds?: number;
}

/**
 * An HS256 token as Jira signs them for a tenant. Production never mints these for Jira; the development
 * host at /dev does (it stands in for Jira), and so do the tests.
 */
export function mintContextJwt(input: ContextJwtInput): string {
  const now = Math.floor(Date.now() / 1000);
  const qsh =
    input.qsh === 'context'
      ? 'context-qsh'
      : jwt.createQueryStringHash(jwt.fromMethodAndUrl(input.method.toUpperCase(), input.url));
  return jwt.encodeSymmetric(
    {
      iss: input.clientKey,
      sub: input.accountId,
      iat: now,
      exp: now + (input.lifetimeSeconds ?? 180),
      qsh,
      context: { user: { accountId: input.accountId } },
    },
    input.sharedSecret,
    jwt.SymmetricAlgorithm.HS256,
  );
}

import { z } from 'zod';
import type { SourceHttp } from './http';
import { SourceError, type SourceKind } from './types';

/** OAuth 2.0 client-credentials helpers shared by the Entra and Keycloak sources. */

const tokenSchema = z.object({
  access_token: z.string().min(1),
  expires_in: z.union([z.number(), z.string()]).optional(),
  token_type: z.string().optional(),
});

export type TokenResponse = z.infer<typeof tokenSchema>;

/** POSTs a client-credentials form to a token endpoint and returns the token response. */
export async function requestToken(http: SourceHttp, url: string, form: URLSearchParams): Promise<TokenResponse> {
  const { body } = await http.json(url, tokenSchema, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  return body;
}

/**
 * Token endpoints answer bad credentials with 400 (invalid_client / unauthorized_client) as often as 401:
 * both become one clear authentication error with status 401.
 */
export function tokenError(kind: SourceKind, who: string, error: unknown): Error {
  if (error instanceof SourceError && (error.status === 400 || error.status === 401 || error.status === 403)) {
    return new SourceError(`authentication failed: ${who} refused the client credentials — ${error.message}`, kind, 401);
  }
  return error as Error;
}

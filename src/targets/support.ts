import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { shownProductMessage } from './http';
import { TargetError, type TargetKind } from './types';

/** Small pieces every adapter shares. */

/** The error an adapter throws for an operation its product's API does not offer (see the capability matrix). */
export function unsupported(kind: TargetKind, what: string, instead: string): TargetError {
  return new TargetError(`${kind} cannot ${what} through its API: ${instead}`, null, kind);
}

/** zod check of a body the client already accepted (e.g. a 201 among accepted 4xx). */
export function parseBody<T>(kind: TargetKind, schema: z.ZodType<T>, body: unknown, request: string): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TargetError(`${kind} ${request}: unexpected response (${issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid'})`, null, kind, request);
  }
  return parsed.data;
}

/** A TargetError for a status the adapter accepted to inspect and then found it could not tolerate. */
export function answered(kind: TargetKind, request: string, status: number, body: unknown): TargetError {
  return new TargetError(`${kind} ${request} answered ${status}: ${shownProductMessage(body)}`, status, kind, request, status === 429 || status >= 500);
}

/** `value` from the `name` query parameter of a next-page URL (cursor or page number), if any. */
export function queryParamOf(url: string | null | undefined, name: string): string | null {
  if (!url) return null;
  try {
    return new URL(url, 'http://relative.invalid').searchParams.get(name);
  } catch {
    return null;
  }
}

/** A random password for Data Center accounts whose users sign in through SSO or reset it themselves. */
export function randomPassword(): string {
  // 24 random bytes, base64url: never logged, never stored.
  return randomBytes(24).toString('base64url');
}

/**
 * An IdP quirk normaliser turns one vendor's way of saying something into standard SCIM before the one
 * RFC-clean code path sees it. All normalisers run for every connection, whatever its provider preset:
 * several IdPs share quirks and some (OneLogin) let admins edit the payload template, so being liberal
 * here costs nothing and surprises no one.
 */

export interface QuirkContext {
  resourceType: 'User' | 'Group';
  /** The resource a PATCH/PUT addresses. */
  resourceId?: string;
}

/** A PATCH operation as it may arrive: anything object-shaped. */
export type RawOperation = Record<string, unknown>;

export interface Quirk {
  /** Who sends this, and where it is documented. */
  readonly vendor: string;
  /** Rewrites a POST/PUT resource body. */
  body?(body: Record<string, unknown>, context: QuirkContext): Record<string, unknown>;
  /** Rewrites the PATCH request envelope (before its Operations are read). */
  patchRequest?(body: Record<string, unknown>, context: QuirkContext): Record<string, unknown>;
  /** Rewrites one PATCH operation. */
  operation?(operation: RawOperation, context: QuirkContext): RawOperation;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

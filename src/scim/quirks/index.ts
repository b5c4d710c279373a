import { entra } from './entra';
import { generic } from './generic';
import { okta } from './okta';
import { isObject, type Quirk, type QuirkContext, type RawOperation } from './types';

export type { QuirkContext, RawOperation };

/** Every vendor's normaliser, applied in this order to every request. A new IdP's oddity is one file here. */
export const QUIRKS: readonly Quirk[] = [generic, entra, okta];

export function normaliseBody(body: unknown, context: QuirkContext): unknown {
  if (!isObject(body)) return body;
  return QUIRKS.reduce((current, quirk) => (quirk.body ? quirk.body(current, context) : current), body);
}

export function normalisePatchRequest(body: unknown, context: QuirkContext): unknown {
  if (!isObject(body)) return body;
  const envelope = QUIRKS.reduce((current, quirk) => (quirk.patchRequest ? quirk.patchRequest(current, context) : current), body);
  if (!Array.isArray(envelope.Operations)) return envelope;
  return {
    ...envelope,
    Operations: envelope.Operations.map((operation: unknown) =>
      isObject(operation) ? QUIRKS.reduce((current, quirk) => (quirk.operation ? quirk.operation(current, context) : current), operation) : operation,
    ),
  };
}

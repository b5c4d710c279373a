import { ENTERPRISE_USER_SCHEMA } from '../schemas';
import { isObject, type Quirk, type RawOperation } from './types';

/**
 * Microsoft Entra ID (Azure AD) provisioning, per Microsoft's published SCIM guidance and known
 * interoperability reports:
 * - PATCH op names capitalised ("Add", "Replace", "Remove");
 * - older tenants send a malformed enterprise extension URN (`…:enterprise:2.0User`), in bodies, in
 *   `schemas` and in PATCH paths;
 * - the manager arrives as a bare string (`"value": "271"`) instead of `{"value": "271"}`.
 * Booleans sent as strings ("True"/"False") and explicit nulls are handled for every client by the
 * schema coercion in ../resource.ts (it knows which attributes are boolean), not here.
 */

const MALFORMED_ENTERPRISE = /^urn:ietf:params:scim:schemas:extension:enterprise:2\.0:?user(?=$|:)/i;

function fixUrn(text: string): string {
  return text.replace(MALFORMED_ENTERPRISE, ENTERPRISE_USER_SCHEMA);
}

function fixKeys(object: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) out[fixUrn(key)] = value;
  return out;
}

function managerObject(value: unknown): unknown {
  return typeof value === 'string' || typeof value === 'number' ? { value: String(value) } : value;
}

function fixManager(extension: unknown): unknown {
  if (!isObject(extension)) return extension;
  const out = { ...extension };
  for (const key of Object.keys(out)) if (key.toLowerCase() === 'manager') out[key] = managerObject(out[key]);
  return out;
}

function fixResourceValue(value: Record<string, unknown>): Record<string, unknown> {
  const out = fixKeys(value);
  if (ENTERPRISE_USER_SCHEMA in out) out[ENTERPRISE_USER_SCHEMA] = fixManager(out[ENTERPRISE_USER_SCHEMA]);
  for (const key of Object.keys(out)) {
    // No-path values may carry the manager flattened: "urn:…:User:manager": "271".
    if (key.toLowerCase() === `${ENTERPRISE_USER_SCHEMA}:manager`.toLowerCase()) out[key] = managerObject(out[key]);
  }
  if (Array.isArray(out.schemas)) out.schemas = out.schemas.map((s) => (typeof s === 'string' ? fixUrn(s) : s));
  return out;
}

export const entra: Quirk = {
  vendor: 'Microsoft Entra ID',
  body: (body) => fixResourceValue(body),
  operation(operation): RawOperation {
    const out: RawOperation = { ...operation };
    if (typeof out.op === 'string') out.op = out.op.toLowerCase();
    if (typeof out.path === 'string') {
      const path = fixUrn(out.path.trim());
      out.path = path;
      if (path.toLowerCase() === `${ENTERPRISE_USER_SCHEMA}:manager`.toLowerCase()) out.value = managerObject(out.value);
      if (path.toLowerCase() === ENTERPRISE_USER_SCHEMA.toLowerCase() && isObject(out.value)) out.value = fixManager(out.value);
    } else if (isObject(out.value)) {
      out.value = fixResourceValue(out.value);
    }
    return out;
  },
};

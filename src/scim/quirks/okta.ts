import { badRequest } from '../errors';
import { isObject, type Quirk, type RawOperation } from './types';

/**
 * Okta, per its SCIM 2.0 provisioning guide: a group rename arrives as
 * `{"op":"replace","value":{"id":"<group id>","displayName":"New"}}`, the group's own (read-only) id
 * inside the value, and the same id is resent with membership changes. The id is dropped when it names
 * the resource itself; naming another resource is an attempt to change an immutable id (400 mutability).
 */
export const okta: Quirk = {
  vendor: 'Okta',
  operation(operation, context): RawOperation {
    if (operation.path !== undefined || !isObject(operation.value)) return operation;
    const value = { ...operation.value };
    for (const key of Object.keys(value)) {
      if (key.toLowerCase() !== 'id') continue;
      if (context.resourceId !== undefined && String(value[key]).toLowerCase() !== context.resourceId.toLowerCase()) {
        throw badRequest('mutability', 'id is read-only and cannot be changed');
      }
      delete value[key];
    }
    return { ...operation, value };
  },
};

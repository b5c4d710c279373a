import { isObject, type Quirk } from './types';

/**
 * Shapes seen from clients whose payloads are admin-editable templates (OneLogin, JumpCloud, generic
 * SCIM connectors): `operations` in lower case, an `op` with stray whitespace, a PatchOp envelope
 * without `schemas`. Each is read as the RFC spelling.
 */
export const generic: Quirk = {
  vendor: 'template-driven clients (OneLogin, JumpCloud, generic)',
  patchRequest(body) {
    if (body.Operations !== undefined) return body;
    const key = Object.keys(body).find((k) => k.toLowerCase() === 'operations');
    return key ? { ...body, Operations: body[key] } : body;
  },
  operation(operation) {
    const out = { ...operation };
    for (const key of Object.keys(out)) {
      const lower = key.toLowerCase();
      if ((lower === 'op' || lower === 'path' || lower === 'value') && key !== lower) {
        out[lower] = out[key];
        delete out[key];
      }
    }
    if (typeof out.op === 'string') out.op = out.op.trim();
    if (out.path === null || out.path === '') delete out.path;
    return out;
  },
};

import { filter as matcher, parse as parseScimFilter, type Filter } from 'scim2-parse-filter';
import { scimPatch, type ScimPatchOperation, type ScimResource } from 'scim-patch';
import { z } from 'zod';
import { badRequest, ScimError } from './errors';
import { normalisePatchRequest, type QuirkContext } from './quirks';
import { COMMON_ATTRIBUTES, findAttribute, PATCH_OP_SCHEMA, type AttributeDef, type ResourceKind } from './schemas';

/**
 * PATCH (RFC 7644 §3.5.2), in three steps:
 * 1. the vendor quirks (./quirks) rewrite the request into standard SCIM;
 * 2. `parsePatch` validates it and makes every operation explicit: a no-path add/replace becomes one
 *    operation per attribute (dotted and extension-URN keys included), a null value becomes a remove,
 *    and every path is checked against the schema and spelled canonically;
 * 3. `applyPatch` applies the attribute operations to the stored resource with scim-patch, while the
 *    router turns `members` operations into membership row operations (never a member array).
 */

export interface PatchOperation {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

export interface ParsedPath {
  /** The extension schema the attribute belongs to, if any. */
  extension?: string;
  /** The whole extension is addressed (`urn:…:enterprise:2.0:User`). */
  wholeExtension: boolean;
  attribute?: AttributeDef;
  filter?: string;
  sub?: AttributeDef;
  /** The canonical spelling scim-patch understands. */
  text: string;
}

const envelopeSchema = z.object({
  schemas: z.array(z.string()).optional(),
  Operations: z.array(z.record(z.string(), z.unknown())).min(1, 'Operations must not be empty'),
});

const operationSchema = z.object({
  op: z.string().transform((op) => op.toLowerCase()).pipe(z.enum(['add', 'replace', 'remove'])),
  path: z.string().optional(),
  value: z.unknown().optional(),
});

const PATH = /^([A-Za-z$][\w$-]*)(?:\[(.+)\])?(?:\.([A-Za-z$][\w$-]*))?$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a path against the schema and spells it canonically (attribute names are case-insensitive). */
export function parsePath(kind: ResourceKind, rawPath: string): ParsedPath {
  let rest = rawPath.trim();
  const lower = rest.toLowerCase();
  let defs = kind.attributes;
  let extension: string | undefined;
  if (lower.startsWith(`${kind.schema.toLowerCase()}:`)) rest = rest.slice(kind.schema.length + 1);
  else {
    for (const candidate of kind.extensions) {
      const urn = candidate.schema.toLowerCase();
      if (lower === urn) return { extension: candidate.schema, wholeExtension: true, text: candidate.schema };
      if (lower.startsWith(`${urn}:`)) {
        rest = rest.slice(urn.length + 1);
        extension = candidate.schema;
        defs = candidate.attributes;
      }
    }
    if (!extension && lower.startsWith('urn:')) throw badRequest('invalidPath', `unknown schema in path "${rawPath}"`);
  }
  const match = PATH.exec(rest);
  if (!match) throw badRequest('invalidPath', `"${rawPath}" is not a valid attribute path`);
  const [, head = '', filterText, subName] = match;
  const attribute = findAttribute(defs, head) ?? (extension ? undefined : findAttribute(COMMON_ATTRIBUTES, head));
  if (!attribute) throw badRequest('invalidPath', `"${rawPath}" names no attribute of ${kind.name}`);
  if (attribute.mutability === 'readOnly') throw badRequest('mutability', `${attribute.name} is read-only`);
  if (filterText !== undefined && !attribute.multiValued) throw badRequest('invalidPath', `${attribute.name} is not multi-valued`);
  let sub: AttributeDef | undefined;
  if (subName !== undefined) {
    sub = findAttribute(attribute.subAttributes, subName);
    if (!sub) throw badRequest('invalidPath', `"${rawPath}" names no sub-attribute of ${attribute.name}`);
  }
  if (filterText !== undefined) {
    try {
      parseScimFilter(filterText);
    } catch (error) {
      throw badRequest('invalidFilter', `the filter in "${rawPath}" is not valid: ${(error as Error).message}`);
    }
  }
  const local = `${attribute.name}${filterText !== undefined ? `[${filterText}]` : ''}${sub ? `.${sub.name}` : ''}`;
  return { extension, wholeExtension: false, attribute, filter: filterText, sub, text: extension ? `${extension}:${local}` : local };
}

/** No-path add/replace → one operation per attribute of the value (RFC 7644 §3.5.2.1/3). */
function expandNoPath(kind: ResourceKind, op: 'add' | 'replace', value: unknown): PatchOperation[] {
  if (!isObject(value)) throw badRequest('invalidValue', `an ${op} without a path needs an object value`);
  const out: PatchOperation[] = [];
  for (const [key, inner] of Object.entries(value)) {
    const lower = key.toLowerCase();
    if (lower === 'schemas') continue;
    if (lower === kind.schema.toLowerCase()) {
      out.push(...expandNoPath(kind, op, inner));
      continue;
    }
    const extension = kind.extensions.find((x) => x.schema.toLowerCase() === lower);
    if (extension && isObject(inner)) {
      for (const [subKey, subValue] of Object.entries(inner)) out.push({ op, path: `${extension.schema}:${subKey}`, value: subValue });
      continue;
    }
    // Keys may be dotted ("name.givenName") or extension URNs ("urn:…:2.0:User:employeeNumber"); both are paths.
    out.push({ op, path: key, value: inner });
  }
  return out;
}

/** Validates a PATCH request (after the vendor quirks) into explicit, path-bearing operations. */
export function parsePatch(kind: ResourceKind, body: unknown, context: QuirkContext): PatchOperation[] {
  if (!isObject(body)) throw badRequest('invalidSyntax', 'a PATCH body must be a PatchOp JSON object');
  const envelope = envelopeSchema.safeParse(normalisePatchRequest(body, context));
  if (!envelope.success) throw badRequest('invalidSyntax', `not a valid PatchOp request: ${envelope.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  if (envelope.data.schemas && !envelope.data.schemas.some((s) => s.toLowerCase() === PATCH_OP_SCHEMA.toLowerCase())) {
    throw badRequest('invalidSyntax', `schemas must include ${PATCH_OP_SCHEMA}`);
  }
  const operations: PatchOperation[] = [];
  envelope.data.Operations.forEach((raw, index) => {
    const parsed = operationSchema.safeParse(raw);
    if (!parsed.success) throw badRequest('invalidSyntax', `Operations[${index}]: op must be add, replace or remove`);
    const { op, path, value } = parsed.data;
    const hasValue = 'value' in raw;
    if (path === undefined || path.trim() === '') {
      if (op === 'remove') throw badRequest('noTarget', `Operations[${index}]: remove needs a path`);
      if (!hasValue) throw badRequest('invalidValue', `Operations[${index}]: ${op} needs a value`);
      operations.push(...expandNoPath(kind, op, value));
      return;
    }
    if (op !== 'remove' && !hasValue) throw badRequest('invalidValue', `Operations[${index}]: ${op} needs a value`);
    operations.push(op === 'remove' ? { op, path, ...(value !== undefined && value !== null ? { value } : {}) } : { op, path, value });
  });
  // null is "unassigned" (RFC 7643 §2.5): setting an attribute to null removes it.
  return operations.map((o) => (o.op !== 'remove' && o.value === null ? { op: 'remove', path: o.path } : o));
}

/** For `attr[filter]` with an eq filter: the entry an add/replace that matches nothing should create. */
function seedFromFilter(filter: Filter): Record<string, unknown> | undefined {
  if (filter.op === 'eq' && 'compValue' in filter && !filter.attrPath.includes('.')) return { [filter.attrPath]: filter.compValue };
  if (filter.op === 'and') {
    const parts = filter.filters.map(seedFromFilter);
    return parts.every(Boolean) ? Object.assign({}, ...parts) : undefined;
  }
  return undefined;
}

function scimPatchError(error: unknown, operation: PatchOperation): ScimError {
  if (error instanceof ScimError) return error;
  const scimCode = (error as { scimCode?: string }).scimCode;
  const detail = `cannot ${operation.op} ${operation.path}: ${(error as Error).message}`;
  if (scimCode === 'noTarget') return badRequest('noTarget', detail);
  return badRequest('invalidValue', detail);
}

/**
 * Applies attribute operations (not members) to a stored resource and returns the new resource; the
 * caller coerces the result against the schema, which rejects what the patch made invalid.
 */
export function applyPatch(kind: ResourceKind, stored: Record<string, unknown>, operations: PatchOperation[]): Record<string, unknown> {
  let resource = structuredClone(stored);
  for (const operation of operations) {
    const path = parsePath(kind, operation.path);
    if (path.wholeExtension) {
      if (operation.op === 'remove') delete resource[path.text];
      else if (isObject(operation.value)) {
        // The value is the extension's object; a `schemas` key in it names schemas, not an attribute (as with no path).
        const entries = Object.entries(operation.value).filter(([k]) => k.toLowerCase() !== 'schemas');
        resource = applyPatch(kind, resource, entries.map(([k, v]) => ({ op: operation.op, path: `${path.text}:${k}`, value: v })));
      } else throw badRequest('invalidValue', `${path.text} needs an object value`);
      continue;
    }
    const name = path.attribute!.name;
    if (operation.op === 'remove' && resource[name] === undefined && !path.extension) continue;
    if (path.filter !== undefined && !path.sub && operation.op !== 'remove') {
      // Entra: an add/replace on a filtered path that matches nothing creates the entry.
      const current = Array.isArray(resource[name]) ? (resource[name] as unknown[]) : [];
      const ast = parseScimFilter(path.filter);
      if (!current.some(matcher(ast))) {
        const seed = seedFromFilter(ast);
        if (!seed || !isObject(operation.value)) throw badRequest('noTarget', `no value of ${name} matches [${path.filter}]`);
        resource[name] = [...current, { ...operation.value, ...seed }];
        continue;
      }
    }
    try {
      resource = scimPatch(resource as unknown as ScimResource, [{ op: operation.op, path: path.text, value: operation.value } as ScimPatchOperation], {
        mutateDocument: true,
        treatMissingAsAdd: true,
      }) as unknown as Record<string, unknown>;
    } catch (error) {
      // Removing what is not there leaves the resource as it is.
      if (operation.op === 'remove' && /not found|mono valued|doesn't exist/i.test((error as Error).message)) continue;
      throw scimPatchError(error, operation);
    }
  }
  return resource;
}

/** Member ids named by a `members[…]` filter: `value eq "id"`, possibly or-ed. */
export function memberIdsFromFilter(filterText: string): string[] {
  const collect = (node: Filter): string[] => {
    if (node.op === 'eq' && node.attrPath.toLowerCase() === 'value' && typeof node.compValue === 'string') return [node.compValue];
    if (node.op === 'or') return node.filters.flatMap(collect);
    throw badRequest('invalidFilter', `members can be selected by value eq "<id>" (or-ed) only: ${filterText}`);
  };
  return collect(parseScimFilter(filterText));
}

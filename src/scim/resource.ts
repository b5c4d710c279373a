import type { GroupMember, GroupWrite, StoredGroup, StoredUser, UserGroupRef, UserWrite } from '../directory/repository';
import { badRequest } from './errors';
import { checkRawBody, checkResource } from './limits';
import {
  COMMON_ATTRIBUTES,
  findAttribute,
  GROUP_KIND,
  USER_KIND,
  type AttributeDef,
  type ResourceKind,
} from './schemas';

/**
 * "Liberal in what is accepted, strict in what is stored": every incoming resource (POST, PUT, the
 * result of a PATCH) is coerced against the schema here. Attribute names match case-insensitively and
 * are stored in their canonical case; explicit nulls and empty lists store nothing; booleans sent as
 * strings become booleans; unknown, read-only and write-only attributes (id, meta, groups, password)
 * are dropped; a value of the wrong type is a 400 invalidValue.
 */

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function coerceScalar(def: AttributeDef, raw: unknown, path: string): unknown {
  switch (def.type) {
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'string' && /^(true|false)$/i.test(raw.trim())) return raw.trim().toLowerCase() === 'true';
      throw badRequest('invalidValue', `${path} must be a boolean`);
    case 'integer':
      if (typeof raw === 'number' && Number.isInteger(raw)) return raw;
      if (typeof raw === 'string' && /^-?\d+$/.test(raw.trim())) return Number(raw.trim());
      throw badRequest('invalidValue', `${path} must be an integer`);
    case 'decimal':
      if (typeof raw === 'number') return raw;
      if (typeof raw === 'string' && raw.trim() !== '' && Number.isFinite(Number(raw))) return Number(raw);
      throw badRequest('invalidValue', `${path} must be a number`);
    case 'dateTime':
      if (typeof raw === 'string' && !Number.isNaN(Date.parse(raw))) return raw;
      throw badRequest('invalidValue', `${path} must be an xsd:dateTime`);
    default:
      if (typeof raw === 'string') return raw;
      if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
      throw badRequest('invalidValue', `${path} must be a string`);
  }
}

function coerceSingle(def: AttributeDef, raw: unknown, path: string): unknown {
  if (raw === null || raw === undefined) return undefined;
  if (def.type !== 'complex') return coerceScalar(def, raw, path);
  if (!isObject(raw)) throw badRequest('invalidValue', `${path} must be an object`);
  const value = coerceAttributes(def.subAttributes ?? [], raw, `${path}.`);
  return Object.keys(value).length > 0 ? value : undefined;
}

function coerceValue(def: AttributeDef, raw: unknown, path: string): unknown {
  if (raw === null || raw === undefined) return undefined;
  if (def.multiValued) {
    const items = (Array.isArray(raw) ? raw : [raw]).map((item, i) => coerceSingle(def, item, `${path}[${i}]`)).filter((v) => v !== undefined);
    // At most one value may be primary (RFC 7643 §2.4): the one set last wins.
    const primaries = items.filter((item) => isObject(item) && item.primary === true) as Json[];
    for (const item of primaries.slice(0, -1)) item.primary = false;
    return items.length > 0 ? items : undefined;
  }
  if (Array.isArray(raw)) {
    if (raw.length === 1) return coerceSingle(def, raw[0], path);
    if (raw.length === 0) return undefined;
    throw badRequest('invalidValue', `${path} is single-valued`);
  }
  return coerceSingle(def, raw, path);
}

function coerceAttributes(defs: AttributeDef[], input: Json, prefix: string): Json {
  const out: Json = {};
  for (const [key, raw] of Object.entries(input)) {
    const def = findAttribute(defs, key);
    if (!def || def.mutability === 'readOnly' || def.mutability === 'writeOnly') continue;
    const value = coerceValue(def, raw, `${prefix}${def.name}`);
    if (value !== undefined) out[def.name] = value;
  }
  return out;
}

/** Coerces a body into the stored form of `kind` (schemas, externalId, attributes, extensions). */
export function coerceResource(kind: ResourceKind, body: unknown): Json {
  if (!isObject(body)) throw badRequest('invalidSyntax', `a ${kind.name} must be a JSON object`);
  checkRawBody(body);
  const core = coerceAttributes(kind.attributes, body, '');
  const externalId = coerceValue(findAttribute(COMMON_ATTRIBUTES, 'externalId')!, findKey(body, 'externalId'), 'externalId');
  const out: Json = { schemas: [kind.schema] };
  if (externalId !== undefined) out.externalId = externalId;
  Object.assign(out, core);
  for (const extension of kind.extensions) {
    const prefix = `${extension.schema.toLowerCase()}:`;
    const merged: Json = {};
    for (const [key, value] of Object.entries(body)) {
      const lower = key.toLowerCase();
      if (lower === extension.schema.toLowerCase() && isObject(value)) Object.assign(merged, value);
      // Some templates flatten the extension: "urn:…:User:department": "x" at the top level.
      else if (lower.startsWith(prefix)) merged[key.slice(prefix.length)] = value;
    }
    const coerced = coerceAttributes(extension.attributes, merged, `${extension.schema}:`);
    if (Object.keys(coerced).length > 0) {
      out[extension.schema] = coerced;
      (out.schemas as string[]).push(extension.schema);
    }
  }
  for (const def of kind.attributes) {
    if (def.required && (out[def.name] === undefined || out[def.name] === '')) {
      throw badRequest('invalidValue', `${def.name} is required`);
    }
  }
  checkResource(kind, out);
  return out;
}

export function findKey(object: Json, name: string): unknown {
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(object)) if (key.toLowerCase() === lower) return value;
  return undefined;
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** The primary email, else the first work email, else the first: what the sync rules call "the" email. */
function primaryEmail(resource: Json): string | null {
  const emails = Array.isArray(resource.emails) ? (resource.emails as Json[]) : [];
  const chosen = emails.find((e) => e.primary === true) ?? emails.find((e) => String(e.type).toLowerCase() === 'work') ?? emails[0];
  return chosen ? str(chosen.value) : null;
}

export function userWrite(resource: Json): UserWrite {
  const name = isObject(resource.name) ? resource.name : {};
  return {
    userName: resource.userName as string,
    externalId: str(resource.externalId),
    displayName: str(resource.displayName),
    givenName: str(name.givenName),
    familyName: str(name.familyName),
    primaryEmail: primaryEmail(resource),
    // RFC 7643 gives active no default; a user pushed without it is taken as active.
    active: resource.active !== false,
    resource,
  };
}

/** Coerces a group body; `members` is returned apart (they are rows, never part of the stored resource). */
export function coerceGroup(body: unknown): { group: GroupWrite; memberIds: string[] | undefined } {
  const resource = coerceResource(GROUP_KIND, body);
  delete resource.members;
  const rawMembers = isObject(body) ? findKey(body, 'members') : undefined;
  return {
    group: { displayName: resource.displayName as string, externalId: str(resource.externalId), resource },
    // Absent (or an explicit null, which stores nothing) leaves the members as they are.
    memberIds: rawMembers === undefined || rawMembers === null ? undefined : memberIdsOf(rawMembers),
  };
}

export function memberIdsOf(members: unknown): string[] {
  const list = Array.isArray(members) ? members : members === null || members === undefined ? [] : [members];
  return list.map((member, i) => {
    const raw = isObject(member) ? findKey(member, 'value') : undefined;
    const value = typeof raw === 'number' ? String(raw) : raw;
    if (typeof value !== 'string' || value === '') throw badRequest('invalidValue', `members[${i}].value must be a user id`);
    return value;
  });
}

export function coerceUser(body: unknown): UserWrite {
  return userWrite(coerceResource(USER_KIND, body));
}

// ---- rendering -------------------------------------------------------------------------------------

export interface RenderContext {
  /** `{app base URL}/scim/v2/{connectionId}` */
  scimBaseUrl: string;
}

export function etagOf(version: number): string {
  return `W/"${version}"`;
}

function meta(resourceType: string, location: string, record: { createdAt: Date; updatedAt: Date; version: number }): Json {
  return {
    resourceType,
    created: record.createdAt.toISOString(),
    lastModified: record.updatedAt.toISOString(),
    location,
    version: etagOf(record.version),
  };
}

/** jsonb keeps keys in its own order; responses list them in schema order, as people read them. */
function inSchemaOrder(kind: ResourceKind, resource: Json): Json {
  const out: Json = {};
  if (resource.externalId !== undefined) out.externalId = resource.externalId;
  for (const def of kind.attributes) if (resource[def.name] !== undefined) out[def.name] = resource[def.name];
  for (const extension of kind.extensions) if (resource[extension.schema] !== undefined) out[extension.schema] = resource[extension.schema];
  return out;
}

export function renderUser(user: StoredUser, ctx: RenderContext, groups?: UserGroupRef[]): Json {
  const { schemas, ...rest } = user.resource;
  const location = `${ctx.scimBaseUrl}/Users/${user.id}`;
  return {
    schemas,
    id: user.id,
    // active is what is stored (the column the sync and the admin pages read), also for a user pushed without it.
    ...inSchemaOrder(USER_KIND, { ...rest, active: user.active }),
    ...(groups && groups.length > 0
      ? { groups: groups.map((g) => ({ value: g.groupId, $ref: `${ctx.scimBaseUrl}/Groups/${g.groupId}`, display: g.displayName, type: 'direct' })) }
      : {}),
    meta: meta('User', location, user),
  };
}

export function renderGroup(group: StoredGroup, ctx: RenderContext, members?: GroupMember[]): Json {
  const { schemas, ...rest } = group.resource;
  return {
    schemas,
    id: group.id,
    ...inSchemaOrder(GROUP_KIND, rest),
    ...(members && members.length > 0
      ? {
          members: members.map((m) => ({
            value: m.userId,
            $ref: `${ctx.scimBaseUrl}/Users/${m.userId}`,
            display: m.displayName ?? m.userName,
            type: 'User',
          })),
        }
      : {}),
    meta: meta('Group', `${ctx.scimBaseUrl}/Groups/${group.id}`, group),
  };
}

// ---- attributes / excludedAttributes (RFC 7644 §3.9) ------------------------------------------------

/** An attribute reference split into canonical names: [extension URN?, attribute, sub-attribute?]. */
export function splitAttributePath(kind: ResourceKind, path: string): string[] {
  let rest = path.trim();
  const lower = rest.toLowerCase();
  let prefix: string[] = [];
  let defs = kind.attributes;
  if (lower.startsWith(`${kind.schema.toLowerCase()}:`)) rest = rest.slice(kind.schema.length + 1);
  else {
    for (const extension of kind.extensions) {
      const urn = extension.schema.toLowerCase();
      if (lower === urn) return [extension.schema];
      if (lower.startsWith(`${urn}:`)) {
        rest = rest.slice(urn.length + 1);
        prefix = [extension.schema];
        defs = extension.attributes;
      }
    }
  }
  const [head = '', sub] = rest.split('.', 2);
  const def = findAttribute(defs, head) ?? findAttribute(COMMON_ATTRIBUTES, head);
  const names = [...prefix, def?.name ?? head];
  if (sub !== undefined) names.push(findAttribute(def?.subAttributes, sub)?.name ?? sub);
  return names;
}

function keyIn(object: Json, name: string): string | undefined {
  const lower = name.toLowerCase();
  return Object.keys(object).find((k) => k.toLowerCase() === lower);
}

function pick(source: Json, target: Json, path: string[]): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  const key = keyIn(source, head);
  if (key === undefined) return;
  const value = source[key];
  if (rest.length === 0) {
    target[key] = value;
    return;
  }
  if (Array.isArray(value)) {
    const existing = (Array.isArray(target[key]) ? target[key] : value.map(() => ({}))) as Json[];
    value.forEach((item, i) => isObject(item) && pick(item, existing[i]!, rest));
    target[key] = existing;
  } else if (isObject(value)) {
    const into = (isObject(target[key]) ? target[key] : {}) as Json;
    pick(value, into, rest);
    target[key] = into;
  }
}

function drop(target: Json, path: string[]): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  const key = keyIn(target, head);
  if (key === undefined) return;
  if (rest.length === 0) {
    delete target[key];
    return;
  }
  const value = target[key];
  if (Array.isArray(value)) value.forEach((item) => isObject(item) && drop(item, rest));
  else if (isObject(value)) drop(value, rest);
}

export interface Projection {
  attributes?: string[][];
  excluded?: string[][];
}

export function parseProjection(kind: ResourceKind, attributes: unknown, excluded: unknown): Projection {
  const list = (value: unknown) =>
    typeof value === 'string' && value.trim() !== ''
      ? value.split(',').map((p) => p.trim()).filter(Boolean).map((p) => splitAttributePath(kind, p))
      : undefined;
  return { attributes: list(attributes), excluded: list(excluded) };
}

/** Whether a projection returns the given top-level attribute (used to skip loading members/groups). */
export function projectionIncludes(projection: Projection, name: string): boolean {
  const lower = name.toLowerCase();
  if (projection.attributes) return projection.attributes.some((p) => p[0]?.toLowerCase() === lower);
  if (projection.excluded) return !projection.excluded.some((p) => p.length === 1 && p[0]?.toLowerCase() === lower);
  return true;
}

/** Applies attributes / excludedAttributes; id, schemas and meta are always returned. */
export function project(resource: Json, projection: Projection): Json {
  if (projection.attributes) {
    const out: Json = { schemas: resource.schemas, id: resource.id };
    for (const path of projection.attributes) pick(resource, out, path);
    out.meta = resource.meta;
    return out;
  }
  if (projection.excluded) {
    const out = structuredClone(resource);
    for (const path of projection.excluded) {
      if (path.length === 1 && ['id', 'schemas', 'meta'].includes(path[0]!.toLowerCase())) continue;
      drop(out, path);
    }
    return out;
  }
  return resource;
}

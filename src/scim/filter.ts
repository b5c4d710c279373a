import { parse, type Filter } from 'scim2-parse-filter';
import { isUuid, SqlParams, type SqlCondition } from '../directory/sql';
import { badRequest } from './errors';
import { findAttribute, GROUP_KIND, type AttributeDef, type AttributeType, type ResourceKind, USER_KIND } from './schemas';

/**
 * SCIM filter → parameterised SQL over directory_users (alias `u`) or directory_groups (alias `g`).
 * scim2-parse-filter gives the AST; this file maps each attribute to an indexed column where there is
 * one (lower(user_name) for userName, external_id, display_name, active, created_at…), to the stored
 * jsonb resource otherwise, and multi-valued attributes to EXISTS over their elements (or over the
 * membership rows for members / groups). Values always travel as parameters; only names taken from the
 * schema are written into the SQL text.
 *
 * Comparisons stay bare (`lower(u.user_name) = lower($2)`) so the planner can use the expression
 * indexes; a NULL (missing attribute) simply does not match. Only under NOT/ne is the operand wrapped
 * in COALESCE(…, false), so that NOT behaves as in the RFC rather than as SQL's three-valued logic.
 */

type ColumnType = AttributeType | 'uuid';

interface Column {
  sql: string;
  type: ColumnType;
  caseExact: boolean;
}

/** A multi-valued attribute: its elements are rows of a sub-select. */
interface MultiSource {
  exists(condition: string): string;
  sub(name: string): Column | undefined;
  /** The sub-attribute a bare reference means (`emails eq "x"` = `emails.value eq "x"`). */
  defaultSub: string;
}

interface Scope {
  kind: ResourceKind;
  alias: string;
  params: SqlParams;
  nextAlias: () => string;
}

const lit = (text: string) => `'${text.replace(/'/g, "''")}'`;

// Maps, not object literals: attribute paths come from the client, and `__proto__`, `constructor` or
// `toString` must name nothing rather than something inherited from Object.prototype.
const USER_COLUMNS = new Map<string, Column>(Object.entries({
  id: { sql: 'id', type: 'uuid', caseExact: true },
  externalid: { sql: 'external_id', type: 'string', caseExact: true },
  username: { sql: 'user_name', type: 'string', caseExact: false },
  displayname: { sql: 'display_name', type: 'string', caseExact: false },
  'name.givenname': { sql: 'given_name', type: 'string', caseExact: false },
  'name.familyname': { sql: 'family_name', type: 'string', caseExact: false },
  active: { sql: 'active', type: 'boolean', caseExact: false },
  'meta.created': { sql: 'created_at', type: 'dateTime', caseExact: false },
  'meta.lastmodified': { sql: 'updated_at', type: 'dateTime', caseExact: false },
} satisfies Record<string, Column>));

const GROUP_COLUMNS = new Map<string, Column>(Object.entries({
  id: { sql: 'id', type: 'uuid', caseExact: true },
  externalid: { sql: 'external_id', type: 'string', caseExact: true },
  displayname: { sql: 'display_name', type: 'string', caseExact: false },
  'meta.created': { sql: 'created_at', type: 'dateTime', caseExact: false },
  'meta.lastmodified': { sql: 'updated_at', type: 'dateTime', caseExact: false },
} satisfies Record<string, Column>));

function jsonColumn(expression: string, def: AttributeDef): Column {
  // Stored resources are coerced against the schema, so a boolean's text is always 'true' or 'false'.
  if (def.type === 'boolean') return { sql: `(${expression})::boolean`, type: 'boolean', caseExact: false };
  return { sql: `(${expression})`, type: def.type, caseExact: def.caseExact };
}

/** `resource -> 'a' ->> 'b'` for a path of names taken from the schema. */
function jsonText(base: string, names: string[]): string {
  return names.map((n, i) => `${i === names.length - 1 ? '->>' : '->'} ${lit(n)}`).reduce((acc, part) => `${acc} ${part}`, base);
}

function jsonArraySource(scope: Scope, base: string, names: string[], def: AttributeDef): MultiSource {
  const array = names.map((n) => `-> ${lit(n)}`).reduce((acc, part) => `${acc} ${part}`, base);
  const e = scope.nextAlias();
  return {
    defaultSub: 'value',
    exists: (condition) =>
      `EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${array}) = 'array' THEN ${array} ELSE '[]'::jsonb END) AS ${e}(v) WHERE ${condition})`,
    sub(name) {
      const subDef = findAttribute(def.subAttributes, name);
      if (!subDef) return undefined;
      if (subDef.type === 'boolean') {
        return { sql: `(CASE WHEN jsonb_typeof(${e}.v -> ${lit(subDef.name)}) = 'boolean' THEN (${e}.v ->> ${lit(subDef.name)})::boolean END)`, type: 'boolean', caseExact: false };
      }
      return { sql: `(${e}.v ->> ${lit(subDef.name)})`, type: subDef.type, caseExact: subDef.caseExact };
    },
  };
}

/** Group members (kind Group) or a user's groups (kind User): the membership rows. */
function membershipSource(scope: Scope): MultiSource {
  const m = scope.nextAlias();
  const isGroup = scope.kind.name === 'Group';
  const own = isGroup ? 'group_id' : 'user_id';
  const other = isGroup ? 'user_id' : 'group_id';
  return {
    defaultSub: 'value',
    exists: (condition) => `EXISTS (SELECT 1 FROM directory_memberships ${m} WHERE ${m}.${own} = ${scope.alias}.id AND ${condition})`,
    sub: (name) => (name.toLowerCase() === 'value' ? { sql: `${m}.${other}`, type: 'uuid', caseExact: true } : undefined),
  };
}

type Resolved = { column: Column } | { multi: MultiSource; sub?: string };

function unknownAttribute(path: string): never {
  throw badRequest('invalidFilter', `the filter names an attribute this server does not support: ${path}`);
}

/** Maps an attribute path of the filter to a column or a multi-valued source. */
function resolve(scope: Scope, attrPath: string): Resolved {
  const { kind, alias } = scope;
  let path = attrPath;
  let defs = kind.attributes;
  let jsonBase = `${alias}.resource`;
  const lower = path.toLowerCase();
  if (lower.startsWith(`${kind.schema.toLowerCase()}:`)) path = path.slice(kind.schema.length + 1);
  else {
    const extension = kind.extensions.find((x) => lower.startsWith(`${x.schema.toLowerCase()}:`));
    if (extension) {
      path = path.slice(extension.schema.length + 1);
      defs = extension.attributes;
      jsonBase = `${alias}.resource -> ${lit(extension.schema)}`;
    } else if (lower.startsWith('urn:')) unknownAttribute(attrPath);
  }
  const [head = '', sub, ...tooDeep] = path.split('.');
  if (tooDeep.length > 0) unknownAttribute(attrPath);

  if (defs === kind.attributes) {
    const known = (kind === USER_KIND ? USER_COLUMNS : GROUP_COLUMNS).get(path.toLowerCase());
    if (known) return { column: { ...known, sql: `${alias}.${known.sql}` } };
    const relation = kind === USER_KIND ? 'groups' : 'members';
    if (head.toLowerCase() === relation) return { multi: membershipSource(scope), sub };
  }
  const def = findAttribute(defs, head);
  if (!def || def.mutability === 'writeOnly') unknownAttribute(attrPath);
  if (def.multiValued) return { multi: jsonArraySource(scope, jsonBase, [def.name], def), sub };
  if (def.type === 'complex') {
    const subDef = sub === undefined ? findAttribute(def.subAttributes, 'value') : findAttribute(def.subAttributes, sub);
    if (!subDef) unknownAttribute(attrPath);
    return { column: jsonColumn(jsonText(jsonBase, [def.name, subDef.name]), subDef) };
  }
  if (sub !== undefined) unknownAttribute(attrPath);
  return { column: jsonColumn(jsonText(jsonBase, [def.name]), def) };
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

const COMPARISONS = new Map(Object.entries({ eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' }));

/** One comparison on one column, never NULL. */
function compare(column: Column, op: string, value: unknown, params: SqlParams, attrPath: string): string {
  if (op === 'pr') {
    return column.type === 'string' || column.type === 'reference' || column.type === 'binary'
      ? `(${column.sql} <> '')`
      : `(${column.sql} IS NOT NULL)`;
  }
  if (value === null) {
    if (op === 'eq') return `(${column.sql} IS NULL)`;
    if (op === 'ne') return `(${column.sql} IS NOT NULL)`;
    throw badRequest('invalidFilter', `${op} null is not a valid comparison (${attrPath})`);
  }
  const sqlOp = COMPARISONS.get(op);
  const wrap = (sql: string) => `(${sql})`;
  const negateNe = (sql: string) => (op === 'ne' ? `NOT COALESCE(${sql}, false)` : wrap(sql));

  switch (column.type) {
    case 'boolean': {
      const bool = typeof value === 'boolean' ? value : typeof value === 'string' && /^(true|false)$/i.test(value) ? value.toLowerCase() === 'true' : undefined;
      if (bool === undefined || (op !== 'eq' && op !== 'ne')) {
        throw badRequest('invalidFilter', `${attrPath} is a boolean: only eq, ne and pr apply, with true or false`);
      }
      return negateNe(`${column.sql} = ${params.add(bool)}`);
    }
    case 'uuid': {
      if (op === 'eq' || op === 'ne') {
        // A value that is not a uuid names no row (and must not reach a ::uuid cast).
        if (!isUuid(value)) return op === 'eq' ? 'false' : 'true';
        return negateNe(`${column.sql} = ${params.add(value)}::uuid`);
      }
      return textCompare({ ...column, sql: `${column.sql}::text` }, op, String(value), params, sqlOp, wrap);
    }
    case 'dateTime': {
      if (!sqlOp || typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
        throw badRequest('invalidFilter', `${attrPath} is a dateTime: use eq, ne, gt, ge, lt or le with an xsd:dateTime`);
      }
      return negateNe(`${column.sql} ${sqlOp === '<>' ? '=' : sqlOp} ${params.add(value)}::timestamptz`);
    }
    case 'integer':
    case 'decimal': {
      if (!sqlOp || typeof value !== 'number') throw badRequest('invalidFilter', `${attrPath} is a number`);
      return negateNe(`(${column.sql})::numeric ${sqlOp === '<>' ? '=' : sqlOp} ${params.add(value)}`);
    }
    default:
      if (typeof value === 'boolean' && (op === 'eq' || op === 'ne')) {
        return negateNe(`${column.sql} = ${params.add(String(value))}`);
      }
      return textCompare(column, op, String(value), params, sqlOp, wrap);
  }
}

function textCompare(column: Column, op: string, value: string, params: SqlParams, sqlOp: string | undefined, wrap: (s: string) => string): string {
  const fold = (sql: string) => (column.caseExact ? sql : `lower(${sql})`);
  const left = fold(column.sql);
  switch (op) {
    case 'eq':
      return wrap(`${left} = ${fold(params.add(value))}`);
    case 'ne':
      return `NOT COALESCE(${left} = ${fold(params.add(value))}, false)`;
    case 'co':
      return wrap(`${left} LIKE ${fold(params.add(`%${escapeLike(value)}%`))} ESCAPE '\\'`);
    case 'sw':
      return wrap(`${left} LIKE ${fold(params.add(`${escapeLike(value)}%`))} ESCAPE '\\'`);
    case 'ew':
      return wrap(`${left} LIKE ${fold(params.add(`%${escapeLike(value)}`))} ESCAPE '\\'`);
    default:
      if (!sqlOp) throw badRequest('invalidFilter', `unsupported operator ${op}`);
      return wrap(`${left} ${sqlOp} ${fold(params.add(value))} COLLATE "C"`);
  }
}

function compileNode(scope: Scope, node: Filter, mergedValuePaths: boolean, element?: MultiSource): string {
  switch (node.op) {
    case 'and':
    case 'or': {
      const [first, second] = node.filters;
      // `emails[type eq "work"].value eq "x"` arrives as and([valuePath, emails.value eq x]): one element must match both.
      if (mergedValuePaths && !element && node.op === 'and' && node.filters.length === 2 && first?.op === '[]' && second && 'attrPath' in second && second.op !== '[]' && second.attrPath.toLowerCase().startsWith(`${first.attrPath.toLowerCase()}.`)) {
        const resolved = resolve(scope, first.attrPath);
        if (!('multi' in resolved)) throw badRequest('invalidFilter', `${first.attrPath} is not multi-valued`);
        const subName = second.attrPath.slice(first.attrPath.length + 1);
        const column = resolved.multi.sub(subName) ?? unknownAttribute(second.attrPath);
        const compValue = 'compValue' in second ? second.compValue : undefined;
        return resolved.multi.exists(`${compileNode(scope, first.valFilter, false, resolved.multi)} AND ${compare(column, second.op, compValue, scope.params, second.attrPath)}`);
      }
      return `(${node.filters.map((f) => compileNode(scope, f, mergedValuePaths, element)).join(node.op === 'and' ? ' AND ' : ' OR ')})`;
    }
    case 'not':
      return `(NOT COALESCE(${compileNode(scope, node.filter, mergedValuePaths, element)}, false))`;
    case '[]': {
      if (element) throw badRequest('invalidFilter', 'value paths cannot be nested');
      const resolved = resolve(scope, node.attrPath);
      if (!('multi' in resolved) || resolved.sub !== undefined) throw badRequest('invalidFilter', `${node.attrPath} is not a multi-valued attribute`);
      return resolved.multi.exists(compileNode(scope, node.valFilter, false, resolved.multi));
    }
    default: {
      const compValue = 'compValue' in node ? node.compValue : undefined;
      if (element) {
        const column = element.sub(node.attrPath) ?? unknownAttribute(node.attrPath);
        return compare(column, node.op, compValue, scope.params, node.attrPath);
      }
      const resolved = resolve(scope, node.attrPath);
      if ('column' in resolved) return compare(resolved.column, node.op, compValue, scope.params, node.attrPath);
      const column = resolved.multi.sub(resolved.sub ?? resolved.multi.defaultSub) ?? unknownAttribute(node.attrPath);
      return resolved.multi.exists(compare(column, node.op, compValue, scope.params, node.attrPath));
    }
  }
}

/** Parses a SCIM filter; a syntax error is a 400 invalidFilter. */
export function parseFilter(text: string): Filter {
  try {
    return parse(text);
  } catch (error) {
    throw badRequest('invalidFilter', `the filter is not valid: ${(error as Error).message}`);
  }
}

/** `filter` → a condition over alias `u` (users) or `g` (groups). Throws a 400 invalidFilter ScimError. */
export function filterToSql(kind: ResourceKind, text: string): SqlCondition {
  const ast = parseFilter(text);
  // The parser turns `a[x].b op v` into and([a[x], a.b op v]); only the text tells it from an explicit `and`.
  const mergedValuePaths = /\]\.\w/.test(text.replace(/"(?:[^"\\]|\\.)*"/g, '""'));
  const condition = (params: SqlParams) => {
    let n = 0;
    const scope: Scope = { kind, alias: kind.name === 'User' ? 'u' : 'g', params, nextAlias: () => `x${++n}` };
    return compileNode(scope, ast, mergedValuePaths);
  };
  return Object.assign(condition, { atMostOne: pinsUniqueKey(kind, ast) });
}

// Columns with a unique index per connection (migrations/002_directory.sql), as filterToSql names them.
const UNIQUE_COLUMNS = new Map([[USER_KIND.name, new Set(['id', 'user_name'])], [GROUP_KIND.name, new Set(['id', 'display_name'])]]);

/**
 * Whether `ast` is `<unique key> eq "<value>"`: the lookup every IdP sends before it creates someone
 * (`userName eq`, `displayName eq`), which matches at most one row.
 */
function pinsUniqueKey(kind: ResourceKind, ast: Filter): boolean {
  if (ast.op !== 'eq' || !('attrPath' in ast) || typeof ast.compValue !== 'string') return false;
  const scope: Scope = { kind, alias: '', params: new SqlParams(), nextAlias: () => 'x' };
  try {
    const resolved = resolve(scope, ast.attrPath);
    return 'column' in resolved && (UNIQUE_COLUMNS.get(kind.name)?.has(resolved.column.sql.replace(/^\./, '')) ?? false);
  } catch {
    return false;
  }
}

/** `sortBy` → an ORDER BY term over the same alias (RFC 7644 §3.4.2.3); multi-valued sorts by the primary value. */
export function sortToSql(kind: ResourceKind, sortBy: string, sortOrder: string | undefined): SqlCondition {
  const descending = sortOrder !== undefined && sortOrder.toLowerCase() === 'descending';
  if (sortOrder !== undefined && !/^(a|de)scending$/i.test(sortOrder)) throw badRequest('invalidValue', 'sortOrder must be ascending or descending');
  return (params) => {
    let n = 0;
    const scope: Scope = { kind, alias: kind.name === 'User' ? 'u' : 'g', params, nextAlias: () => `s${++n}` };
    let resolved: Resolved;
    try {
      resolved = resolve(scope, sortBy);
    } catch {
      throw badRequest('invalidValue', `cannot sort by ${sortBy}`);
    }
    let expression: string;
    if ('column' in resolved) {
      expression = resolved.column.caseExact || resolved.column.type !== 'string' ? resolved.column.sql : `lower(${resolved.column.sql})`;
    } else if (kind === USER_KIND && sortBy.toLowerCase().replace(/\.value$/, '') === 'emails') {
      expression = 'lower(u.primary_email)';
    } else {
      throw badRequest('invalidValue', `cannot sort by ${sortBy}`);
    }
    return `${expression} ${descending ? 'DESC NULLS LAST' : 'ASC NULLS LAST'}`;
  };
}

/**
 * Positional parameters for SQL assembled in pieces (a filter translated elsewhere, then wrapped in a
 * query here): each piece adds its values and gets back the `$n` to write into its text.
 */
export class SqlParams {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * Produces a boolean SQL expression over the table alias the caller documents, adding its values to
 * `params`. `atMostOne` says the condition pins a unique key (a userName, a group's displayName, an
 * id), so no more than one row can match.
 */
export type SqlCondition = ((params: SqlParams) => string) & { readonly atMostOne?: boolean };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are uuids; anything else can name no row (and must not reach a ::uuid cast). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

import type { z } from 'zod';

/**
 * The admin API validates every body and query with the same zod schemas the services use, and answers a
 * failure as `{ error: 'validation', message, fields: { 'path.to.field': 'message' } }`: the pages render each
 * message next to the field whose `name` is that path, so the form and the API can never disagree.
 */
export class ValidationError extends Error {
  constructor(
    readonly fields: Record<string, string>,
    message = 'Some fields are not valid',
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

/** One message per field (the first zod reports), keyed by the dotted path; '' is the form as a whole. */
export function fieldsFromIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of issues) {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
    if (!(path in fields)) fields[path] = issue.message;
  }
  return fields;
}

export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ValidationError(fieldsFromIssues(parsed.error.issues, prefix));
  return parsed.data;
}

/** A problem-string list as other modules report it ("path: message") turned into fields. */
export function fieldsFromProblems(problems: readonly string[], prefix = ''): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const problem of problems) {
    const match = /^([^:\s]*): (.*)$/s.exec(problem);
    const path = [prefix, match && match[1] !== '(config)' && match[1] !== '(settings)' ? match[1] : ''].filter(Boolean).join('.');
    if (!(path in fields)) fields[path] = match ? match[2]! : problem;
  }
  return fields;
}

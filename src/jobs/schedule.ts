import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';

/**
 * A connection's sync schedule (stored in connections.schedule). Pure: no I/O, no clock of its own.
 *
 * Every preset is turned into a cron expression and evaluated by cron-parser in the schedule's IANA time
 * zone, so DST behaves the same for presets and custom expressions: a local time that does not exist on
 * the spring-forward day runs an hour later that day, and a local time that occurs twice on the fall-back
 * day runs once (its first occurrence).
 */

const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;

function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

const timeZone = z
  .string()
  .min(1, 'timeZone is required (an IANA name such as "Europe/Berlin" or "UTC")')
  .refine(isTimeZone, {
    error: (issue) => `"${String(issue.input)}" is not a known IANA time zone (for example "Europe/Berlin", "America/New_York", "UTC")`,
  });

const timeOfDay = z.string().regex(HH_MM, 'time must be HH:MM on a 24-hour clock, for example "02:30" or "18:00"');

const minute = z.number().int().min(0, 'minute must be 0-59').max(59, 'minute must be 0-59');

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** Divisors of 24, so "every N hours" is evenly spaced across midnight too. */
const HOUR_STEPS = [1, 2, 3, 4, 6, 8, 12] as const;

export const scheduleSchema = z.discriminatedUnion(
  'kind',
  [
    z.object({ kind: z.literal('hourly'), minute: minute.default(0), timeZone }).strict(),
    z
      .object({
        kind: z.literal('everyNHours'),
        hours: z
          .number()
          .int()
          .refine((n) => (HOUR_STEPS as readonly number[]).includes(n), {
            message: `hours must divide 24 evenly (one of ${HOUR_STEPS.join(', ')}) so runs stay evenly spaced across midnight`,
          }),
        minute: minute.default(0),
        timeZone,
      })
      .strict(),
    z.object({ kind: z.literal('daily'), time: timeOfDay, timeZone }).strict(),
    z
      .object({
        kind: z.literal('twiceDaily'),
        times: z
          .tuple([timeOfDay, timeOfDay])
          .refine(([a, b]) => a !== b, { message: 'twiceDaily needs two different times' }),
        timeZone,
      })
      .strict(),
    z.object({ kind: z.literal('weekly'), day: z.enum(WEEKDAYS, { message: `day must be one of ${WEEKDAYS.join(', ')}` }), time: timeOfDay, timeZone }).strict(),
    z.object({ kind: z.literal('cron'), expression: z.string().trim().min(1, 'expression is required'), timeZone }).strict(),
  ],
  { error: () => 'kind must be one of hourly, everyNHours, daily, twiceDaily, weekly, cron' },
);

export type Schedule = z.output<typeof scheduleSchema>;
export type ScheduleInput = z.input<typeof scheduleSchema>;

export interface ScheduleOptions {
  /**
   * Accept six-field cron expressions (a leading seconds field). Off in production: a full sync every few
   * seconds is never what an admin wants; tests use it to run many schedule slots quickly.
   */
  allowSeconds?: boolean;
}

export class ScheduleError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid schedule: ${problems.join('; ')}`);
    this.name = 'ScheduleError';
  }
}

function hm(time: string): { hour: number; minute: number } {
  const match = HH_MM.exec(time)!;
  return { hour: Number(match[1]), minute: Number(match[2]) };
}

/** The schedule as a six-field cron expression (seconds first), the form cron-parser evaluates. */
export function toCron(schedule: Schedule): string {
  switch (schedule.kind) {
    case 'hourly':
      return `0 ${schedule.minute} * * * *`;
    case 'everyNHours':
      return `0 ${schedule.minute} */${schedule.hours} * * *`;
    case 'daily': {
      const t = hm(schedule.time);
      return `0 ${t.minute} ${t.hour} * * *`;
    }
    case 'twiceDaily': {
      const [a, b] = schedule.times.map(hm) as [ReturnType<typeof hm>, ReturnType<typeof hm>];
      // One expression only fits when both times share the minute; otherwise evaluate two and merge.
      return a.minute === b.minute ? `0 ${a.minute} ${a.hour},${b.hour} * * *` : `0 ${a.minute} ${a.hour} * * *|0 ${b.minute} ${b.hour} * * *`;
    }
    case 'weekly': {
      const t = hm(schedule.time);
      return `0 ${t.minute} ${t.hour} * * ${WEEKDAYS.indexOf(schedule.day)}`;
    }
    case 'cron': {
      const fields = schedule.expression.split(/\s+/);
      return fields.length === 5 ? `0 ${fields.join(' ')}` : fields.join(' ');
    }
  }
}

function checkCron(expression: string, timeZoneName: string, options: ScheduleOptions): string | null {
  const fields = expression.trim().split(/\s+/);
  const allowed = options.allowSeconds ? [5, 6] : [5];
  if (!allowed.includes(fields.length)) {
    return options.allowSeconds
      ? `expression must have 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first; got ${fields.length}`
      : `expression must have 5 fields (minute hour day-of-month month day-of-week); got ${fields.length}`;
  }
  try {
    const parsed = CronExpressionParser.parse(fields.length === 5 ? `0 ${expression.trim()}` : expression.trim(), {
      tz: timeZoneName,
      currentDate: new Date(0),
    });
    parsed.next();
    return null;
  } catch (error) {
    return `expression "${expression}" is not valid cron: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Validates untrusted input (an admin's form, a stored row) into a Schedule; throws ScheduleError naming every problem. */
export function parseSchedule(input: unknown, options: ScheduleOptions = {}): Schedule {
  const parsed = scheduleSchema.safeParse(input);
  if (!parsed.success) {
    throw new ScheduleError(parsed.error.issues.map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message)));
  }
  if (parsed.data.kind === 'cron') {
    const problem = checkCron(parsed.data.expression, parsed.data.timeZone, options);
    if (problem) throw new ScheduleError([`expression: ${problem}`]);
  }
  return parsed.data;
}

function iterate(expression: string, tz: string, from: Date): ReturnType<typeof CronExpressionParser.parse> {
  return CronExpressionParser.parse(expression, { currentDate: from, tz });
}

/** The next `count` run times strictly after `from`, in order. */
export function nextRuns(schedule: Schedule, from: Date, count: number): Date[] {
  const runs: Date[] = [];
  for (const expression of toCron(schedule).split('|')) {
    for (const date of iterate(expression, schedule.timeZone, from).take(count)) runs.push(date.toDate());
  }
  return runs.sort((a, b) => a.getTime() - b.getTime()).slice(0, count);
}

/** The latest run time at or before `at` (the slot a scheduler tick at `at` is due to fire), or null. */
export function latestSlot(schedule: Schedule, at: Date): Date | null {
  let latest: Date | null = null;
  // prev() is strictly before its start, so start 1 ms later to include a slot exactly at `at`.
  const from = new Date(at.getTime() + 1);
  for (const expression of toCron(schedule).split('|')) {
    try {
      const slot = iterate(expression, schedule.timeZone, from).prev().toDate();
      if (!latest || slot > latest) latest = slot;
    } catch {
      // No earlier occurrence within cron-parser's search range: nothing is due from this expression.
    }
  }
  return latest;
}

/** A short English description for the admin UI, e.g. "daily at 02:30 (Europe/Berlin)". */
export function describeSchedule(schedule: Schedule): string {
  const zone = `(${schedule.timeZone})`;
  const mm = (m: number) => String(m).padStart(2, '0');
  switch (schedule.kind) {
    case 'hourly':
      return `hourly at minute ${mm(schedule.minute)} ${zone}`;
    case 'everyNHours':
      return `every ${schedule.hours} hours at minute ${mm(schedule.minute)} ${zone}`;
    case 'daily':
      return `daily at ${schedule.time} ${zone}`;
    case 'twiceDaily':
      return `twice daily at ${schedule.times[0]} and ${schedule.times[1]} ${zone}`;
    case 'weekly':
      return `weekly on ${schedule.day} at ${schedule.time} ${zone}`;
    case 'cron':
      return `cron "${schedule.expression}" ${zone}`;
  }
}

import { describeSchedule, latestSlot, nextRuns, parseSchedule, ScheduleError, toCron } from '../../src/jobs/schedule';

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());

function problems(input: unknown, options = {}): string[] {
  try {
    parseSchedule(input, options);
  } catch (error) {
    if (error instanceof ScheduleError) return error.problems;
    throw error;
  }
  throw new Error('expected a ScheduleError');
}

describe('schedule presets', () => {
  const from = new Date('2025-01-15T10:20:00Z');

  test('hourly at a minute', () => {
    const s = parseSchedule({ kind: 'hourly', minute: 15, timeZone: 'UTC' });
    expect(iso(nextRuns(s, from, 3))).toEqual(['2025-01-15T11:15:00.000Z', '2025-01-15T12:15:00.000Z', '2025-01-15T13:15:00.000Z']);
  });

  test('hourly defaults to minute 0', () => {
    expect(parseSchedule({ kind: 'hourly', timeZone: 'UTC' })).toEqual({ kind: 'hourly', minute: 0, timeZone: 'UTC' });
  });

  test('every N hours is aligned to local midnight', () => {
    const s = parseSchedule({ kind: 'everyNHours', hours: 6, minute: 0, timeZone: 'Asia/Kolkata' });
    // Kolkata is UTC+05:30: local 18:00, 00:00, 06:00
    expect(iso(nextRuns(s, from, 3))).toEqual(['2025-01-15T12:30:00.000Z', '2025-01-15T18:30:00.000Z', '2025-01-16T00:30:00.000Z']);
  });

  test('daily at a local time', () => {
    const s = parseSchedule({ kind: 'daily', time: '02:30', timeZone: 'America/New_York' });
    expect(iso(nextRuns(s, from, 2))).toEqual(['2025-01-16T07:30:00.000Z', '2025-01-17T07:30:00.000Z']);
  });

  test('twice daily with different minutes merges both times in order', () => {
    const s = parseSchedule({ kind: 'twiceDaily', times: ['18:45', '06:00'], timeZone: 'UTC' });
    expect(toCron(s)).toContain('|');
    expect(iso(nextRuns(s, from, 4))).toEqual([
      '2025-01-15T18:45:00.000Z',
      '2025-01-16T06:00:00.000Z',
      '2025-01-16T18:45:00.000Z',
      '2025-01-17T06:00:00.000Z',
    ]);
  });

  test('weekly on a day at a time', () => {
    const s = parseSchedule({ kind: 'weekly', day: 'mon', time: '09:00', timeZone: 'Europe/London' });
    // 2025-01-15 is a Wednesday
    expect(iso(nextRuns(s, from, 2))).toEqual(['2025-01-20T09:00:00.000Z', '2025-01-27T09:00:00.000Z']);
  });

  test('five-field cron in a time zone', () => {
    const s = parseSchedule({ kind: 'cron', expression: '0 22 * * 1-5', timeZone: 'Australia/Sydney' });
    // Sydney is UTC+11 in January: `from` is Wed 21:20 local; Wed, Thu, Fri 22:00 local, then Monday
    expect(iso(nextRuns(s, from, 4))).toEqual([
      '2025-01-15T11:00:00.000Z',
      '2025-01-16T11:00:00.000Z',
      '2025-01-17T11:00:00.000Z',
      '2025-01-20T11:00:00.000Z',
    ]);
  });

  test('descriptions name the time zone', () => {
    expect(describeSchedule(parseSchedule({ kind: 'daily', time: '02:30', timeZone: 'Europe/Berlin' }))).toBe('daily at 02:30 (Europe/Berlin)');
    expect(describeSchedule(parseSchedule({ kind: 'twiceDaily', times: ['06:00', '18:00'], timeZone: 'UTC' }))).toBe('twice daily at 06:00 and 18:00 (UTC)');
  });
});

describe('daylight saving time', () => {
  const berlinDaily = parseSchedule({ kind: 'daily', time: '02:30', timeZone: 'Europe/Berlin' });

  test('a local time skipped by spring-forward runs once that day, an hour later', () => {
    // 2025-03-30: clocks jump 02:00 → 03:00 in Berlin
    expect(iso(nextRuns(berlinDaily, new Date('2025-03-29T00:00:00Z'), 3))).toEqual([
      '2025-03-29T01:30:00.000Z', // 02:30 CET
      '2025-03-30T01:30:00.000Z', // 03:30 CEST (02:30 does not exist)
      '2025-03-31T00:30:00.000Z', // 02:30 CEST
    ]);
  });

  test('a local time repeated by fall-back runs once', () => {
    // 2025-10-26: clocks go 03:00 → 02:00, so 02:30 happens twice
    const runs = nextRuns(berlinDaily, new Date('2025-10-25T12:00:00Z'), 3);
    expect(iso(runs)).toEqual(['2025-10-26T00:30:00.000Z', '2025-10-27T01:30:00.000Z', '2025-10-28T01:30:00.000Z']);
  });
});

describe('latestSlot', () => {
  const hourly = parseSchedule({ kind: 'hourly', minute: 0, timeZone: 'UTC' });

  test('includes a slot exactly at the given time', () => {
    expect(latestSlot(hourly, new Date('2025-01-01T10:00:00Z'))?.toISOString()).toBe('2025-01-01T10:00:00.000Z');
  });

  test('is the most recent slot before the given time', () => {
    expect(latestSlot(hourly, new Date('2025-01-01T10:59:59Z'))?.toISOString()).toBe('2025-01-01T10:00:00.000Z');
  });

  test('takes the later of the two twice-daily times', () => {
    const s = parseSchedule({ kind: 'twiceDaily', times: ['06:10', '18:45'], timeZone: 'UTC' });
    expect(latestSlot(s, new Date('2025-01-01T20:00:00Z'))?.toISOString()).toBe('2025-01-01T18:45:00.000Z');
    expect(latestSlot(s, new Date('2025-01-01T07:00:00Z'))?.toISOString()).toBe('2025-01-01T06:10:00.000Z');
  });
});

describe('validation', () => {
  test('unknown kind', () => {
    expect(problems({ kind: 'fortnightly', timeZone: 'UTC' })).toEqual(['kind: kind must be one of hourly, everyNHours, daily, twiceDaily, weekly, cron']);
  });

  test('unknown time zone names the value', () => {
    expect(problems({ kind: 'daily', time: '02:00', timeZone: 'Mars/Olympus' })).toEqual([
      'timeZone: "Mars/Olympus" is not a known IANA time zone (for example "Europe/Berlin", "America/New_York", "UTC")',
    ]);
  });

  test('bad times and every-N-hours that do not divide 24', () => {
    expect(problems({ kind: 'daily', time: '24:00', timeZone: 'UTC' })).toEqual(['time: time must be HH:MM on a 24-hour clock, for example "02:30" or "18:00"']);
    expect(problems({ kind: 'everyNHours', hours: 5, timeZone: 'UTC' })[0]).toMatch(/^hours: hours must divide 24 evenly/);
    expect(problems({ kind: 'twiceDaily', times: ['06:00', '06:00'], timeZone: 'UTC' })).toEqual(['times: twiceDaily needs two different times']);
    expect(problems({ kind: 'weekly', day: 'funday', time: '06:00', timeZone: 'UTC' })[0]).toMatch(/^day: day must be one of sun, mon/);
  });

  test('cron expressions: field count and field ranges', () => {
    expect(problems({ kind: 'cron', expression: '* * *', timeZone: 'UTC' })).toEqual([
      'expression: expression must have 5 fields (minute hour day-of-month month day-of-week); got 3',
    ]);
    expect(problems({ kind: 'cron', expression: '61 * * * *', timeZone: 'UTC' })[0]).toMatch(/^expression: expression "61 \* \* \* \*" is not valid cron: .*0-59/);
  });

  test('seconds-level cron only when allowed', () => {
    const input = { kind: 'cron', expression: '*/3 * * * * *', timeZone: 'UTC' };
    expect(problems(input)[0]).toMatch(/must have 5 fields/);
    const s = parseSchedule(input, { allowSeconds: true });
    expect(iso(nextRuns(s, new Date('2025-01-01T00:00:01.500Z'), 2))).toEqual(['2025-01-01T00:00:03.000Z', '2025-01-01T00:00:06.000Z']);
  });

  test('unknown fields are refused', () => {
    expect(problems({ kind: 'hourly', minute: 0, timeZone: 'UTC', extra: 1 })[0]).toMatch(/extra/);
  });
});

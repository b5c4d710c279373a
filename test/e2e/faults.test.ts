import { crashableDatabase, E2eHarness, waitFor, type WriteLine } from './harness';

/**
 * Faults in the middle of a full sync: throttling, server errors and lost answers from Jira, and an app
 * instance that dies after N writes. The run must end in the right state without any write applied twice.
 */

let h: E2eHarness;

beforeAll(async () => {
  h = await E2eHarness.start();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

const SETTINGS = {
  user: { productsOnCreate: ['jira-software' as const] },
  group: { mapping: 'on-the-fly' as const },
};

const emails = (n: number) => Array.from({ length: n }, (_, i) => `user${String(i + 1).padStart(2, '0')}@corp.example`);

/** Pushes users and two groups while no jobs instance runs, then asks for a full sync (joining the queued change job). */
async function pushDirectory(count: number): Promise<string[]> {
  await h.stopJobs();
  const ids: string[] = [];
  for (const email of emails(count)) ids.push(await h.createUser(email, { displayName: email.split('@')[0] }));
  const everyone = await h.createGroup('Everyone');
  const half = await h.createGroup('Half');
  for (let i = 0; i < ids.length; i += 10) await h.addMembers(everyone, ids.slice(i, i + 10));
  await h.addMembers(half, ids.filter((_, i) => i % 2 === 0));
  await h.synchronize();
  return ids;
}

function expectedEffects(count: number): WriteLine[] {
  const all = emails(count);
  return [
    'create-group Everyone',
    'create-group Half',
    ...all.map((e) => `create-user ${e} [jira-software]`),
    ...all.map((e) => `add-member Everyone ${e}`),
    ...all.filter((_, i) => i % 2 === 0).map((e) => `add-member Half ${e}`),
  ].sort();
}

/** Writes the fake applied: answered 2xx, plus (when asked) those whose answer was dropped after applying. */
function appliedEffects(options: { droppedAfterApply: boolean }): WriteLine[] {
  return h.jira.server.log
    .filter((entry) => entry.method !== 'GET' && ((entry.status >= 200 && entry.status < 300) || (options.droppedAfterApply && entry.status === 0)))
    .map((entry) => h.describeJira(entry))
    // Jira answers a create for an existing email with 201 and that account: a retried create has no effect.
    .filter((line, index, lines) => !(line.startsWith('create-user') && lines.indexOf(line) !== index))
    .sort();
}

function expectSiteState(count: number): void {
  const all = emails(count);
  for (const email of all) expect([...(h.jira.userByEmail(email)?.products ?? [])]).toEqual(['jira-software']);
  expect(h.jira.users.size).toBe(count + 1); // + the site admin
  const members = (name: string) => [...h.jira.groupByName(name)!.members].map((a) => h.jira.users.get(a)!.emailAddress).sort();
  expect(members('Everyone')).toEqual(all);
  expect(members('Half')).toEqual(all.filter((_, i) => i % 2 === 0));
}

describe('faults mid-run', () => {
  it('429s with Retry-After, 5xx and answers lost after applying, during a full sync of 50 users: right state, no write applied twice', async () => {
    await h.scenario({ settings: SETTINGS });
    await pushDirectory(50);
    const jira = h.jira.server;
    jira.queueRateLimit(1, 1, { method: 'GET', path: '/rest/api/3/users/search' });
    jira.queueRateLimit(3, 1, { method: 'POST', path: '/rest/api/3/user' });
    jira.queueStatus(1, 503, { method: 'POST', path: '/rest/api/3/user' });
    jira.queueStatus(2, 500, { method: 'POST', path: '/rest/api/3/group/user' });
    jira.queueStatus(1, 502, { method: 'POST', path: '/rest/api/3/group' });
    jira.queueDrop(1, { method: 'POST', path: '/rest/api/3/user' }, true);
    jira.queueDrop(1, { method: 'POST', path: '/rest/api/3/group/user' }, true);

    await h.restartJobs();
    await h.settle({ timeoutMs: 45_000 });

    expectSiteState(50);
    const effects = appliedEffects({ droppedAfterApply: true });
    expect(effects).toEqual(expectedEffects(50));
    // Every injected fault was met and retried.
    const statuses = jira.log.filter((e) => e.method !== 'GET').map((e) => e.status);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
    expect(statuses.filter((s) => s >= 500)).toHaveLength(4);
    expect(statuses.filter((s) => s === 0)).toHaveLength(2);
    expect(jira.counts.throttled).toBe(4);

    const runs = await h.runs();
    expect(runs.map((r) => [r.mode, r.status])).toEqual([['full', 'succeeded']]);

    // A second full run with no IdP change makes zero writes.
    h.clearLogs();
    await h.synchronize();
    await h.settle();
    expect(h.jiraWrites({ applied: false })).toEqual([]);
  }, 60_000);

  it('an instance that dies after N writes: a new instance takes the job over and ends in the right state, each write applied once', async () => {
    await h.scenario({ settings: SETTINGS });
    await pushDirectory(30);

    // The doomed instance: its database handle and its HTTP calls stop answering once its 20th write has been
    // applied by Jira (that answer is lost too, as are those of calls in flight).
    const doomedDb = crashableDatabase(h.db);
    const CRASH_AFTER_WRITES = 20;
    let writes = 0;
    const hang = () => new Promise<Response>(() => undefined);
    const doomedFetch: typeof fetch = async (input, init) => {
      if (doomedDb.crashed) return hang();
      const method = (init?.method ?? 'GET').toUpperCase();
      if (method !== 'GET' && ++writes === CRASH_AFTER_WRITES) {
        await fetch(input, init).catch(() => undefined);
        doomedDb.crash();
        return hang();
      }
      const response = await fetch(input, init);
      return doomedDb.crashed ? hang() : response;
    };
    const doomed = h.newInstance({ instanceId: 'doomed', leaseMs: 1500, heartbeatMs: 300 }, { http: { fetch: doomedFetch } }, doomedDb);
    doomed.start();
    await waitFor(`the doomed instance to make ${CRASH_AFTER_WRITES} writes`, () => doomedDb.crashed, 30_000);
    const beforeRestart = h.jiraWrites().length;
    expect(beforeRestart).toBeGreaterThanOrEqual(CRASH_AFTER_WRITES);
    expect(beforeRestart).toBeLessThan(expectedEffects(30).length);

    // A restarted process: a new jobs instance on the same database.
    await h.restartJobs();
    await h.settle({ timeoutMs: 45_000 });

    expectSiteState(30);
    expect(appliedEffects({ droppedAfterApply: false })).toEqual(expectedEffects(30));
    // Nothing the dead instance had applied was sent again.
    const creates = h.jira.server.log.filter((e) => e.method === 'POST' && e.route === '/rest/api/3/user');
    expect(creates).toHaveLength(30);

    const jobs = await h.jobRows();
    expect(jobs.map((j) => j.status)).toEqual(['succeeded']);
    const attempts = await h.db.query<{ outcome: string }>('SELECT outcome FROM sync_job_attempts WHERE job_id = $1 ORDER BY attempt', [jobs[0]!.id]);
    expect(attempts.rows.map((r) => r.outcome)[0]).toBe('lease_expired');
    expect(attempts.rows.map((r) => r.outcome).at(-1)).toBe('succeeded');
    const runs = await h.runs();
    expect(runs[0]).toMatchObject({ status: 'failed', error: expect.stringMatching(/interrupted/) });
    expect(runs.at(-1)).toMatchObject({ mode: 'full', status: 'succeeded' });
    const linked = await h.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sync_ops WHERE run_id = $1 AND kind = 'link-user'", [runs.at(-1)!.id]);
    expect(linked.rows[0]!.n).toBeGreaterThan(0); // creates whose answer the dead instance never saw
  }, 60_000);
});

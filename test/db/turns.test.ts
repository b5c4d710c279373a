import { onBehalfOf, SessionTurns } from '../../src/db/turns';
import { createTestDatabase, usingPostgres, type TestDatabase } from '../helpers/database';

/** A call that records when it starts and ends, and holds its turn until `release` is called. */
function heldCall(log: string[], name: string) {
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  const work = async () => {
    log.push(`start ${name}`);
    await done;
    log.push(`end ${name}`);
  };
  return { work, release };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('SessionTurns: one session taken by parties in rotation', () => {
  it('serves a party that makes one call right after the call in progress, not after another party\'s queue', async () => {
    const turns = new SessionTurns();
    const log: string[] = [];
    const calls = new Map(['a1', 'a2', 'a3', 'a4', 'b1'].map((name) => [name, heldCall(log, name)]));
    const running = ['a1', 'a2', 'a3', 'a4'].map((name) => turns.run('tenant-a', calls.get(name)!.work));
    await turn();
    running.push(turns.run('tenant-b', calls.get('b1')!.work));
    expect(turns.queued).toBe(4);
    // Whichever call holds the session is released once it has started, five times.
    for (let served = 0; served < 5; served++) {
      while (log.filter((line) => line.startsWith('start')).length <= served) await turn();
      calls.get(log.filter((line) => line.startsWith('start'))[served]!.slice(6))!.release();
    }
    await Promise.all(running);
    expect(log.filter((line) => line.startsWith('start'))).toEqual(['start a1', 'start b1', 'start a2', 'start a3', 'start a4']);
    // Never two at once.
    for (let i = 0; i < log.length; i += 2) expect([log[i]!.slice(6), log[i + 1]!.slice(4)]).toEqual([log[i]!.slice(6), log[i]!.slice(6)]);
  });

  it('keeps each party\'s own calls in order and alternates between waiting parties', async () => {
    const turns = new SessionTurns();
    const order: string[] = [];
    const call = (who: string, name: string) => turns.run(who, async () => void order.push(name));
    await Promise.all([call('a', 'a1'), call('a', 'a2'), call('a', 'a3'), call('b', 'b1'), call('b', 'b2'), call('c', 'c1')]);
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3']);
  });

  it('gives the session back when a call fails', async () => {
    const turns = new SessionTurns();
    await expect(turns.run('a', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(turns.run('b', async () => 'ok')).resolves.toBe('ok');
    expect(turns.queued).toBe(0);
  });

  it('lets the event loop turn before handing the session over', async () => {
    const turns = new SessionTurns();
    const order: string[] = [];
    const first = turns.run('a', async () => {
      setImmediate(() => order.push('other work'));
      order.push('a1');
    });
    const second = turns.run('a', async () => void order.push('a2'));
    await Promise.all([first, second]);
    expect(order).toEqual(['a1', 'other work', 'a2']);
  });
});

(usingPostgres ? describe.skip : describe)('the embedded database takes calls by party', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => {
    await t.destroy();
  });

  it('runs another party\'s query before the rest of one party\'s queued transactions', async () => {
    const finished: string[] = [];
    const transactions = Array.from({ length: 4 }, (_, i) =>
      onBehalfOf('scim:a', () =>
        t.db.transaction(async (client) => {
          await client.query('SELECT pg_sleep(0.02)');
          finished.push(`a${i + 1}`);
        }),
      ),
    );
    await turn();
    const read = onBehalfOf('scim:b', () => t.db.query('SELECT 1').then(() => void finished.push('b')));
    await Promise.all([...transactions, read]);
    expect(finished.indexOf('b')).toBeLessThanOrEqual(1);
    expect(finished.filter((name) => name !== 'b')).toEqual(['a1', 'a2', 'a3', 'a4']);
  });
});

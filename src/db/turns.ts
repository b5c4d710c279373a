import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Who a database call is made for (a SCIM connection, say). Set with `onBehalfOf` around the work of one
 * party; calls made outside any party share the party `''`.
 */
const party = new AsyncLocalStorage<string>();

/** Runs `work` (and everything it starts) as database calls made on behalf of `who`. */
export function onBehalfOf<T>(who: string, work: () => T): T {
  return party.run(who, work);
}

export function currentParty(): string {
  return party.getStore() ?? '';
}

/**
 * Turns at one database session, taken by parties in rotation.
 *
 * The embedded database is one session that runs on the server's own thread: a query or transaction
 * holds it, and the event loop, until it ends. Handed out first come, first served, one party sending
 * several large requests at once queues them all ahead of everyone else, and each freed session went
 * straight to the next waiter without the event loop reading any other request in between.
 *
 * Here each party queues its own calls (first come, first served within the party), the session goes to
 * the parties in rotation, and it is handed over only after one turn of the event loop (setImmediate), so
 * that requests which arrived meanwhile are read and queued first. A party that makes one small call waits
 * for at most the call in progress and one call of each other waiting party, whatever their queues hold.
 */
export class SessionTurns {
  private busy = false;
  /**
   * Parties with calls waiting, each with its calls (first come, first served) and when it was last served
   * (a serial number; -1: not while it has been waiting). A party leaves the map when its last call is served,
   * so the map holds only parties with calls waiting.
   */
  private readonly waiting = new Map<string, { calls: Array<() => void>; servedAt: number }>();
  private serial = 0;
  private lastServed: { who: string; at: number } | undefined;

  /** Runs `work` when its party's turn comes; the session is the caller's until `work` settles. */
  async run<T>(who: string, work: () => Promise<T>): Promise<T> {
    await this.acquire(who);
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  /** Calls waiting for a turn (for tests and diagnostics). */
  get queued(): number {
    let n = 0;
    for (const party of this.waiting.values()) n += party.calls.length;
    return n;
  }

  private acquire(who: string): Promise<void> {
    if (!this.busy) {
      this.busy = true;
      this.lastServed = { who, at: ++this.serial };
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const party = this.waiting.get(who);
      if (party) party.calls.push(resolve);
      else this.waiting.set(who, { calls: [resolve], servedAt: this.lastServed?.who === who ? this.lastServed.at : -1 });
    });
  }

  private release(): void {
    if (this.waiting.size === 0) {
      this.busy = false;
      return;
    }
    // The session stays taken while the event loop turns once; the next party is chosen after it, so a
    // party whose request arrived in that turn is considered too.
    setImmediate(() => this.handOver());
  }

  /** Serves the waiting party served longest ago (first come among those never served). */
  private handOver(): void {
    let next: string | undefined;
    let oldest = Infinity;
    for (const [who, party] of this.waiting) {
      if (party.servedAt < oldest) {
        next = who;
        oldest = party.servedAt;
      }
    }
    const party = next === undefined ? undefined : this.waiting.get(next);
    if (next === undefined || !party) {
      this.busy = false;
      return;
    }
    const resolve = party.calls.shift()!;
    party.servedAt = ++this.serial;
    this.lastServed = { who: next, at: party.servedAt };
    if (party.calls.length === 0) this.waiting.delete(next);
    resolve();
  }
}

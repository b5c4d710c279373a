/** Retry settings for adapter tests: backoff of a few milliseconds and no real sleeping. */
export const FAST_RETRIES = { baseBackoffMs: 1, maxBackoffMs: 5, sleep: async () => undefined };

/** Every item of an adapter's paged listing. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** Runs `work` on every item, at most `limit` at a time; answers the results in the items' order. */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/**
 * A request's outbound calls in flight at once. A Worker invocation has six connections waiting for
 * response headers; a seventh waits in the runtime's queue, with its deadline already running.
 * Calls started through the same Slots wait here instead, and each starts its deadline only once it
 * runs (checkout asks for a cart's products, its key's claim and its open orders this way). wrangler
 * dev does not enforce the runtime's limit, so without this the local figures would flatter
 * production.
 */
export const WORKER_CONNECTIONS = 6;

export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(size: number = WORKER_CONNECTIONS) {
    this.free = size;
  }

  /** Runs `call` once a slot is free (in the order asked), holding the slot until it settles. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await call();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    }
  }
}

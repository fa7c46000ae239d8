import type { z } from "zod";

/**
 * A best-effort cache for hot reads. The service is correct without it: a miss, an outage, a slow
 * answer or an entry of the wrong shape all read as "not cached", and writes happen in the
 * background, so a cache never fails or delays a request.
 */
export interface Cache {
  /** The entry under `key` if it parses with `schema`; null otherwise. */
  get<T>(key: string, schema: z.ZodType<T>): Promise<T | null>;
  /** Stores in the background (the request's waitUntil): never awaited, never throws. */
  set(key: string, value: unknown, ttlSeconds: number): void;
  /** For readiness: throws when the cache cannot answer. */
  ping(): Promise<void>;
}

/** Work that must finish after the response is sent: a request's `ctx.waitUntil`. */
export type Background = (work: Promise<unknown>) => void;

/** Outside a request (nothing to wait for it): run it, and let no failure escape. */
export const detached: Background = (work) => {
  work.catch(() => {});
};

/** Used when no Redis is configured: a small per-isolate map with expiry. */
export class MemoryCache implements Cache {
  private readonly entries = new Map<string, { value: unknown; expiresAt: number }>();

  private readonly maxEntries: number;

  constructor(maxEntries = 1000) {
    this.maxEntries = maxEntries;
  }

  async ping(): Promise<void> {}

  async get<T>(key: string, schema: z.ZodType<T>): Promise<T | null> {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return null;
    }
    const parsed = schema.safeParse(entry.value);
    return parsed.success ? parsed.data : null;
  }

  set(key: string, value: unknown, ttlSeconds: number): void {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { value: structuredClone(value), expiresAt: Date.now() + ttlSeconds * 1000 });
  }
}

import { Redis } from "@upstash/redis/cloudflare";
import type { Config } from "../config.ts";
import { describeError, log } from "../lib/log.ts";

/**
 * A best-effort cache for hot reads. The service is correct without it: a miss, an outage or a
 * slow answer all read as "not cached".
 */
export interface Cache {
  get<T>(key: string): Promise<T | null>;
  set(key: string, value: unknown, ttlSeconds: number): Promise<void>;
  /** For readiness: throws when the cache cannot answer. */
  ping(): Promise<void>;
}

/** Redis is a shortcut, never worth waiting for: past this a lookup counts as a miss. */
const REDIS_DEADLINE_MS = 250;

export class RedisCache implements Cache {
  private readonly redis: Redis;

  constructor(url: string, token: string) {
    this.redis = new Redis({
      url,
      token,
      retry: false,
      enableTelemetry: false,
      automaticDeserialization: true,
    });
  }

  async get<T>(key: string): Promise<T | null> {
    return this.bestEffort("get", () => this.redis.get<T>(key), null);
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    await this.bestEffort(
      "set",
      () => this.redis.set(key, value, { ex: Math.max(1, Math.floor(ttlSeconds)) }),
      null,
    );
  }

  async ping(): Promise<void> {
    if ((await this.bestEffort("ping", () => this.redis.ping(), null)) === null) {
      throw new Error("Redis did not answer");
    }
  }

  private async bestEffort<T, F>(op: string, run: () => Promise<T>, fallback: F): Promise<T | F> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<F>((resolve) => {
      timer = setTimeout(() => resolve(fallback), REDIS_DEADLINE_MS);
    });
    try {
      return await Promise.race([run(), deadline]);
    } catch (error) {
      log("warn", "cache unavailable", { op, ...describeError(error) });
      return fallback;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Used when no Redis is configured: a small per-isolate map with expiry. */
export class MemoryCache implements Cache {
  private readonly entries = new Map<string, { value: unknown; expiresAt: number }>();

  private readonly maxEntries: number;

  constructor(maxEntries = 1000) {
    this.maxEntries = maxEntries;
  }

  async ping(): Promise<void> {}

  async get<T>(key: string): Promise<T | null> {
    const entry = this.entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return null;
    }
    return entry.value as T;
  }

  async set(key: string, value: unknown, ttlSeconds: number): Promise<void> {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { value: structuredClone(value), expiresAt: Date.now() + ttlSeconds * 1000 });
  }
}

const memoryCache = new MemoryCache();

export function createCache(config: Config): Cache {
  if (config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN) {
    return new RedisCache(config.UPSTASH_REDIS_REST_URL, config.UPSTASH_REDIS_REST_TOKEN);
  }
  return memoryCache;
}

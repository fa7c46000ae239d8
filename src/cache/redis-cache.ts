import { Redis } from "@upstash/redis/cloudflare";
import type { z } from "zod";
import { log } from "../lib/log.ts";
import type { Background, Cache } from "./cache.ts";
import { RedisOutage } from "./outage.ts";

export interface RedisCacheOptions {
  url: string;
  token: string;
  /** Put before every key, so environments (and test runs) can share one database. */
  keyPrefix: string;
  /** Past this a call counts as failed: Redis is a shortcut, never worth waiting for. */
  timeoutMs: number;
  background: Background;
}

class CacheTimeout extends Error {
  override name = "CacheTimeout";
}

/** What a failure says, without the command (keys and values) that @upstash/redis appends. */
function reasonOf(error: unknown): string {
  if (error instanceof CacheTimeout || (error instanceof Error && error.name === "TimeoutError")) {
    return "timeout";
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return message.split(", command was:")[0]?.slice(0, 200) ?? "unknown";
}

/**
 * The cache on Upstash Redis (or anything speaking its REST protocol). Made per request: the
 * client holds no connection, and a per-request client keeps auto-pipelined calls inside the
 * request that made them. What outlives the request is the isolate's RedisOutage for this URL.
 */
export class RedisCache implements Cache {
  private readonly redis: Redis;
  private readonly options: RedisCacheOptions;
  private readonly outage: RedisOutage;

  constructor(options: RedisCacheOptions) {
    this.options = options;
    this.outage = RedisOutage.of(options.url);
    this.redis = new Redis({
      url: options.url,
      token: options.token,
      // One try: a retry would only spend the request's time on a cache.
      retry: { retries: 0, backoff: () => 0 },
      enableTelemetry: false,
      // Values are parsed here with zod, so an entry of the wrong shape is a miss, never a crash.
      automaticDeserialization: false,
      // A function, so each call gets its own deadline and an aborted call throws.
      signal: () => AbortSignal.timeout(options.timeoutMs),
    });
  }

  async get<T>(key: string, schema: z.ZodType<T>): Promise<T | null> {
    if (this.outage.bypassing()) return null;
    const raw = await this.guarded("get", () => this.redis.get<string>(this.key(key)));
    if (raw === undefined || raw === null) return null;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = undefined;
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      log("warn", "cache entry unreadable: treated as a miss", { key });
      return null;
    }
    return parsed.data;
  }

  set(key: string, value: unknown, ttlSeconds: number): void {
    if (this.outage.bypassing()) return;
    const ex = Math.max(1, Math.floor(ttlSeconds));
    this.options.background(
      this.guarded("set", () => this.redis.set(this.key(key), JSON.stringify(value), { ex })),
    );
  }

  async ping(): Promise<void> {
    // Readiness asks Redis itself, even while requests bypass it.
    const answer = await this.guarded("ping", () => this.redis.ping());
    if (answer === undefined) throw new Error("Redis did not answer");
  }

  private key(key: string): string {
    return `${this.options.keyPrefix}${key}`;
  }

  /** Runs one call within the deadline; a failure is recorded (and logged once per outage), never thrown. */
  private async guarded<T>(op: string, run: () => Promise<T>): Promise<T | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CacheTimeout()), this.options.timeoutMs);
    });
    try {
      const result = await Promise.race([run(), deadline]);
      this.outage.recordSuccess();
      return result;
    } catch (error) {
      this.outage.recordFailure(op, reasonOf(error));
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}

import { log } from "../lib/log.ts";

/**
 * After a failed Redis call, the cache is bypassed (every read a miss, every write dropped) for
 * this long before one call tries Redis again: a hanging Redis then costs one timed-out call per
 * isolate per second, not one per request.
 */
export const BYPASS_MS = 1000;
/** While an outage lasts, one reminder line this often, so it is never logged per request. */
const REMIND_EVERY_MS = 60_000;

/** What one isolate knows about one Redis: whether it is bypassing it, and what it has logged. */
export class RedisOutage {
  private static readonly byUrl = new Map<string, RedisOutage>();

  static of(url: string): RedisOutage {
    let outage = RedisOutage.byUrl.get(url);
    if (!outage) {
      outage = new RedisOutage();
      RedisOutage.byUrl.set(url, outage);
    }
    return outage;
  }

  private since: number | undefined;
  private loggedAt = 0;
  private bypassUntil = 0;
  private failed = 0;
  private bypassed = 0;

  /** True while calls should skip Redis; counts the skipped call. */
  bypassing(now = Date.now()): boolean {
    if (now >= this.bypassUntil) return false;
    this.bypassed += 1;
    return true;
  }

  recordFailure(op: string, reason: string, now = Date.now()): void {
    this.failed += 1;
    this.bypassUntil = now + BYPASS_MS;
    if (this.since === undefined) {
      this.since = now;
      this.loggedAt = now;
      log("warn", "cache unavailable: bypassing Redis", { op, reason, bypassMs: BYPASS_MS });
    } else if (now - this.loggedAt >= REMIND_EVERY_MS) {
      this.loggedAt = now;
      log("warn", "cache still unavailable", this.summary(op, reason, now));
    }
  }

  recordSuccess(now = Date.now()): void {
    if (this.since === undefined) return;
    log("info", "cache recovered", this.summary(undefined, undefined, now));
    this.since = undefined;
    this.failed = 0;
    this.bypassed = 0;
    this.bypassUntil = 0;
  }

  private summary(op: string | undefined, reason: string | undefined, now: number) {
    return {
      ...(op ? { op, reason } : {}),
      downMs: now - (this.since ?? now),
      failedCalls: this.failed,
      bypassedCalls: this.bypassed,
    };
  }
}

import { DurableObject } from "cloudflare:workers";

export interface RateDecision {
  allowed: boolean;
  /** Seconds until one more request would be allowed (0 when allowed). */
  retryAfterSeconds: number;
}

/**
 * A token bucket for one key (a user, or a client IP): `limitPerMinute` requests may burst at
 * once, then it refills at that rate. One object per key serialises every decision for it. The
 * bucket lives in memory only: if the object is evicted, the key starts over with a full bucket,
 * which errs on the side of letting a customer through.
 */
export class RateLimiter extends DurableObject<Env> {
  private tokens = 0;
  private limit = 0;
  private updatedAt = 0;

  take(limitPerMinute: number): RateDecision {
    const now = Date.now();
    if (limitPerMinute !== this.limit) {
      this.limit = limitPerMinute;
      this.tokens = limitPerMinute;
    } else {
      this.tokens = Math.min(
        limitPerMinute,
        this.tokens + ((now - this.updatedAt) * limitPerMinute) / 60_000,
      );
    }
    this.updatedAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { allowed: true, retryAfterSeconds: 0 };
    }
    return {
      allowed: false,
      retryAfterSeconds: Math.max(1, Math.ceil(((1 - this.tokens) * 60) / limitPerMinute)),
    };
  }
}

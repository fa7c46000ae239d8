import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { addressKey } from "../lib/client-address.ts";
import { ApiError } from "../lib/errors.ts";
import { takeLocally } from "../lib/local-limit.ts";
import { log } from "../lib/log.ts";

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * IP_RATE_LIMITER's `simple.limit` in wrangler.toml (period 60 s): the binding's limit is fixed at
 * deploy, so each request weighs IP_LIMIT_UNITS / RATE_LIMIT_IP_PER_MIN units (rounded up), which
 * lets exactly RATE_LIMIT_IP_PER_MIN requests through per window for any limit up to 1000, and never
 * more (up to 1% fewer at the largest limit config.ts allows, 10000). Change both together.
 */
export const IP_LIMIT_UNITS = 1_000_000;
const IP_PERIOD_SECONDS = 60;
/** A limiter slower than this counts as failed (see limiterFailed): a limit must not stall the API. */
const LIMITER_DEADLINE_MS = { binding: 250, object: 1000 } as const;

function refuse(what: string, retryAfterSeconds: number): never {
  throw new ApiError(
    "RATE_LIMITED",
    `Too many requests ${what}; retry in ${retryAfterSeconds} s`,
    undefined,
    {
      "Retry-After": String(retryAfterSeconds),
    },
  );
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

const lastFailureLog = new Map<string, number>();

/**
 * The limiter's own failure policy: the request is counted in this isolate instead (lib/local-limit.ts),
 * with the same limit, so an outage of the limiter (or a flood that overloads it) never turns the
 * limit off. Logged at most once a minute per limiter.
 */
function limiterFailed(limiter: string, key: string, limitPerMinute: number, what: string, error: unknown) {
  const now = Date.now();
  if (now - (lastFailureLog.get(limiter) ?? 0) >= 60_000) {
    lastFailureLog.set(limiter, now);
    log("warn", "rate limiter unavailable: limiting in this isolate", {
      limiter,
      error: error instanceof Error ? error.message : String(error),
    });
  }
  const decision = takeLocally(`${limiter}:${key}`, limitPerMinute, now);
  if (!decision.allowed) refuse(what, decision.retryAfterSeconds);
}

/**
 * Every request per client address (RATE_LIMIT_IP_PER_MIN), reads included, before anything else
 * is done for it (authentication included), through Workers' Rate Limiting binding: a counter local
 * to each Cloudflare location, no round trip, and no object per address, so an anonymous caller
 * costs nothing to count. The address is CF-Connecting-IP, IPv6 by its /64. A request without it
 * came from inside (a service binding, another Worker) or a local tool: it is limited per user
 * only, since one shared bucket for them all would let any one internal caller throttle the rest.
 */
export const ipRateLimit = createMiddleware<AppEnv>(async (c, next) => {
  const limit = c.var.services.config.RATE_LIMIT_IP_PER_MIN;
  const ip = c.req.header("cf-connecting-ip");
  if (limit === 0 || !ip) return next();
  const key = addressKey(ip);
  const what = "from this address";
  let allowed: boolean;
  try {
    const binding = c.env.IP_RATE_LIMITER;
    if (!binding) throw new Error("the IP_RATE_LIMITER binding is missing");
    const delta = Math.ceil(IP_LIMIT_UNITS / limit);
    ({ success: allowed } = await withDeadline(binding.limit({ key, delta }), LIMITER_DEADLINE_MS.binding));
  } catch (error) {
    limiterFailed("ip", key, limit, what, error);
    return next();
  }
  // The binding's windows are fixed periods: the next one starts at most a period from now.
  if (!allowed)
    refuse(what, Math.max(1, IP_PERIOD_SECONDS - (Math.floor(Date.now() / 1000) % IP_PERIOD_SECONDS)));
  return next();
});

/**
 * Writes per user or per guest (RATE_LIMIT_USER_PER_MIN), after authentication: a token bucket in
 * the caller's RateLimiter Durable Object, exact and global (docs/architecture.md, Rate limits).
 */
export const userRateLimit = createMiddleware<AppEnv>(async (c, next) => {
  const limit = c.var.services.config.RATE_LIMIT_USER_PER_MIN;
  if (limit === 0 || !WRITES.has(c.req.method)) return next();
  const { caller } = c.var;
  const [key, what] =
    "userId" in caller
      ? [`user:${caller.userId}`, "for this user"]
      : [`guest:${caller.guestId}`, "for this guest"];
  let decision: { allowed: boolean; retryAfterSeconds: number };
  try {
    decision = await withDeadline(c.env.RATE_LIMITER.getByName(key).take(limit), LIMITER_DEADLINE_MS.object);
  } catch (error) {
    limiterFailed("user", key, limit, what, error);
    return next();
  }
  if (!decision.allowed) refuse(what, decision.retryAfterSeconds);
  return next();
});

/** Guest tokens per client address and minute: GUEST_ISSUANCE's `simple.limit` in wrangler.toml. */
export const GUEST_TOKENS_PER_MIN = 20;

/**
 * Guest tokens per client address (POST /api/guest only), through the Rate Limiting binding
 * GUEST_ISSUANCE, on top of the per-address limit on every request: each guest token can create a
 * Durable Object. A request without CF-Connecting-IP came from inside and is not limited, as above;
 * a limiter that fails or is slow is replaced by the isolate's count, as above.
 */
export const guestIssuanceLimit = createMiddleware<AppEnv>(async (c, next) => {
  const ip = c.req.header("cf-connecting-ip");
  if (!ip) return next();
  const key = addressKey(ip);
  const what = "guest tokens from this address";
  let allowed: boolean;
  try {
    ({ success: allowed } = await withDeadline(
      c.env.GUEST_ISSUANCE.limit({ key }),
      LIMITER_DEADLINE_MS.binding,
    ));
  } catch (error) {
    limiterFailed("guest", key, GUEST_TOKENS_PER_MIN, what, error);
    return next();
  }
  if (!allowed)
    refuse(what, Math.max(1, IP_PERIOD_SECONDS - (Math.floor(Date.now() / 1000) % IP_PERIOD_SECONDS)));
  return next();
});

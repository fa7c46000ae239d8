import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { addressKey } from "../lib/client-address.ts";
import { ApiError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

async function enforce(env: Env, key: string, limitPerMinute: number, what: string): Promise<void> {
  if (limitPerMinute === 0) return;
  let decision: { allowed: boolean; retryAfterSeconds: number };
  try {
    decision = await env.RATE_LIMITER.getByName(key).take(limitPerMinute);
  } catch (error) {
    // A limiter that cannot answer must not take the storefront down with it.
    log("warn", "rate limiter unavailable", {
      key: what,
      error: error instanceof Error ? error.message : String(error),
    });
    return;
  }
  if (!decision.allowed) {
    throw new ApiError(
      "RATE_LIMITED",
      `Too many requests ${what}; retry in ${decision.retryAfterSeconds} s`,
      undefined,
      {
        "Retry-After": String(decision.retryAfterSeconds),
      },
    );
  }
}

/**
 * Writes per client IP (RATE_LIMIT_IP_PER_MIN), counted before authentication. The check starts
 * here and runs while the token is verified; `userRateLimit` waits for it next to the user's own,
 * so a write costs one limiter round trip of latency, not two in a row. A request that fails
 * authentication waits for it here: a flood of bad tokens from one address still gets 429.
 */
export const ipRateLimit = createMiddleware<AppEnv>(async (c, next) => {
  // Cloudflare sets CF-Connecting-IP on every request from the internet. One without it came from
  // inside (a service binding, another Worker) or a local tool: it is limited per user only, since
  // one shared bucket for all of them would let any one internal caller throttle the rest.
  const ip = c.req.header("cf-connecting-ip");
  if (!WRITES.has(c.req.method) || !ip) return next();
  const verdict = enforce(
    c.env,
    `ip:${addressKey(ip)}`,
    c.var.services.config.RATE_LIMIT_IP_PER_MIN,
    "from this address",
  );
  verdict.catch(() => {}); // awaited below (and by userRateLimit); never an unhandled rejection
  c.set("ipRateLimit", verdict);
  await next();
  // Already settled unless authentication failed; a refused address then answers 429, not 401.
  await verdict;
});

/**
 * Writes per user, or per guest (RATE_LIMIT_USER_PER_MIN); runs after authentication, with the IP
 * check still in flight.
 */
export const userRateLimit = createMiddleware<AppEnv>(async (c, next) => {
  if (WRITES.has(c.req.method)) {
    const { caller } = c.var;
    const [key, what] =
      "userId" in caller
        ? [`user:${caller.userId}`, "for this user"]
        : [`guest:${caller.guestId}`, "for this guest"];
    await Promise.all([
      c.var.ipRateLimit,
      enforce(c.env, key, c.var.services.config.RATE_LIMIT_USER_PER_MIN, what),
    ]);
  }
  await next();
});

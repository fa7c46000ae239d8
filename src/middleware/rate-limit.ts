import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
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

/** Writes per client IP (RATE_LIMIT_IP_PER_MIN); runs before authentication. */
export const ipRateLimit = createMiddleware<AppEnv>(async (c, next) => {
  if (WRITES.has(c.req.method)) {
    const ip = c.req.header("cf-connecting-ip") ?? "unknown";
    await enforce(c.env, `ip:${ip}`, c.var.services.config.RATE_LIMIT_IP_PER_MIN, "from this address");
  }
  await next();
});

/** Writes per user (RATE_LIMIT_USER_PER_MIN); runs after authentication. */
export const userRateLimit = createMiddleware<AppEnv>(async (c, next) => {
  if (WRITES.has(c.req.method)) {
    await enforce(
      c.env,
      `user:${c.var.user.id}`,
      c.var.services.config.RATE_LIMIT_USER_PER_MIN,
      "for this user",
    );
  }
  await next();
});

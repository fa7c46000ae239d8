import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { addressKey } from "../lib/client-address.ts";
import { ApiError } from "../lib/errors.ts";
import { describeError, log } from "../lib/log.ts";

/** The GUEST_ISSUANCE binding's period (wrangler.toml): a refused caller may try again after it. */
const PERIOD_SECONDS = 60;

/**
 * Guest tokens per client IP, through the Workers Rate Limiting binding GUEST_ISSUANCE (its limit is
 * in wrangler.toml): every guest token can create a Durable Object. A request without
 * CF-Connecting-IP came from inside (a service binding, a local tool) and is not limited, as
 * everywhere else. When the binding itself fails, no token is issued (503): issuing unlimited
 * tokens is what the limit exists to prevent, and a storefront can retry.
 */
export const guestIssuanceLimit = createMiddleware<AppEnv>(async (c, next) => {
  const ip = c.req.header("cf-connecting-ip");
  if (ip) {
    let allowed: boolean;
    try {
      ({ success: allowed } = await c.env.GUEST_ISSUANCE.limit({ key: addressKey(ip) }));
    } catch (error) {
      log("error", "guest issuance limiter unavailable", describeError(error));
      throw new ApiError("UPSTREAM_UNAVAILABLE", "Guest tokens cannot be issued right now; retry shortly");
    }
    if (!allowed) {
      throw new ApiError(
        "RATE_LIMITED",
        `Too many guest tokens from this address; retry in ${PERIOD_SECONDS} s`,
        undefined,
        { "Retry-After": String(PERIOD_SECONDS) },
      );
    }
  }
  await next();
});

import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { bearerToken, unauthorized } from "../lib/auth.ts";
import { ApiError } from "../lib/errors.ts";
import { claimsToBeGuest, verifyGuestToken } from "../lib/guest-tokens.ts";
import { authenticate } from "../services/auth.ts";

/**
 * Sets `caller` from the bearer token (and `user` for a signed-in user); nothing in a header, query
 * or body other than the token can. A token that says it is a guest's is verified as one only.
 */
export const requireAuth = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearerToken(c.req.header("authorization"));
  if (claimsToBeGuest(token)) {
    const guestId = await verifyGuestToken(token, c.var.services.config);
    if (!guestId) throw unauthorized("The guest token is invalid or has expired");
    c.set("caller", { guestId });
  } else {
    const user = await authenticate(token, c.var.services);
    c.set("user", user);
    c.set("caller", { userId: user.id });
  }
  await next();
});

/** Refuses a guest (403 SIGN_IN_REQUIRED) on every route but the cart's own. */
export const requireSignIn = createMiddleware<AppEnv>(async (c, next) => {
  if ("guestId" in c.var.caller) {
    throw new ApiError("SIGN_IN_REQUIRED", "Sign in first: a guest token opens only the cart");
  }
  await next();
});

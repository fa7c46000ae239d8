import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { ApiError } from "../lib/errors.ts";

/**
 * The admin routes refuse anyone but an admin before looking at the request: a client learns that
 * the route is not theirs (403) before anything about its input (400) or what it names (404).
 * Runs after authentication (401 first).
 */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  if (c.var.user.role !== "ADMIN") throw new ApiError("FORBIDDEN", "Only an admin can do this");
  await next();
});

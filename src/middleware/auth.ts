import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { authenticate, bearerToken } from "../lib/auth.ts";

/** Sets `user` from the bearer token; nothing in a header, query or body other than the token can. */
export const requireAuth = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearerToken(c.req.header("authorization"));
  c.set("user", await authenticate(token, c.var.services));
  await next();
});

import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { ApiError } from "../lib/errors.ts";

/**
 * Only what the document declares is answered, plus CORS preflights (an OPTIONS request carrying
 * Origin and Access-Control-Request-Method, answered by middleware/cors.ts). Hono would otherwise
 * answer HEAD with every GET route's headers and OPTIONS without a preflight as one: both are 404,
 * like any other route the document does not declare.
 */
export const documentedMethods = createMiddleware<AppEnv>(async (c, next) => {
  const method = c.req.method;
  const preflight =
    method === "OPTIONS" &&
    c.req.header("origin") !== undefined &&
    c.req.header("access-control-request-method") !== undefined;
  if (method === "HEAD" || (method === "OPTIONS" && !preflight)) {
    throw new ApiError("NOT_FOUND", "No such route");
  }
  await next();
});

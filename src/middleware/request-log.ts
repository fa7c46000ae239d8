import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { log } from "../lib/log.ts";

/** One JSON line per request. The path only: query strings may carry tickets, headers carry tokens. */
export const requestLog = createMiddleware<AppEnv>(async (c, next) => {
  const started = Date.now();
  await next();
  log(c.res.status >= 500 ? "error" : "info", "request", {
    requestId: c.var.requestId,
    method: c.req.method,
    path: c.req.path,
    status: c.res.status,
    durationMs: Date.now() - started,
    userId: c.var.user?.id,
  });
});

import { cors as honoCors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";

/** Only origins in CORS_ORIGINS get CORS headers; everything else is same-origin only. */
export const cors = createMiddleware<AppEnv>((c, next) =>
  honoCors({
    origin: (origin) => (c.var.services.config.CORS_ORIGINS.includes(origin) ? origin : null),
    allowMethods: ["GET", "POST", "PUT", "DELETE", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"],
    exposeHeaders: ["X-Request-Id", "Idempotent-Replayed", "Retry-After"],
    maxAge: 600,
  })(c, next),
);

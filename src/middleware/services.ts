import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { createServices } from "../services/index.ts";

export const services = createMiddleware<AppEnv>(async (c, next) => {
  const services = createServices(c.env, (work) => c.executionCtx.waitUntil(work));
  c.set("services", services);
  try {
    await next();
  } finally {
    // The request's Pool must be ended by this request, after the response is sent.
    c.executionCtx.waitUntil(services.database.close());
  }
});

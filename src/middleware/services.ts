import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { createServices } from "../services/index.ts";

export const services = createMiddleware<AppEnv>(async (c, next) => {
  const services = createServices(c.env, (work) => c.executionCtx.waitUntil(work));
  c.set("services", services);
  try {
    await next();
  } finally {
    // After the response: publish what the request committed, then end the request's Pool (it
    // must be ended by this request).
    c.executionCtx.waitUntil(services.orders.events.drain().finally(() => services.database.close()));
  }
});

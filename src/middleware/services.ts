import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { createServices } from "../services/index.ts";

export const services = createMiddleware<AppEnv>(async (c, next) => {
  c.set("services", createServices(c.env));
  await next();
});

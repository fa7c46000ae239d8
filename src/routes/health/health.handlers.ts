import { checkReadiness } from "../../services/readiness.ts";
import type { AppRouteHandler as Handler } from "../openapi.ts";
import type * as routes from "./health.routes.ts";

export const SERVICE_NAME = "order-service";

export const liveness: Handler<typeof routes.liveness> = (c) =>
  c.json(
    { status: "ok" as const, service: SERVICE_NAME, version: c.var.services.config.SERVICE_VERSION },
    200,
  );

export const readiness: Handler<typeof routes.readiness> = async (c) => {
  const { status, dependencies, outbox } = await checkReadiness(c.var.services);
  const body = {
    status,
    service: SERVICE_NAME,
    version: c.var.services.config.SERVICE_VERSION,
    dependencies,
    outbox,
  };
  return status === "unavailable" ? c.json(body, 503) : c.json(body, 200);
};

import { requestId } from "hono/request-id";
import { createRouter } from "./lib/openapi.ts";
import { requireAuth } from "./middleware/auth.ts";
import { bodyLimit } from "./middleware/body-limit.ts";
import { cors } from "./middleware/cors.ts";
import { notFound, onError } from "./middleware/error-handler.ts";
import { ipRateLimit, userRateLimit } from "./middleware/rate-limit.ts";
import { requestLog } from "./middleware/request-log.ts";
import { services } from "./middleware/services.ts";
import { cartRouter } from "./routes/cart/cart.index.ts";
import { healthRouter } from "./routes/health/health.index.ts";
import { mountDocs } from "./routes/meta/docs.ts";
import { ordersRouter } from "./routes/orders/orders.index.ts";

const API_TITLE = "Order Service API";

export function createApp() {
  const app = createRouter();

  app.use(requestId());
  app.use(requestLog);
  app.use(services);
  app.use(cors);
  app.use("/api/*", async (c, next) => {
    await next();
    c.header("Cache-Control", "no-store");
  });
  app.use(bodyLimit);
  app.use("/api/*", ipRateLimit);
  app.use("/api/*", requireAuth);
  app.use("/api/*", userRateLimit);

  app.route("/", healthRouter);
  app.route("/", cartRouter);
  app.route("/", ordersRouter);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description:
      "HS256 tokens from the user service, or RS256/ES256 tokens from the JWKS_URL identity provider",
  });
  app.doc31("/openapi.json", (c) => ({
    openapi: "3.1.0",
    info: {
      title: API_TITLE,
      version: c.var.services.config.SERVICE_VERSION,
      description:
        "Carts, orders, mocked payments and order tracking. Money is an integer in minor units next to a currency code.",
    },
  }));
  mountDocs(app);

  app.onError(onError);
  app.notFound(notFound);
  return app;
}

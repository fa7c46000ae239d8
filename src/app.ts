import { except } from "hono/combine";
import { requestId } from "hono/request-id";
import { requireAuth, requireSignIn } from "./middleware/auth.ts";
import { bodyLimit } from "./middleware/body-limit.ts";
import { cors } from "./middleware/cors.ts";
import { notFound, onError } from "./middleware/error-handler.ts";
import { documentedMethods } from "./middleware/methods.ts";
import { ipRateLimit, userRateLimit } from "./middleware/rate-limit.ts";
import { requestLog } from "./middleware/request-log.ts";
import { requireAdmin } from "./middleware/require-admin.ts";
import { services } from "./middleware/services.ts";
import { adminRouter } from "./routes/admin/admin.index.ts";
import { cartRouter } from "./routes/cart/cart.index.ts";
import { guestRouter } from "./routes/guest/guest.index.ts";
import { healthRouter } from "./routes/health/health.index.ts";
import { liveRouter } from "./routes/live/live.index.ts";
import { mountDocs } from "./routes/meta/docs.ts";
import { createRouter } from "./routes/openapi.ts";
import { ordersRouter } from "./routes/orders/orders.index.ts";
import { LiveEventSchema } from "./schemas/live.ts";

const API_TITLE = "Order Service API";

type Request = { req: { method: string; path: string } };

/**
 * The API routes open without a bearer token: the live WebSocket authenticates with its ticket (a
 * browser cannot send a bearer token there), and a guest token is had for the asking.
 */
const isOpen = (c: Request) =>
  (c.req.method === "GET" && c.req.path === "/api/orders/live") ||
  (c.req.method === "POST" && c.req.path === "/api/guest");

/** The routes a guest token opens: the cart's own (not the merge, which needs the user's). */
const isGuestCartRoute = (c: Request) =>
  c.req.path === "/api/cart" || c.req.path.startsWith("/api/cart/items");

/** The OpenAPI 3.1 document of `app`: served at /openapi.json, and linted in CI (dev/openapi.ts). */
export function openApiDocument(app: ReturnType<typeof createRouter>, version: string) {
  return app.getOpenAPI31Document({
    openapi: "3.1.0",
    info: {
      title: API_TITLE,
      version,
      description:
        "Carts, orders, mocked payments, order tracking, notifications and live order status. Money is an " +
        "integer in minor units next to a currency code. Request bodies are JSON (Content-Type " +
        "application/json, UTF-8; anything else is 415). Besides the operations below, a CORS preflight " +
        "(OPTIONS with Origin and Access-Control-Request-Method) is answered 204, with CORS headers for " +
        "the allowed origins; any other method or path, HEAD and other OPTIONS included, is 404.",
      license: { name: "Proprietary" },
    },
    // The storefront calls this API from browsers: it is not internal. The same document is served
    // by every environment, each describing itself at "/".
    servers: [
      {
        url: "/",
        description: "The deployment serving this document (production, staging or local)",
        "x-internal": false,
      },
    ],
  });
}

export function createApp() {
  const app = createRouter();

  app.use(requestId());
  app.use(requestLog);
  app.use(services);
  app.use(documentedMethods);
  app.use(cors);
  app.use("/api/*", async (c, next) => {
    await next();
    c.header("Cache-Control", "no-store");
  });
  // Every request, reads and pages included, is counted per address before anything else is done.
  app.use(ipRateLimit);
  app.use(bodyLimit);
  app.use("/api/*", except(isOpen, requireAuth));
  // Refusals in the order a client can act on: 401 (above), 403 here, then the routes' own 400 and 404.
  app.use(
    "/api/*",
    except((c) => isOpen(c) || isGuestCartRoute(c), requireSignIn),
  );
  app.use("/api/admin/*", requireAdmin);
  app.use("/api/*", except(isOpen, userRateLimit));

  app.route("/", healthRouter);
  app.route("/", guestRouter);
  app.route("/", cartRouter);
  // Before the orders router, whose /api/orders/{order_id} would take "live" for an order id.
  app.route("/", liveRouter);
  app.route("/", ordersRouter);
  app.route("/", adminRouter);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description:
      "HS256 tokens from the user service, or RS256/ES256 tokens from the JWKS_URL identity provider, " +
      "verified as RFC8725 recommends: algorithms pinned per key type, exp required, nbf honoured, and " +
      "issuer and audience checked on the identity provider's tokens",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "guestAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description:
      "A guest token from POST /api/guest: opens the cart routes only, for the guest's own cart; every other " +
      "route answers it 403 SIGN_IN_REQUIRED. Verified as RFC8725 recommends: HS256 only, under this " +
      "service's own key, with its explicit typ (guest+jwt), issuer, audience and exp checked",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "liveTicket", {
    type: "apiKey",
    in: "query",
    name: "ticket",
    description: "A single-use ticket from POST /api/orders/live/ticket, valid 30 s",
  });
  app.openAPIRegistry.register("LiveOrderEvent", LiveEventSchema);
  // Generated once per isolate (the routes never change while it lives), not on every request.
  let document: { version: string; body: ReturnType<typeof openApiDocument> } | undefined;
  app.get("/openapi.json", (c) => {
    const version = c.var.services.config.SERVICE_VERSION;
    if (document?.version !== version) document = { version, body: openApiDocument(app, version) };
    return c.json(document.body);
  });
  mountDocs(app);

  app.onError(onError);
  app.notFound(notFound);
  return app;
}

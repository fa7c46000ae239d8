import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";

describe("service endpoints", () => {
  it("answers liveness", async () => {
    const res = await api("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok", service: "order-service", version: env.SERVICE_VERSION });
    expect(res.headers.get("x-request-id")).toMatch(/^[\w-]+$/);
  });

  it("echoes a caller's X-Request-Id", async () => {
    const res = await api("GET", "/health", { headers: { "x-request-id": "trace-123" } });
    expect(res.headers.get("x-request-id")).toBe("trace-123");
  });

  it("reports readiness with each dependency's state and latency", async () => {
    const res = await api("GET", "/health/ready");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "ready",
      dependencies: {
        database: { status: "up", required: true, latencyMs: expect.any(Number) },
        productService: { status: "up", required: true, latencyMs: expect.any(Number) },
      },
    });
  });

  it("says only up or down and how long, and checks its dependencies once every few seconds", async () => {
    const tag = crypto.randomUUID();
    const app = createApp();
    const configured = {
      ...env,
      PRODUCT_SERVICE_URL: `${env.PRODUCT_SERVICE_URL}/__probe/${tag}`,
      DATABASE_HTTP_ENDPOINT: "http://127.0.0.1:1/sql",
    };
    const ready = async () => {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request("https://orders.test/health/ready"), configured, ctx);
      await waitOnExecutionContext(ctx);
      return { status: res.status, body: (await res.json()) as any };
    };
    const first = await ready();
    expect(first.status).toBe(503);
    // Why the database is down (a refused connection) goes to the log, not to the public.
    expect(Object.keys(first.body.dependencies.database).sort()).toEqual(["latencyMs", "required", "status"]);
    expect(first.body.dependencies.database.status).toBe("down");
    expect(JSON.stringify(first.body)).not.toMatch(/refused|connect|ECONN|error/i);
    const second = await ready();
    expect(second.body).toEqual(first.body);
    const probes = await (await fetch(`${env.PRODUCT_SERVICE_URL}/__admin/probes/${tag}`)).json();
    expect(probes).toEqual({ count: 1 });
  });

  it("answers an unknown route with a 404 envelope", async () => {
    const res = await api("GET", "/nope");
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ success: false, error: { code: "NOT_FOUND" } });
  });

  it("serves an OpenAPI 3.1 document with the bearer scheme and error responses", async () => {
    const res = await api("GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    expect(res.body.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    const addItem = res.body.paths["/api/cart/items"].post;
    expect(addItem.security).toEqual([{ bearerAuth: [] }, { guestAuth: [] }]);
    expect(res.body.components.securitySchemes.guestAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(Object.keys(addItem.responses).sort()).toEqual([
      "200",
      "201",
      "400",
      "401",
      "404",
      "409",
      "413",
      "415",
      "429",
      "500",
      "503",
    ]);
    expect(res.body.components.schemas.ErrorResponse.properties.error.properties.code.enum).toContain(
      "UPSTREAM_UNAVAILABLE",
    );
    const operations = Object.values(
      res.body.paths as Record<string, Record<string, { operationId?: string }>>,
    );
    const operationIds = operations.flatMap((byMethod) =>
      Object.values(byMethod).map((op) => op.operationId),
    );
    expect(operationIds.every((id) => typeof id === "string")).toBe(true);
    expect(new Set(operationIds).size).toBe(operationIds.length);
  });

  it("documents exactly the routes the app serves", async () => {
    const doc = await api("GET", "/openapi.json");
    const documented = new Set<string>();
    for (const [path, operations] of Object.entries(doc.body.paths as Record<string, object>)) {
      for (const method of Object.keys(operations)) documented.add(`${method.toUpperCase()} ${path}`);
    }
    const undocumented = new Set(["GET /openapi.json", "GET /docs"]);
    const served = new Set(
      createApp()
        .routes.filter((route) => route.method !== "ALL")
        .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`)
        .filter((route) => !undocumented.has(route)),
    );
    expect([...served].sort()).toEqual([...documented].sort());
  });

  it("declares what each route can answer: 401 and 503 under /api (but the open guest issuance), 429 everywhere, 413 only on writes", async () => {
    const doc = await api("GET", "/openapi.json");
    const operations = Object.entries(
      doc.body.paths as Record<string, Record<string, { responses: object; security?: unknown[] }>>,
    ).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, op]) => ({
        path,
        method,
        op,
        statuses: Object.keys(op.responses),
      })),
    );
    for (const { path, method, op, statuses } of operations) {
      const name = `${method.toUpperCase()} ${path}`;
      expect(statuses, name).toContain("500");
      const write = method !== "get";
      expect(statuses.includes("413"), name).toBe(write);
      // Every request counts against its address's rate limit (middleware/rate-limit.ts).
      expect(statuses, name).toContain("429");
      // A JSON body's media type is checked (415) exactly where the operation takes one.
      expect(statuses.includes("415"), name).toBe("requestBody" in op);
      if (name === "POST /api/guest") {
        expect(op.security, name).toEqual([]);
      } else if (path.startsWith("/api/")) {
        expect(statuses, name).toEqual(expect.arrayContaining(["401", "503"]));
        expect([
          [{ bearerAuth: [] }],
          [{ bearerAuth: [] }, { guestAuth: [] }],
          [{ liveTicket: [] }],
        ]).toContainEqual(op.security);
      } else {
        expect(op.security, name).toEqual([]);
      }
    }
  });

  it("renders /docs with assets the worker serves itself", async () => {
    const res = await api("GET", "/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.body).toContain("/docs-assets/swagger-ui-bundle.js");
    expect(res.body).toContain("/openapi.json");
    for (const asset of ["/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"]) {
      const response = await env.ASSETS.fetch(`https://orders.test${asset}`);
      expect(response.status, asset).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  });

  it("answers CORS preflights for allowed origins only", async () => {
    const allowed = await api("OPTIONS", "/api/cart", {
      headers: { origin: "https://shop.example.com", "access-control-request-method": "POST" },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://shop.example.com");

    const other = await api("OPTIONS", "/api/cart", {
      headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" },
    });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("sets CORS headers on actual responses to allowed origins", async () => {
    const user = await newUser();
    const res = await api("GET", "/api/cart", {
      headers: { ...user.headers, origin: "https://shop.example.com" },
    });
    expect(res.headers.get("access-control-allow-origin")).toBe("https://shop.example.com");
    expect(res.headers.get("access-control-expose-headers")).toContain("X-Request-Id");
  });
});

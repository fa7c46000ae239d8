import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../src/app-env.ts";
import { isUnavailable } from "../../src/db/client.ts";
import { describeError } from "../../src/lib/log.ts";
import { onError } from "../../src/middleware/error-handler.ts";

function appThrowing(error: unknown) {
  const app = new Hono<AppEnv>();
  app.get("/", () => {
    throw error;
  });
  app.onError(onError);
  return app;
}

describe("error mapping", () => {
  it("answers a Durable Object's retryable or overloaded error with 503, not 500", async () => {
    for (const flag of ["retryable", "overloaded"]) {
      const error = Object.assign(new Error("Durable Object reset because its code was updated."), {
        [flag]: true,
      });
      const res = await appThrowing(error).request("/");
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ error: { code: "UPSTREAM_UNAVAILABLE" } });
    }
  });

  it("answers anything unknown with a bare 500 that leaks nothing", async () => {
    const res = await appThrowing(new Error("relation orders does not exist at 10.0.0.5")).request("/");
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body).toEqual({
      success: false,
      message: "Internal server error",
      error: { code: "INTERNAL_ERROR" },
    });
  });

  it("tells a database that is down from a query that is wrong", () => {
    expect(isUnavailable(new Error("Connection terminated unexpectedly"))).toBe(true);
    expect(isUnavailable(Object.assign(new Error("deadlock detected"), { code: "40P01" }))).toBe(true);
    expect(
      isUnavailable(Object.assign(new Error("the database system is shutting down"), { code: "57P03" })),
    ).toBe(true);
    expect(isUnavailable(Object.assign(new Error("duplicate key"), { code: "23505" }))).toBe(false);
    expect(isUnavailable(Object.assign(new Error("syntax error"), { code: "42601" }))).toBe(false);
    expect(
      isUnavailable(new Error("Failed query", { cause: Object.assign(new Error("x"), { code: "23503" }) })),
    ).toBe(false);
    expect(isUnavailable(new TypeError("cannot read properties of undefined"))).toBe(false);
  });

  it("keeps a failed query's bound values out of the logs", () => {
    const error = new Error(
      'Failed query: insert into "orders" values ($1, $2)\nparams: 42,123 Main St,Mumbai',
    );
    const described = describeError(error);
    expect(JSON.stringify(described)).not.toContain("Main St");
    expect(described.error).toContain("params: [redacted]");
  });
});

import { describe, expect, it } from "vitest";
import { workerWith } from "../helpers/cache.ts";

describe("config: development-only settings outside development", () => {
  it("keeps a worker whose environment is not development from serving with the local database proxies", async () => {
    // The suite's worker runs with the local wsproxy and SQL-over-HTTP endpoint (DATABASE_WS_PROXY,
    // DATABASE_HTTP_ENDPOINT): the same settings in production must stop it, revealing nothing.
    for (const ENVIRONMENT of ["production", "staging"]) {
      const worker = workerWith({ ENVIRONMENT });
      for (const path of ["/health", "/api/cart"]) {
        const res = await worker("GET", path);
        expect(res.status, `${ENVIRONMENT} ${path}`).toBe(500);
        expect(res.body).toMatchObject({ success: false, error: { code: "INTERNAL_ERROR" } });
        expect(JSON.stringify(res.body)).not.toMatch(/DATABASE|ENVIRONMENT|postgres/);
      }
    }
    expect((await workerWith({ ENVIRONMENT: "development" })("GET", "/health")).status).toBe(200);
  });
});

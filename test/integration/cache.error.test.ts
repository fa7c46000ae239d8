import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { newUserId, tokenFor } from "../helpers/auth.ts";

/** The worker configured with a Redis that nothing answers at. */
async function withRedisDown(path: string, headers: Record<string, string> = {}) {
  const app = createApp();
  const downEnv = {
    ...env,
    UPSTASH_REDIS_REST_URL: "http://127.0.0.1:1",
    UPSTASH_REDIS_REST_TOKEN: "test-token",
  };
  const ctx = createExecutionContext();
  const response = await app.fetch(new Request(`https://orders.test${path}`, { headers }), downEnv, ctx);
  await waitOnExecutionContext(ctx);
  return { status: response.status, body: (await response.json()) as any };
}

describe("cache: Redis down", () => {
  it("reports the service degraded, not unavailable", async () => {
    const res = await withRedisDown("/health/ready");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "degraded",
      dependencies: { redis: { status: "down", required: false }, database: { status: "up" } },
    });
  });

  it("still resolves user-service tokens, without the cache and without errors", async () => {
    const username = `shopper_${newUserId()}`;
    const userId = newUserId();
    const registered = await fetch(`${env.USER_SERVICE_URL}/__admin/users`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, userId, role: "USER" }),
    });
    expect(registered.status).toBe(201);
    const token = await tokenFor(username, { role: null });
    const res = await withRedisDown("/api/cart", { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    expect(res.body.data.userId).toBe(userId);
  });
});

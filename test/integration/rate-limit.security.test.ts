import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { newUser } from "../helpers/auth.ts";
import { createProduct } from "../helpers/products.ts";

/**
 * The Rate Limiting binding counts in fixed one-minute windows on the wall clock: a test's few
 * requests must not straddle two of them, so it starts clear of a window's last 3 s.
 */
async function clearOfWindowEdge(): Promise<void> {
  const intoWindow = Date.now() % 60_000;
  if (intoWindow > 57_000) await new Promise((resolve) => setTimeout(resolve, 60_100 - intoWindow));
}

/** The worker with its own rate limits (the suite's config turns the IP limit off), and bindings. */
function workerWithLimits(
  limits: { RATE_LIMIT_USER_PER_MIN: string; RATE_LIMIT_IP_PER_MIN: string },
  bindings: Record<string, unknown> = {},
) {
  const app = createApp();
  const limitedEnv = { ...env, ...limits, ...bindings } as Env;
  let clear: Promise<void> | undefined;
  return async (method: string, path: string, headers: Record<string, string>, json?: unknown) => {
    clear ??= clearOfWindowEdge();
    await clear;
    const ctx = createExecutionContext();
    const body = json === undefined ? undefined : JSON.stringify(json);
    const response = await app.fetch(
      new Request(`https://orders.test${path}`, {
        method,
        headers: json === undefined ? headers : { ...headers, "content-type": "application/json" },
        body,
      }),
      limitedEnv,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  };
}

describe("rate limits", () => {
  it("answers a user's writes past RATE_LIMIT_USER_PER_MIN with 429 and Retry-After, reads and others unaffected", async () => {
    const call = workerWithLimits({ RATE_LIMIT_USER_PER_MIN: "3", RATE_LIMIT_IP_PER_MIN: "0" });
    const user = await newUser();
    const other = await newUser();
    for (let i = 0; i < 3; i++) expect((await call("DELETE", "/api/cart", user.headers)).status).toBe(200);

    const limited = await call("DELETE", "/api/cart", user.headers);
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ success: false, error: { code: "RATE_LIMITED" } });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

    expect((await call("GET", "/api/cart", user.headers)).status).toBe(200);
    expect((await call("DELETE", "/api/cart", other.headers)).status).toBe(200);
  });

  it("counts IPv6 clients by their /64", async () => {
    const call = workerWithLimits({ RATE_LIMIT_USER_PER_MIN: "0", RATE_LIMIT_IP_PER_MIN: "2" });
    const hex = () => Math.floor(Math.random() * 0xffff).toString(16);
    const prefix = `2001:db8:${hex()}:${hex()}`;
    const users = await Promise.all([newUser(), newUser(), newUser()]);
    const statuses = [];
    for (const [index, user] of users.entries()) {
      const ip = `${prefix}:${index + 1}::${hex()}`;
      statuses.push((await call("DELETE", "/api/cart", { ...user.headers, "cf-connecting-ip": ip })).status);
    }
    expect(statuses).toEqual([200, 200, 429]);
    const nextNetwork = `2001:db8:${hex()}:${hex()}::1`;
    expect(
      (await call("DELETE", "/api/cart", { ...users[0]?.headers, "cf-connecting-ip": nextNetwork })).status,
    ).toBe(200);
  });

  it("limits writes without CF-Connecting-IP per user only, not in one shared bucket", async () => {
    const call = workerWithLimits({ RATE_LIMIT_USER_PER_MIN: "0", RATE_LIMIT_IP_PER_MIN: "1" });
    const users = await Promise.all([newUser(), newUser(), newUser()]);
    for (const user of users) expect((await call("DELETE", "/api/cart", user.headers)).status).toBe(200);
  });

  it("answers writes from one address past RATE_LIMIT_IP_PER_MIN with 429, whoever sends them", async () => {
    const call = workerWithLimits({ RATE_LIMIT_USER_PER_MIN: "0", RATE_LIMIT_IP_PER_MIN: "2" });
    const ip = `192.0.2.${Math.floor(Math.random() * 250) + 1}-${crypto.randomUUID()}`;
    const users = await Promise.all([newUser(), newUser(), newUser()]);
    const statuses = [];
    for (const user of users) {
      statuses.push((await call("DELETE", "/api/cart", { ...user.headers, "cf-connecting-ip": ip })).status);
    }
    expect(statuses).toEqual([200, 200, 429]);
    const elsewhere = await call("DELETE", "/api/cart", {
      ...users[0]?.headers,
      "cf-connecting-ip": `${ip}-other`,
    });
    expect(elsewhere.status).toBe(200);
  });

  it("limits before authenticating, so floods of bad tokens from one address are cut off too", async () => {
    const call = workerWithLimits({ RATE_LIMIT_USER_PER_MIN: "0", RATE_LIMIT_IP_PER_MIN: "1" });
    const ip = `flood-${crypto.randomUUID()}`;
    expect(
      (await call("POST", "/api/orders", { authorization: "Bearer x.y.z", "cf-connecting-ip": ip })).status,
    ).toBe(401);
    expect(
      (await call("POST", "/api/orders", { authorization: "Bearer x.y.z", "cf-connecting-ip": ip })).status,
    ).toBe(429);
  });

  it("applies nothing of a write either limit refuses, though both are checked at once", async () => {
    const call = workerWithLimits({ RATE_LIMIT_USER_PER_MIN: "5", RATE_LIMIT_IP_PER_MIN: "1" });
    const ip = `shared-${crypto.randomUUID()}`;
    const product = await createProduct();
    const [first, second] = await Promise.all([newUser(), newUser()]);
    const add = (user: typeof first) =>
      call(
        "POST",
        "/api/cart/items",
        { ...user.headers, "cf-connecting-ip": ip },
        { productId: product.id, quantity: 1 },
      );

    expect((await add(first)).status).toBe(201);
    const refused = await add(second);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe("RATE_LIMITED");
    expect((await call("GET", "/api/cart", second.headers)).body.data.items).toEqual([]);
  });
});

/** A limiter binding that cannot answer (its Durable Object or the platform's counter is down). */
const failingObjects = () => {
  const calls = { count: 0 };
  const namespace = {
    getByName() {
      calls.count += 1;
      return {
        take: () => Promise.reject(new Error("Durable Object reset because its code was updated")),
      };
    },
  };
  return { calls, namespace };
};
const failingBinding = { limit: () => Promise.reject(new Error("rate limiting unavailable")) };
const hangingBinding = { limit: () => new Promise(() => {}) };

describe("rate limits: every request per address, through the Rate Limiting binding", () => {
  it("limits reads and public endpoints per address too", async () => {
    const call = workerWithLimits({ RATE_LIMIT_USER_PER_MIN: "0", RATE_LIMIT_IP_PER_MIN: "3" });
    const ip = `198.51.100.${Math.floor(Math.random() * 250) + 1}-${crypto.randomUUID()}`;
    const user = await newUser();
    const headers = { ...user.headers, "cf-connecting-ip": ip };
    expect((await call("GET", "/api/cart", headers)).status).toBe(200);
    expect((await call("GET", "/api/cart", headers)).status).toBe(200);
    expect((await call("GET", "/health", { "cf-connecting-ip": ip })).status).toBe(200);
    const refused = await call("GET", "/api/cart", headers);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ success: false, error: { code: "RATE_LIMITED" } });
    expect(refused.headers.get("cache-control")).toBe("no-store");
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((await call("GET", "/health", { "cf-connecting-ip": ip })).status).toBe(429);
  });

  it("counts anonymous callers without creating a limiter object for them", async () => {
    const objects = failingObjects();
    const call = workerWithLimits(
      { RATE_LIMIT_USER_PER_MIN: "5", RATE_LIMIT_IP_PER_MIN: "2" },
      { RATE_LIMITER: objects.namespace },
    );
    const ip = `anonymous-${crypto.randomUUID()}`;
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push(
        (await call("POST", "/api/orders", { authorization: "Bearer x.y.z", "cf-connecting-ip": ip })).status,
      );
    expect(statuses).toEqual([401, 401, 429]);
    expect(objects.calls.count).toBe(0);
  });
});

describe("rate limits: when a limiter itself fails", () => {
  it("keeps limiting a user's writes in the isolate when the user's limiter object cannot answer", async () => {
    const call = workerWithLimits(
      { RATE_LIMIT_USER_PER_MIN: "2", RATE_LIMIT_IP_PER_MIN: "0" },
      { RATE_LIMITER: failingObjects().namespace },
    );
    const user = await newUser();
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call("DELETE", "/api/cart", user.headers)).status);
    expect(statuses).toEqual([200, 200, 429]);
    const other = await newUser();
    expect((await call("DELETE", "/api/cart", other.headers)).status).toBe(200);
  });

  for (const [name, binding] of [
    ["fails", failingBinding],
    ["does not answer", hangingBinding],
  ] as const) {
    it(`keeps limiting guest tokens per address in the isolate when GUEST_ISSUANCE ${name}`, async () => {
      const call = workerWithLimits(
        { RATE_LIMIT_USER_PER_MIN: "0", RATE_LIMIT_IP_PER_MIN: "0" },
        { GUEST_ISSUANCE: binding },
      );
      const ip = `guest-limiter-down-${crypto.randomUUID()}`;
      const statuses: number[] = [];
      for (let i = 0; i < 21; i++)
        statuses.push((await call("POST", "/api/guest", { "cf-connecting-ip": ip })).status);
      expect(statuses.filter((status) => status === 201)).toHaveLength(20);
      expect(statuses.at(-1)).toBe(429);
    });

    it(`keeps limiting an address in the isolate when the Rate Limiting binding ${name}`, async () => {
      const call = workerWithLimits(
        { RATE_LIMIT_USER_PER_MIN: "0", RATE_LIMIT_IP_PER_MIN: "2" },
        { IP_RATE_LIMITER: binding, RATE_LIMITER: failingObjects().namespace },
      );
      const ip = `limiter-down-${crypto.randomUUID()}`;
      const user = await newUser();
      const statuses = [];
      for (let i = 0; i < 3; i++)
        statuses.push(
          (await call("DELETE", "/api/cart", { ...user.headers, "cf-connecting-ip": ip })).status,
        );
      expect(statuses).toEqual([200, 200, 429]);
    });
  }
});

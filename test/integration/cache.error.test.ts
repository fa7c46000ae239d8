import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { newUser, newUserId, registerUser, tokenFor } from "../helpers/auth.ts";
import { hasRedis, workerWith } from "../helpers/cache.ts";
import { createProduct, productReads } from "../helpers/products.ts";

/** A Redis URL of this test's own (the outage state is kept per URL and isolate). */
const fault = (kind: string) => `${env.UPSTASH_REDIS_REST_URL}/__fault/${kind}/${crypto.randomUUID()}`;

/** The worker configured with a Redis that nothing answers at. */
const redisUnreachable = () =>
  workerWith({
    UPSTASH_REDIS_REST_URL: `http://127.0.0.1:1/${crypto.randomUUID()}`,
    UPSTASH_REDIS_REST_TOKEN: "test-token",
  });

/**
 * What a cart add may cost when Redis misbehaves: the cache deadline (1 s in tests) plus the product
 * service call, well inside the 3 s upstream deadline.
 */
const BUDGET_MS = Number(env.CACHE_TIMEOUT_MS) + 1500;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("cache: Redis down", () => {
  it("reports the service degraded, not unavailable", async () => {
    const res = await redisUnreachable()("GET", "/health/ready");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "degraded",
      dependencies: { redis: { status: "down", required: false }, database: { status: "up" } },
    });
  });

  it("reports Redis as not configured without one, and stays ready", async () => {
    const res = await workerWith({ UPSTASH_REDIS_REST_URL: "", UPSTASH_REDIS_REST_TOKEN: "" })(
      "GET",
      "/health/ready",
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "ready",
      dependencies: { redis: { status: "not_configured", required: false } },
    });
  });

  it("still resolves user-service tokens, without the cache and without errors", async () => {
    const username = `shopper_${newUserId()}`;
    const userId = newUserId();
    await registerUser(username, userId, "USER");
    const token = await tokenFor(username, { role: null });
    const res = await redisUnreachable()("GET", "/api/cart", {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    expect(res.body.data.userId).toBe(userId);
  });
});

describe.skipIf(!hasRedis)("cache: Redis failing behind the endpoint", () => {
  const failures = {
    "Redis is stopped": () => env.TEST_UPSTASH_DOWN_REST_URL,
    "the endpoint answers 500": () => fault("error"),
    "the endpoint hangs": () => fault("hang"),
    "the endpoint answers garbage": () => fault("garbage"),
  };

  for (const [failure, url] of Object.entries(failures)) {
    it(`adds to carts within the timeout budget when ${failure}`, async () => {
      const worker = workerWith({ UPSTASH_REDIS_REST_URL: url() });
      // A product of each add's own: the isolate's copy of a product looked up a moment ago would
      // spare the second add its Redis call, and this is about that call.
      for (const user of [await newUser(), await newUser()]) {
        const product = await createProduct({ price: 1999 });
        const res = await worker("POST", "/api/cart/items", {
          headers: user.headers,
          json: { productId: product.id, quantity: 1 },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        expect(res.body.data).toMatchObject({ productName: product.name, price: 1999 });
        expect(res.ms).toBeLessThan(BUDGET_MS);
        // Redis answered nothing usable: the add asked the product service.
        expect(await productReads(product.id)).toBe(1);
      }
    });
  }

  it("reports a hanging Redis as down within the cache deadline, and stays ready", async () => {
    const res = await workerWith({ UPSTASH_REDIS_REST_URL: fault("hang") })("GET", "/health/ready");
    expect(res.status).toBe(200);
    expect(res.body.dependencies.redis).toMatchObject({ status: "down", required: false });
    expect(res.body.dependencies.redis.latencyMs).toBeLessThan(BUDGET_MS);
  });

  it("refuses a wrong token like an outage: no errors, no cache", async () => {
    const worker = workerWith({ UPSTASH_REDIS_REST_TOKEN: "not-the-token" });
    const user = await newUser();
    const product = await createProduct();
    const res = await worker("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 1 },
    });
    expect(res.status).toBe(201);
  });

  it("logs an outage once per burst, not once per request", async () => {
    const warn = vi.spyOn(console, "warn");
    const worker = workerWith({ UPSTASH_REDIS_REST_URL: fault("error") });
    const product = await createProduct();
    const add = async () => {
      const user = await newUser();
      const res = await worker("POST", "/api/cart/items", {
        headers: user.headers,
        json: { productId: product.id, quantity: 1 },
      });
      expect(res.status).toBe(201);
    };
    for (let i = 0; i < 5; i++) await add();
    // Past the bypass window the next add tries Redis again, fails again, and still logs nothing new.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    for (let i = 0; i < 3; i++) await add();

    const outages = warn.mock.calls.filter(([line]) => String(line).includes("cache unavailable"));
    expect(outages).toHaveLength(1);
  });
});

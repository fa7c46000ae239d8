import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/lib/ids.ts";
import { newUser, newUserId, registerUser, tokenFor, validations } from "../helpers/auth.ts";
import { hasRedis, redis, redisKey, workerWith } from "../helpers/cache.ts";
import { api } from "../helpers/http.ts";
import { addToCart, CASH_ON_DELIVERY, eventually, placeOrder } from "../helpers/orders.ts";
import { createProduct, productReads, updateProduct } from "../helpers/products.ts";

const productKey = (id: string) => redisKey(`product:v1:${id}`);

/** Waits until the first add's background write has landed in Redis. */
async function cached(productId: string): Promise<void> {
  const exists = await eventually(
    () => redis<number>("EXISTS", productKey(productId)),
    (count) => count === 1,
    5_000,
  );
  expect(exists).toBe(1);
}

describe.skipIf(!hasRedis)("cache: product lookups through Redis", () => {
  it("serves six users' adds of one product with one product-service call while the entry lives", async () => {
    const product = await createProduct({ price: 4200 });
    const users = await Promise.all(Array.from({ length: 6 }, () => newUser()));
    await addToCart(users[0] as { headers: Record<string, string> }, product.id, 1);
    await cached(product.id);

    const lines = await Promise.all(users.slice(1).map((user) => addToCart(user, product.id, 2)));
    for (const line of lines) {
      expect(line).toMatchObject({
        productId: product.id,
        productName: product.name,
        price: 4200,
        quantity: 2,
      });
    }
    expect(await productReads(product.id)).toBe(1);
  });

  it("shares one product-service call among concurrent first adds (single-flight)", async () => {
    // The product service answers late, so all six lookups are in flight at once.
    const product = await createProduct({ faults: { get: "lag" } });
    const users = await Promise.all(Array.from({ length: 6 }, () => newUser()));
    const results = await Promise.all(
      users.map((user) =>
        api("POST", "/api/cart/items", {
          headers: user.headers,
          json: { productId: product.id, quantity: 1 },
        }),
      ),
    );
    expect(results.map((res) => res.status)).toEqual([201, 201, 201, 201, 201, 201]);
    expect(await productReads(product.id)).toBe(1);
  });

  it("grows a line from the cache, while checkout re-reads the product fresh", async () => {
    const user = await newUser();
    const product = await createProduct({ stock: 10 });
    const line = await addToCart(user, product.id, 1);
    await cached(product.id);
    const grown = await api("PUT", `/api/cart/items/${line.id}`, {
      headers: user.headers,
      json: { quantity: 3 },
    });
    expect(grown.status).toBe(200);
    expect(await productReads(product.id)).toBe(1);

    const order = await placeOrder(user, CASH_ON_DELIVERY);
    expect(order.status).toBe(201);
    expect(await productReads(product.id)).toBe(2);
  });

  it("asks the product service again once the entry has expired", async () => {
    const shortLived = workerWith({ PRODUCT_CACHE_TTL_SECONDS: "1" });
    const product = await createProduct();
    const [first, second] = [await newUser(), await newUser()];
    const addedAt = Date.now();
    const added = await shortLived("POST", "/api/cart/items", {
      headers: first.headers,
      json: { productId: product.id, quantity: 1 },
    });
    expect(added.status).toBe(201);
    // Stored to expire within the second; gone only if a second has passed (a slow machine).
    const ttlMs = await redis<number>("PTTL", productKey(product.id));
    const expired = ttlMs === -2 && Date.now() - addedAt >= 1000;
    expect(expired || (ttlMs > 0 && ttlMs <= 1000), `PTTL ${ttlMs}`).toBe(true);

    const gone = await eventually(
      () => redis<number>("EXISTS", productKey(product.id)),
      (count) => count === 0,
      5_000,
    );
    expect(gone).toBe(0);
    const again = await shortLived("POST", "/api/cart/items", {
      headers: second.headers,
      json: { productId: product.id, quantity: 1 },
    });
    expect(again.status).toBe(201);
    expect(await productReads(product.id)).toBe(2);
  });

  it("keeps an entry about a minute by default", async () => {
    const user = await newUser();
    const product = await createProduct();
    await addToCart(user, product.id, 1);
    await cached(product.id);
    const ttl = await redis<number>("TTL", productKey(product.id));
    expect(ttl).toBeGreaterThan(50);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  for (const [poison, value] of [
    ["not JSON", "not json{"],
    ["JSON of another shape", JSON.stringify({ id: "x", name: "Free stuff", price: "free" })],
    ["a product missing fields", JSON.stringify({ name: "Half a product", price: 1 })],
  ] as const) {
    it(`treats ${poison} in an entry as a miss and replaces it`, async () => {
      const user = await newUser();
      const product = await createProduct({ price: 777 });
      await redis("SET", productKey(product.id), value, "EX", 60);

      const line = await addToCart(user, product.id, 1);
      expect(line).toMatchObject({ productName: product.name, price: 777 });
      expect(await productReads(product.id)).toBe(1);
      const replaced = await eventually(
        () => redis<string | null>("GET", productKey(product.id)),
        (raw) => raw !== value,
        5_000,
      );
      expect(JSON.parse(replaced as string)).toMatchObject({ id: product.id, price: 777 });
    });
  }

  it("caches a user-service answer until the token expires", async () => {
    const username = `shopper_${newUserId()}`;
    const userId = newUserId();
    await registerUser(username, userId, "USER");
    const token = await tokenFor(username, { role: null, expiresIn: "10m" });
    const res = await api("GET", "/api/cart", { headers: { authorization: `Bearer ${token}` } });
    expect(res.body.data.userId).toBe(userId);

    const key = redisKey(`auth:v2:${await sha256Hex(token)}`);
    const ttl = await eventually(
      () => redis<number>("TTL", key),
      (seconds) => seconds > 0,
      5_000,
    );
    expect(ttl).toBeGreaterThan(540);
    expect(ttl).toBeLessThanOrEqual(600);
    // Sealed with an HMAC under a key of the service's own (see auth.cache.security.test.ts).
    expect(JSON.parse(await redis<string>("GET", key))).toEqual({
      id: userId,
      role: "USER",
      mac: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    });

    const again = await api("GET", "/api/cart", { headers: { authorization: `Bearer ${token}` } });
    expect(again.body.data.userId).toBe(userId);
    expect(await validations(username)).toBe(1);
  });
});

describe("cache: the isolate's copy of a product, with or without Redis", () => {
  const withoutRedis = { UPSTASH_REDIS_REST_URL: "", UPSTASH_REDIS_REST_TOKEN: "" };
  const add = (
    worker: ReturnType<typeof workerWith>,
    user: { headers: Record<string, string> },
    id: string,
  ) => worker("POST", "/api/cart/items", { headers: user.headers, json: { productId: id, quantity: 1 } });

  it("serves adds of a product looked up a moment ago without asking the product service again", async () => {
    const worker = workerWith(withoutRedis);
    const product = await createProduct({ price: 610 });
    for (const user of [await newUser(), await newUser(), await newUser()]) {
      const res = await add(worker, user, product.id);
      expect(res.status).toBe(201);
      expect(res.body.data).toMatchObject({ productName: product.name, price: 610 });
    }
    expect(await productReads(product.id)).toBe(1);
  });

  it("keeps its copy at most 5 s, whatever PRODUCT_CACHE_TTL_SECONDS says", async () => {
    const worker = workerWith({ ...withoutRedis, PRODUCT_CACHE_TTL_SECONDS: "3600" });
    const product = await createProduct({ price: 610 });
    expect((await add(worker, await newUser(), product.id)).status).toBe(201);
    await updateProduct(product.id, { price: 650 });

    await new Promise((resolve) => setTimeout(resolve, 5_100));
    const later = await add(worker, await newUser(), product.id);
    expect(later.body.data).toMatchObject({ price: 650 });
    expect(await productReads(product.id)).toBe(2);
  });

  it("keeps no copy when the product cache is off (PRODUCT_CACHE_TTL_SECONDS=0)", async () => {
    const worker = workerWith({ PRODUCT_CACHE_TTL_SECONDS: "0" });
    const product = await createProduct();
    for (const user of [await newUser(), await newUser()]) {
      expect((await add(worker, user, product.id)).status).toBe(201);
    }
    expect(await productReads(product.id)).toBe(2);
  });
});

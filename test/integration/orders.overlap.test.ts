// A checkout asks what it must know before touching stock at once (issue 17): the Idempotency-Key's
// claim, the open orders and each product. What that must not change: nothing is reserved until all
// of them have answered, the claim's answer wins, the twin that claimed the key places the order, and
// no more calls are in flight than a Worker invocation has connections.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config.ts";
import { Database, type HttpDb } from "../../src/db/client.ts";
import { WORKER_CONNECTIONS } from "../../src/lib/concurrency.ts";
import { ApiError } from "../../src/lib/errors.ts";
import { idempotentOverlapping } from "../../src/services/idempotency.ts";
import { checkout } from "../../src/services/orders/checkout.ts";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import {
  addToCart,
  CASH_ON_DELIVERY,
  cartWith,
  orderDeps,
  placeOrder,
  SEED_ORDER,
} from "../helpers/orders.ts";
import {
  createProduct,
  peakInFlight,
  productCalls,
  readProduct,
  type TestProduct,
  updateProduct,
} from "../helpers/products.ts";

const cartOf = async (user: { headers: Record<string, string> }) =>
  (await api("GET", "/api/cart", { headers: user.headers })).body.data.items.map(
    (item: { productId: string; quantity: number }) => [item.productId, item.quantity],
  );

describe("a checkout that asks what it must know at once", () => {
  it("replays a key whose cart holds new lines, making no stock call for them", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const key = { "idempotency-key": `overlap-${crypto.randomUUID()}` };
    const first = await placeOrder(user, CASH_ON_DELIVERY, key);
    expect(first.status).toBe(201);

    const added = await cartWith(user, 3, { stock: 10 });
    const replay = await placeOrder(user, CASH_ON_DELIVERY, key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body.data).toEqual(first.body.data);
    // The new line was read alongside the claim, never reserved; the cart keeps it.
    expect((await productCalls(added.id)).filter((call) => call.method === "PATCH")).toEqual([]);
    expect((await readProduct(added.id)).stock).toBe(10);
    expect(await cartOf(user)).toEqual([[added.id, 3]]);
  });

  it("refuses a key reused with another body, reserving nothing", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const key = { "idempotency-key": `overlap-${crypto.randomUUID()}` };
    expect((await placeOrder(user, CASH_ON_DELIVERY, key)).status).toBe(201);

    const added = await cartWith(user, 2, { stock: 10 });
    const reused = await placeOrder(user, SEED_ORDER, key);
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");
    expect((await readProduct(added.id)).stock).toBe(10);
    expect(await cartOf(user)).toEqual([[added.id, 2]]);
  });

  it("answers 503 when the database is down as it starts, reserving nothing", async () => {
    const user = await newUser();
    const products = [await cartWith(user, 2, { stock: 10 }), await cartWith(user, 1, { stock: 10 })];
    const failure = await checkoutWith(new Unreachable(getConfig(env)), user.id, `down-${user.id}`).catch(
      (error: unknown) => error,
    );
    expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
    for (const product of products) {
      expect((await productCalls(product.id)).filter((call) => call.method === "PATCH")).toEqual([]);
      expect((await readProduct(product.id)).stock).toBe(10);
    }
    // The cart is unlocked and whole: the next checkout goes through.
    expect(await cartOf(user)).toEqual(products.map((product, i) => [product.id, 2 - i]));
    expect((await placeOrder(user, CASH_ON_DELIVERY)).status).toBe(201);
  });

  it("lets the twin that claimed the key wait for the lock the other twin took, and place the order", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const key = `twins-${user.id}`;
    // The first twin locks the cart at once but reaches the database late; the second claims the
    // key first, and finds the cart locked by the first.
    const first = checkoutWith(new Late(getConfig(env), 300), user.id, key);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = checkoutWith(new Database(getConfig(env)), user.id, key);
    const [lost, won] = await Promise.allSettled([first, second]);
    expect(lost.status === "rejected" && (lost.reason as ApiError).code).toBe("IDEMPOTENCY_KEY_IN_FLIGHT");
    expect(won.status === "fulfilled" && won.value.body.items).toMatchObject([
      { productId: product.id, quantity: 2 },
    ]);
    expect((await readProduct(product.id)).stock).toBe(8);
    expect(await cartOf(user)).toEqual([]);
  });

  it("lets the twin that claimed the key place the order while the other twin's read still hangs", async () => {
    const user = await newUser();
    const products = [];
    for (let i = 0; i < 3; i++) {
      const product = await createProduct({ stock: 10 });
      await addToCart(user, product.id, 1);
      products.push(product);
    }
    const [slow] = products as [TestProduct, ...TestProduct[]];
    await updateProduct(slow.id, { faults: { get: "slow" } });
    const key = `twins-slow-${user.id}`;
    // The first twin locks the cart at once, reaches the database late, and its read of one product
    // hangs; once that read is sent, the product answers quickly again for the second twin.
    const before = (await productCalls(slow.id)).length;
    let lockHolderAnsweredAt = Number.POSITIVE_INFINITY;
    const lockHolder = checkoutWith(new Late(getConfig(env), 300), user.id, key).finally(() => {
      lockHolderAnsweredAt = Date.now();
    });
    while ((await productCalls(slow.id)).length === before) await new Promise((r) => setTimeout(r, 5));
    await updateProduct(slow.id, { faults: {} });
    const keyHolder = checkoutWith(new Database(getConfig(env)), user.id, key);
    const [lost, won] = await Promise.allSettled([lockHolder, keyHolder]);
    // The lock holder gave up when its claim was refused, before its read had ended (it is still
    // hanging, or timed out later).
    expect(lost.status === "rejected" && (lost.reason as ApiError).code).toBe("IDEMPOTENCY_KEY_IN_FLIGHT");
    const [hung] = (await productCalls(slow.id)).slice(before);
    expect(hung?.endedAt ?? Number.POSITIVE_INFINITY).toBeGreaterThan(lockHolderAnsweredAt);
    expect(won.status === "fulfilled" && won.value.body.items).toHaveLength(3);
    for (const product of products) expect((await readProduct(product.id)).stock).toBe(9);
  });

  it(`never has more than ${WORKER_CONNECTIONS} calls in flight, even for a 10-line cart of slow products`, async () => {
    const user = await newUser();
    // Each product answers 400 ms late, so calls started together overlap at the product service.
    const products = [];
    for (let i = 0; i < 10; i++) {
      const product = await createProduct({ stock: 10 });
      await addToCart(user, product.id, 1);
      products.push(product);
    }
    for (const product of products) await updateProduct(product.id, { faults: { get: "lag", stock: "lag" } });
    const earlier = await Promise.all(
      products.map(async (product) => (await productCalls(product.id)).length),
    );
    const placed = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": `wide-${user.id}` });
    expect(placed.status).toBe(201);
    const calls = (
      await Promise.all(
        products.map(async (product, i) => (await productCalls(product.id)).slice(earlier[i])),
      )
    ).flat();
    // Each product read once and reserved once, by this checkout.
    expect(calls.map((call) => call.method).sort()).toEqual([
      ...Array<string>(10).fill("GET"),
      ...Array<string>(10).fill("PATCH"),
    ]);
    const peak = peakInFlight(calls);
    expect(peak).toBeLessThanOrEqual(WORKER_CONNECTIONS);
    // The reads did go together (one at a time would be 1).
    expect(peak).toBeGreaterThanOrEqual(WORKER_CONNECTIONS - 2);
    for (const product of products) expect((await readProduct(product.id)).stock).toBe(9);
  });
});

/** A checkout with `key`, as the route runs it, on `database`. */
function checkoutWith(database: Database, userId: number, key: string) {
  const deps = orderDeps(database);
  return idempotentOverlapping(
    database,
    { userId, key, scope: "POST /api/orders", body: CASH_ON_DELIVERY },
    async (complete) => ({ status: 201, body: await checkout(deps, userId, CASH_ON_DELIVERY, complete) }),
  ).finally(() => deps.events.drain().finally(() => database.close()));
}

/** The order database, every statement of which arrives `ms` late. */
class Late extends Database {
  private readonly ms: number;
  constructor(config: ReturnType<typeof getConfig>, ms: number) {
    super(config);
    this.ms = ms;
  }
  override async once<T>(work: (db: HttpDb) => Promise<T>): Promise<T> {
    await new Promise((resolve) => setTimeout(resolve, this.ms));
    return super.once(work);
  }
}

/** The order database, unreachable for every statement and batch. */
class Unreachable extends Database {
  override once<T>(_work: (db: HttpDb) => Promise<T>): Promise<T> {
    return Promise.reject(new ApiError("DATABASE_UNAVAILABLE", "The order database is unavailable"));
  }
  override batch<T>(_work: (db: HttpDb) => Promise<T>): Promise<T> {
    return Promise.reject(new ApiError("DATABASE_UNAVAILABLE", "The order database is unavailable"));
  }
}

// A checkout asks the origins as few times in turn as it safely can (issue 17). Two ways, chosen by
// what the cart and the isolate know before anything is asked:
// - reserving first: the reads and the reservations at once, then the placing batch, which claims
//   the Idempotency-Key and checks the open orders itself; whatever is refused gives the stock back.
// - asking first: the key's claim, the open orders and the reads at once, then the reservations,
//   then the batch; nothing is reserved until all of them have answered, and the claim's answer wins.
// And, either way: a twin of a checkout in progress is refused at once, and no more calls are in
// flight than a Worker invocation has connections.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config.ts";
import { Database, type HttpDb, withDatabase } from "../../src/db/client.ts";
import { WORKER_CONNECTIONS } from "../../src/lib/concurrency.ts";
import type { ApiError } from "../../src/lib/errors.ts";
import { cartStub } from "../../src/services/cart.ts";
import { requestHashOf } from "../../src/services/idempotency.ts";
import { newUser } from "../helpers/auth.ts";
import {
  cartOf,
  checkoutUnderway,
  checkoutWith,
  databaseAnswered,
  expectReplay,
  keyTakenElsewhere,
  stockCalls,
} from "../helpers/checkout.ts";
import { addToCart, CASH_ON_DELIVERY, cartWith, placeOrder, SEED_ORDER } from "../helpers/orders.ts";
import {
  createProduct,
  peakInFlight,
  productCalls,
  readProduct,
  type TestProduct,
  updateProduct,
} from "../helpers/products.ts";

type User = Awaited<ReturnType<typeof newUser>>;

/** A cart of `count` new products (10 in stock), one of each. */
async function cartOfProducts(user: User, count: number): Promise<TestProduct[]> {
  const products = [];
  for (let i = 0; i < count; i++) {
    const product = await createProduct({ stock: 10 });
    await addToCart(user, product.id, 1);
    products.push(product);
  }
  return products;
}

describe("a checkout that reserves first", () => {
  it("asks the database once, the placing batch, after reading and reserving at once", async () => {
    const user = await newUser();
    const products = await cartOfProducts(user, 3);
    for (const product of products) await updateProduct(product.id, { faults: { get: "lag", stock: "lag" } });
    const database = new Counting(getConfig(env));
    await database.ping(); // the isolate has heard the database answer
    database.calls = [];

    const before = await Promise.all(
      products.map(async (product) => (await productCalls(product.id)).length),
    );
    let askedBeforeAnswering: string[] = [];
    const placed = await checkoutWith(database, user.id, `first-${user.id}`, CASH_ON_DELIVERY, () => {
      askedBeforeAnswering = [...database.calls];
    });
    expect(placed.body.items).toHaveLength(3);
    // The first thing asked of the database is the placing batch (the outbox's mark may follow it,
    // in the background, once the event is sent).
    expect(askedBeforeAnswering[0]).toBe("batch");
    expect(askedBeforeAnswering.filter((call) => call === "batch")).toHaveLength(1);
    const calls = (
      await Promise.all(products.map(async (product, i) => (await productCalls(product.id)).slice(before[i])))
    ).flat();
    expect(calls.map((call) => call.method).sort()).toEqual(["GET", "GET", "GET", "PATCH", "PATCH", "PATCH"]);
    // All six together: the reads did not wait for the reservations, nor these for the reads.
    expect(peakInFlight(calls)).toBe(WORKER_CONNECTIONS);
    for (const product of products) expect((await readProduct(product.id)).stock).toBe(9);
    expect(await cartOf(user)).toEqual([]);
  });

  it("gives the others' stock back when a product is no longer sold", async () => {
    const user = await newUser();
    const [kept, gone, other] = (await cartOfProducts(user, 3)) as [TestProduct, TestProduct, TestProduct];
    await updateProduct(gone.id, { isActive: false });
    await databaseAnswered();
    const refused = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": `gone-${user.id}` });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("PRODUCT_UNAVAILABLE");
    for (const product of [kept, gone, other]) expect((await readProduct(product.id)).stock).toBe(10);
    // Reserved alongside the reads, then released: two stock calls each.
    expect(await stockCalls(kept)).toBe(2);
    expect(await cartOf(user)).toEqual([kept, gone, other].map((product) => [product.id, 1]));
  });

  it("gives the others' stock back when one line's stock runs short", async () => {
    const user = await newUser();
    const [first, short] = (await cartOfProducts(user, 2)) as [TestProduct, TestProduct];
    await updateProduct(short.id, { stock: 0 });
    await databaseAnswered();
    const refused = await placeOrder(user, CASH_ON_DELIVERY);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("INSUFFICIENT_STOCK");
    expect((await readProduct(first.id)).stock).toBe(10);
    expect((await readProduct(short.id)).stock).toBe(0);
    expect(await cartOf(user)).toEqual([first, short].map((product) => [product.id, 1]));
  });

  it("gives the stock back when the batch finds the user at the open-order limit, then asks first", async () => {
    const user = await newUser();
    for (let i = 0; i < getConfig(env).MAX_OPEN_ORDERS_PER_USER; i++) {
      await cartWith(user, 1);
      expect((await placeOrder(user, CASH_ON_DELIVERY)).status).toBe(201);
    }
    const product = await cartWith(user, 2, { stock: 10 });
    await databaseAnswered();
    const refused = await placeOrder(user, CASH_ON_DELIVERY);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("TOO_MANY_OPEN_ORDERS");
    expect((await readProduct(product.id)).stock).toBe(10);
    expect(await stockCalls(product)).toBe(2); // reserved, then given back

    // The cart remembers that refusal: the next checkout counts the open orders before reserving.
    const again = await placeOrder(user, CASH_ON_DELIVERY);
    expect(again.body.error?.code).toBe("TOO_MANY_OPEN_ORDERS");
    expect(await stockCalls(product)).toBe(2);
    expect(await cartOf(user)).toEqual([[product.id, 2]]);
  });

  it("answers a key another operation used with that key's refusal, giving the stock back", async () => {
    const user = await newUser();
    const product = await cartWith(user, 1, { stock: 10 });
    const key = `elsewhere-${user.id}`;
    // The key is new to the cart, but taken in the database by another operation's request.
    await keyTakenElsewhere(user.id, key);
    await databaseAnswered();
    const refused = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");
    expect((await readProduct(product.id)).stock).toBe(10);
    expect(await stockCalls(product)).toBe(2);
    expect(await cartOf(user)).toEqual([[product.id, 1]]);
  });

  it("in an outage the isolate has not seen yet, leaves the stock with the cart, which the next checkout settles", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const down = new Unreachable(getConfig(env));
    await new Database(getConfig(env)).ping(); // the last word the isolate had: an answer

    const failure = await checkoutWith(down, user.id, `unseen-${user.id}`).catch((error: unknown) => error);
    expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
    // Reserved before the batch failed; whether the batch landed cannot be told: never released blindly.
    expect((await readProduct(product.id)).stock).toBe(8);
    expect(await cartOf(user)).toEqual([[product.id, 2]]);

    // The database is back: the next checkout settles the first (not placed: its stock is released), then orders.
    const placed = await placeOrder(user, CASH_ON_DELIVERY);
    expect(placed.status).toBe(201);
    expect((await readProduct(product.id)).stock).toBe(8);
    expect(await stockCalls(product)).toBe(3); // reserved, released, reserved
    expect(await cartOf(user)).toEqual([]);
  });
});

describe("a checkout that asks first", () => {
  it("asks the key's claim and the open orders alongside the reads, then reserves", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const key = `asks-${user.id}`;
    expect((await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key })).status).toBe(201);
    await cartWith(user, 1);
    // The same key again (another body, so not a replay): the cart has seen it, so the key is claimed first.
    const database = new Counting(getConfig(env));
    const reused = await checkoutWith(database, user.id, key, SEED_ORDER).catch((error: unknown) => error);
    expect((reused as ApiError).code).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(database.calls.slice(0, 2).sort()).toEqual(["once", "once"]); // the claim and the count
    expect(database.calls).not.toContain("batch");
  });

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
    expect(await stockCalls(added)).toBe(0);
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
    expect(await stockCalls(added)).toBe(0);
    expect(await cartOf(user)).toEqual([[added.id, 2]]);
  });

  it("answers 503 in an outage the isolate has seen, reserving nothing", async () => {
    const user = await newUser();
    const products = [await cartWith(user, 2, { stock: 10 }), await cartWith(user, 1, { stock: 10 })];
    const down = new Unreachable(getConfig(env));
    await down.ping().catch(() => {}); // the isolate's last word from the database: a failure
    const failure = await checkoutWith(down, user.id, `down-${user.id}`).catch((error: unknown) => error);
    expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
    for (const product of products) {
      expect(await stockCalls(product)).toBe(0);
      expect((await readProduct(product.id)).stock).toBe(10);
    }
    // The cart is unlocked and whole: the next checkout goes through.
    expect(await cartOf(user)).toEqual(products.map((product, i) => [product.id, 2 - i]));
    expect((await placeOrder(user, CASH_ON_DELIVERY)).status).toBe(201);
  });

  it(`never has more than ${WORKER_CONNECTIONS} calls in flight, even for a 10-line cart of slow products`, async () => {
    const user = await newUser();
    // Each product answers 400 ms late, so calls started together overlap at the product service.
    const products = await cartOfProducts(user, 10);
    for (const product of products) await updateProduct(product.id, { faults: { get: "lag", stock: "lag" } });
    const before = await Promise.all(
      products.map(async (product) => (await productCalls(product.id)).length),
    );
    const placed = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": `wide-${user.id}` });
    expect(placed.status).toBe(201);
    const calls = (
      await Promise.all(products.map(async (product, i) => (await productCalls(product.id)).slice(before[i])))
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

describe("twins sent with one Idempotency-Key", () => {
  it("refuses the twin of a checkout in progress at once, and replays that checkout's answer to its retry", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    await updateProduct(product.id, { faults: { get: "lag", stock: "lag" } });
    const key = `twins-${user.id}`;
    const first = placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    // The first holds the cart while its calls lag; its twin is refused, without waiting for it.
    await checkoutUnderway(product);
    const startedAt = Date.now();
    const twin = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(twin.status).toBe(409);
    expect(twin.body.error.code).toBe("IDEMPOTENCY_KEY_IN_FLIGHT");
    expect(twin.headers.get("retry-after")).toBe("1");
    expect(Date.now() - startedAt).toBeLessThan(1000);
    const placed = await first;
    expect(placed.status).toBe(201);

    await expectReplay(user, key, placed);
    expect((await readProduct(product.id)).stock).toBe(8);
    expect(await cartOf(user)).toEqual([]);
  });

  it("replays the answer of a twin whose worker died after placing the order, while its lock still holds", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const key = `died-${user.id}`;
    const placed = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(placed.status).toBe(201);
    // As if its worker had died before unlocking: the cart is still locked by a checkout with that key.
    const product = await cartWith(user, 1, { stock: 10 });
    const requestHash = await requestHashOf("POST /api/orders", CASH_ON_DELIVERY);
    const locked = await cartStub(env, user.id).beginCheckout(60_000, crypto.randomUUID(), {
      value: key,
      requestHash,
    });
    expect(locked.ok).toBe(true);

    await expectReplay(user, key, placed);
    expect(await stockCalls(product)).toBe(0);
    // With another body, the same key is refused as reused, not as in flight.
    const reused = await placeOrder(user, SEED_ORDER, { "idempotency-key": key });
    expect(reused.body.error?.code).toBe("IDEMPOTENCY_KEY_REUSED");
  });

  it("refuses a checkout with another key while one is in progress as the cart's, at once", async () => {
    const user = await newUser();
    const product = await cartWith(user, 1, { stock: 10 });
    await updateProduct(product.id, { faults: { get: "lag", stock: "lag" } });
    const first = placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": `one-${user.id}` });
    await checkoutUnderway(product);
    const startedAt = Date.now();
    const other = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": `other-${user.id}` });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe("CHECKOUT_IN_PROGRESS");
    expect(Date.now() - startedAt).toBeLessThan(1000);
    expect((await first).status).toBe(201);
    expect((await readProduct(product.id)).stock).toBe(9);
  });
});

/** The order database, which notes each statement (`once`) and batch it is sent. */
class Counting extends Database {
  calls: ("once" | "batch")[] = [];
  override once<T>(work: (db: HttpDb) => Promise<T>): Promise<T> {
    this.calls.push("once");
    return super.once(work);
  }
  override batch<T>(work: (db: HttpDb) => Promise<T>): Promise<T> {
    this.calls.push("batch");
    return super.batch(work);
  }
}

/** The order database, unreachable for every statement and batch (as the isolate sees it fail). */
class Unreachable extends Database {
  private unreachable<T>(): Promise<T> {
    return withDatabase(() => Promise.reject(new Error("Error connecting to database: fetch failed")));
  }
  override once<T>(_work: (db: HttpDb) => Promise<T>): Promise<T> {
    return this.unreachable();
  }
  override batch<T>(_work: (db: HttpDb) => Promise<T>): Promise<T> {
    return this.unreachable();
  }
}

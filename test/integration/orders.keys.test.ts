// A checkout's Idempotency-Key replays its first answer (SPEC §4) whichever way the checkout went
// (issue 17: reserving first, with the key claimed by the placing batch, or asking first): after a
// lost answer, a worker that died, a cart that forgot the key or predates remembering keys, and
// whatever else would refuse. First written as an adversarial review's failing tests.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config.ts";
import { Database, type HttpDb, withDatabase } from "../../src/db/client.ts";
import type { CartObject } from "../../src/durable-objects/cart-object.ts";
import { migrateCartSchema } from "../../src/durable-objects/cart-storage.ts";
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
import { addToCart, CASH_ON_DELIVERY, cartWith, placeOrder, query, SEED_ORDER } from "../helpers/orders.ts";
import { readProduct, updateProduct } from "../helpers/products.ts";

type User = Awaited<ReturnType<typeof newUser>>;

const ordersOf = async (user: User) =>
  query<{ id: string }>(sql`SELECT id FROM orders WHERE user_id = ${user.id}`);

/** The cart's object forgets the keys of its checkouts (the database still has their answers). */
async function cartForgetsKeys(user: User): Promise<void> {
  const stub = (env.CART as DurableObjectNamespace<CartObject>).getByName(`user:${user.id}`);
  await runInDurableObject(stub, (_object: CartObject, state) => {
    state.storage.sql.exec("DELETE FROM checkout_keys");
  });
}

/** The cart's object as one that held carts before it remembered keys, once brought up to date. */
async function cartPredatesKeyMemory(user: User): Promise<void> {
  const stub = (env.CART as DurableObjectNamespace<CartObject>).getByName(`user:${user.id}`);
  await runInDurableObject(stub, (_object: CartObject, state) => {
    state.storage.sql.exec("DROP TABLE checkout_keys");
    state.storage.sql.exec("DROP TABLE checkout_memory");
    migrateCartSchema(state.storage.sql);
  });
}

const HOUR_MS = 60 * 60 * 1000;

/** Moves the cart's memory of its checkout keys `ms` into the past (as if that much time passed for it). */
async function shiftKeyMemory(user: User, ms: number): Promise<void> {
  const stub = (env.CART as DurableObjectNamespace<CartObject>).getByName(`user:${user.id}`);
  await runInDurableObject(stub, (_object: CartObject, state) => {
    state.storage.sql.exec("UPDATE checkout_keys SET used_at = used_at - ?", ms);
  });
}

describe("a key whose order was placed replays it", () => {
  it("after a checkout that could not tell whether its order landed, and the cart was emptied by the settlement", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const key = `lost-${user.id}`;
    // The placing batch commits but its answer is lost, and the settlement cannot reach the database:
    // the checkout answers 503 and leaves the order unsettled with the cart (the documented path).
    const losing = new LosesBatchAnswer(getConfig(env));
    const failure = await checkoutWith(losing, user.id, key).catch((error: unknown) => error);
    expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
    expect(await ordersOf(user)).toHaveLength(1); // it did land, with the key's answer

    // The client retries with the same key and body: SPEC §4 says it replays the first response.
    await expectReplay(user, key);
    expect((await readProduct(product.id)).stock).toBe(8);
    expect(await cartOf(user)).toEqual([]);
  });

  it("after its worker died between placing the order and unlocking the cart, once the lock lapsed", async () => {
    const user = await newUser();
    const product = await cartWith(user, 1, { stock: 10 });
    const key = `died-lapsed-${user.id}`;
    const placed = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(placed.status).toBe(201);
    // As the cart would be had that checkout's worker died after its batch committed, before it
    // finished: the ordered line still in the cart, locked by that checkout (order id, key), lapsed.
    await addToCart(user, product.id, 1);
    const requestHash = await requestHashOf("POST /api/orders", CASH_ON_DELIVERY);
    const locked = await cartStub(env, user.id).beginCheckout(1, placed.body.data.id, {
      value: key,
      requestHash,
    });
    expect(locked.ok).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 20));

    await expectReplay(user, key, placed);
    expect(await cartOf(user)).toEqual([]);
  });

  it("when the cart forgot the key and the order emptied the cart", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const key = `predates-${user.id}`;
    const placed = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(placed.status).toBe(201);
    await cartForgetsKeys(user);

    await expectReplay(user, key, placed);
  });

  it("when the cart forgot the key and that order was the user's last open place", async () => {
    const user = await newUser();
    const max = getConfig(env).MAX_OPEN_ORDERS_PER_USER;
    for (let i = 0; i < max - 1; i++) {
      await cartWith(user, 1);
      expect((await placeOrder(user, CASH_ON_DELIVERY)).status).toBe(201);
    }
    await cartWith(user, 1);
    const key = `last-place-${user.id}`;
    const placed = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(placed.status).toBe(201);
    await cartForgetsKeys(user);
    const added = await cartWith(user, 1, { stock: 10 });
    await databaseAnswered();

    await expectReplay(user, key);
    expect((await readProduct(added.id)).stock).toBe(10);
  });
});

describe("a cart that held carts before it remembered its checkouts' keys", () => {
  it("asks first for every key until it has remembered keys as long as the database keeps answers", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const key = `old-object-${user.id}`;
    const placed = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(placed.status).toBe(201);
    await cartPredatesKeyMemory(user); // e.g. the order was placed by the release before
    const added = await cartWith(user, 1, { stock: 10 });
    await databaseAnswered();

    // Taken for a key it has seen: claimed first, replayed, and the new line never reserved.
    await expectReplay(user, key, placed);
    expect(await stockCalls(added)).toBe(0);
    expect(await cartOf(user)).toEqual([[added.id, 1]]);
  });
});

describe("the cart remembers a key at least as long as the database replays it", () => {
  it("counting from the key's last use: first used (and refused) a day ago, then ordered with", async () => {
    const user = await newUser();
    const product = await cartWith(user, 1, { stock: 10 });
    const key = `first-use-${user.id}`;
    await updateProduct(product.id, { stock: 0 });
    const refused = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(refused.body.error?.code).toBe("INSUFFICIENT_STOCK");
    // As if that refusal was 24 h 59 min ago (the cart's clock; nothing was stored in the database).
    await shiftKeyMemory(user, 25 * HOUR_MS - 60_000);
    await updateProduct(product.id, { stock: 10 });
    const placed = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(placed.status).toBe(201); // stored in the database, replayable for 24 h from now
    // Two minutes later (for the cart): the database still replays the key, the cart no longer knows it.
    await shiftKeyMemory(user, 120_000);
    await expectReplay(user, key, placed);
  });
});

describe("a key another request used is refused as reused", () => {
  it("even when the user is at the open-order limit (the batch checks the limit before the key)", async () => {
    const user = await newUser();
    for (let i = 0; i < getConfig(env).MAX_OPEN_ORDERS_PER_USER; i++) {
      await cartWith(user, 1);
      expect((await placeOrder(user, CASH_ON_DELIVERY)).status).toBe(201);
    }
    const product = await cartWith(user, 1, { stock: 10 });
    const key = `reused-at-limit-${user.id}`;
    await keyTakenElsewhere(user.id, key);
    await databaseAnswered();
    const refused = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");
    expect((await readProduct(product.id)).stock).toBe(10);
  });

  it("by a twin with another body while the first checkout is in flight", async () => {
    const user = await newUser();
    const product = await cartWith(user, 1, { stock: 10 });
    await updateProduct(product.id, { faults: { get: "lag", stock: "lag" } });
    await databaseAnswered();
    const key = `twin-body-${user.id}`;
    const first = placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    await checkoutUnderway(product);
    const other = await placeOrder(user, SEED_ORDER, { "idempotency-key": key });
    expect(other.status).toBe(409);
    expect((await first).status).toBe(201);
    expect(other.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");
  });
});

describe("a checkout that reserves first, refused by a read", () => {
  it("a read that fails while every reservation succeeds gives all the stock back (reserving first)", async () => {
    const user = await newUser();
    const a = await cartWith(user, 1, { stock: 10 });
    const b = await cartWith(user, 2, { stock: 10 });
    await updateProduct(b.id, { faults: { get: "error" } });
    await databaseAnswered();
    const refused = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": `read-fails-${user.id}` });
    expect(refused.status).toBe(503);
    expect(await stockCalls(a)).toBe(2);
    expect(await stockCalls(b)).toBe(2);
    expect((await readProduct(a.id)).stock).toBe(10);
    expect((await readProduct(b.id)).stock).toBe(10);
    expect(await cartOf(user)).toEqual([
      [a.id, 1],
      [b.id, 2],
    ]);
    // And the same key may be used again once the product answers.
    await updateProduct(b.id, { faults: {} });
    const placed = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": `read-fails-${user.id}` });
    expect(placed.status).toBe(201);
    expect(await ordersOf(user)).toHaveLength(1);
  });
});

/** The first batch commits but its answer is lost; every later batch cannot reach the database. */
class LosesBatchAnswer extends Database {
  private batches = 0;
  private lost<T>(): Promise<T> {
    return withDatabase(() => Promise.reject(new Error("Error connecting to database: fetch failed")));
  }
  override async batch<T>(work: (db: HttpDb) => Promise<T>): Promise<T> {
    this.batches++;
    if (this.batches === 1) await super.batch(work);
    return this.lost();
  }
}

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { placeOrder as placeOrderRows } from "../../src/db/queries.ts";
import { ApiError } from "../../src/lib/errors.ts";
import { uuidv7 } from "../../src/lib/ids.ts";
import { cartStub } from "../../src/services/cart.ts";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import {
  addToCart,
  CASH_ON_DELIVERY,
  cartWith,
  placementFor,
  placeOrder,
  query,
  withDb,
} from "../helpers/orders.ts";
import { readProduct } from "../helpers/products.ts";

type User = Awaited<ReturnType<typeof newUser>>;

/** The cart as a checkout of `orderId` leaves it when its worker dies before it finishes: locked, the lock lapsed. */
async function lapsedCheckout(user: User, orderId: string) {
  await runInDurableObject(cartStub(env, user.id), (_object, state) => {
    state.storage.sql.exec(
      `INSERT INTO checkout_lock (id, token, expires_at, order_id) VALUES (1, 'dead-worker', ?, ?)
       ON CONFLICT (id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at, order_id = excluded.order_id`,
      Date.now() - 1,
      orderId,
    );
  });
}

async function ordersOf(user: User) {
  return query<{ id: string }>(sql`SELECT id FROM orders WHERE user_id = ${user.id}`);
}

describe("a checkout taking over a lapsed lock", () => {
  it("never orders again what the lapsed checkout ordered", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const placed = await placeOrder(user, CASH_ON_DELIVERY);
    expect(placed.status).toBe(201);
    // Its worker died before taking the lines out of the cart: they are still there.
    await addToCart(user, product.id, 2);
    await lapsedCheckout(user, placed.body.data.id);

    const again = await placeOrder(user, CASH_ON_DELIVERY);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("EMPTY_CART");
    expect((await api("GET", "/api/cart", { headers: user.headers })).body.data.items).toEqual([]);
    expect(await ordersOf(user)).toHaveLength(1);
    expect((await readProduct(product.id)).stock).toBe(8);
  });

  it("orders what was added since, and only that", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const placed = await placeOrder(user, CASH_ON_DELIVERY);
    await addToCart(user, product.id, 3);
    await lapsedCheckout(user, placed.body.data.id);

    const again = await placeOrder(user, CASH_ON_DELIVERY);
    expect(again.status).toBe(201);
    expect(again.body.data.items).toMatchObject([{ productId: product.id, quantity: 1 }]);
    expect((await readProduct(product.id)).stock).toBe(7);
  });

  it("orders the cart as it is when the lapsed checkout placed no order", async () => {
    const user = await newUser();
    await cartWith(user, 2, { stock: 10 });
    await lapsedCheckout(user, uuidv7());
    const placed = await placeOrder(user, CASH_ON_DELIVERY);
    expect(placed.status).toBe(201);
    expect(placed.body.data.items[0].quantity).toBe(2);
    const unsettled = await runInDurableObject(cartStub(env, user.id), (_object, state) =>
      state.storage.sql.exec("SELECT order_id FROM unsettled_checkouts").toArray(),
    );
    expect(unsettled).toEqual([]);
  });

  it("fences off the lapsed checkout's order, should its placement still arrive", async () => {
    const user = await newUser();
    await cartWith(user, 1, { stock: 10 });
    const slowOrderId = uuidv7();
    await lapsedCheckout(user, slowOrderId);
    expect((await placeOrder(user, CASH_ON_DELIVERY)).status).toBe(201);
    // The slow checkout's placement arrives only now: it finds its order given up, and writes nothing.
    const place = (orderId: string) =>
      withDb((database) =>
        database.batch((db) => placeOrderRows(db, { ...placementFor(user.id, { orderId }), also: null })),
      );
    const late = await place(slowOrderId).catch((error: unknown) => error);
    expect(late).toBeInstanceOf(ApiError);
    expect((late as ApiError).code).toBe("CHECKOUT_IN_PROGRESS");
    expect(await query(sql`SELECT id FROM orders WHERE id = ${slowOrderId}`)).toEqual([]);
    // Another order of the same user is not fenced off.
    await place(uuidv7());
    expect(await ordersOf(user)).toHaveLength(2);
  });
});

describe("a checkout replayed from its Idempotency-Key", () => {
  /** The cart as the checkout of `orderId` left it when its worker died right after the order committed. */
  async function diedAfterCommit(user: User, orderId: string, productId: string, quantity: number) {
    await addToCart(user, productId, quantity);
    await runInDurableObject(cartStub(env, user.id), (_object, state) => {
      state.storage.sql.exec(
        `INSERT INTO checkout_lock (id, token, expires_at, order_id) VALUES (1, 'dead-worker', ?, ?)`,
        Date.now() + 5 * 60_000,
        orderId,
      );
    });
  }

  it("takes the ordered lines out of a cart its worker died before emptying, and unlocks it", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const key = { "Idempotency-Key": `replay-${user.id}` };
    const placed = await placeOrder(user, CASH_ON_DELIVERY, key);
    expect(placed.status).toBe(201);
    await diedAfterCommit(user, placed.body.data.id, product.id, 3);

    const replay = await placeOrder(user, CASH_ON_DELIVERY, key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    // 3 in the cart, 2 of them ordered: 1 stays, and the cart is no longer locked.
    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items).toMatchObject([{ productId: product.id, quantity: 1 }]);
    const again = await placeOrder(user, CASH_ON_DELIVERY);
    expect(again.status).toBe(201);
    expect(again.body.data.items).toMatchObject([{ productId: product.id, quantity: 1 }]);

    // A second replay finds the cart settled, and changes nothing.
    await addToCart(user, product.id, 2);
    expect((await placeOrder(user, CASH_ON_DELIVERY, key)).status).toBe(201);
    const after = await api("GET", "/api/cart", { headers: user.headers });
    expect(after.body.data.items).toMatchObject([{ productId: product.id, quantity: 2 }]);
    expect(await ordersOf(user)).toHaveLength(2);
  });
});

import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { placeOrder as placeOrderRows } from "../../src/db/queries.ts";
import { ApiError } from "../../src/lib/errors.ts";
import { newUser, newUserId } from "../helpers/auth.ts";
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
import { createProduct, readProduct, updateProduct } from "../helpers/products.ts";

describe("orders under concurrency", () => {
  it("sells the last 5 units to exactly 5 of 20 concurrent buyers; the others keep their carts", async () => {
    const product = await createProduct({ stock: 20 });
    const buyers = await Promise.all(Array.from({ length: 20 }, () => newUser()));
    for (const buyer of buyers) await addToCart(buyer, product.id, 1);
    // Every cart was filled while there was stock; now only 5 units are left.
    await updateProduct(product.id, { stock: 5 });

    const results = await Promise.all(buyers.map((buyer) => placeOrder(buyer, CASH_ON_DELIVERY)));
    const statuses = results.map((res) => res.status);
    expect(statuses.filter((status) => status === 201)).toHaveLength(5);
    expect(statuses.filter((status) => status === 409)).toHaveLength(15);
    for (const res of results.filter((r) => r.status === 409)) {
      expect(res.body.error.code).toBe("INSUFFICIENT_STOCK");
    }
    expect((await readProduct(product.id)).stock).toBe(0);

    const orders = await query<{ count: string }>(
      sql`SELECT count(*) AS count FROM order_items WHERE product_id = ${product.id}`,
    );
    expect(Number(orders[0]?.count)).toBe(5);

    for (const [index, buyer] of buyers.entries()) {
      const cart = await api("GET", "/api/cart", { headers: buyer.headers });
      expect(cart.body.data.items.length).toBe(results[index]?.status === 201 ? 0 : 1);
    }
  });

  it("sells a 10-unit flash sale to exactly 10 of 200 simultaneous buyers, with no 5xx", async () => {
    const product = await createProduct({ stock: 200 });
    const buyers = await Promise.all(Array.from({ length: 200 }, () => newUser()));
    await Promise.all(buyers.map((buyer) => addToCart(buyer, product.id, 1)));
    await updateProduct(product.id, { stock: 10 });

    // Every checkout at once, each with its own Idempotency-Key, as a storefront sends them. None
    // holds a database connection of its own, so the database's connection limit is never reached.
    const results = await Promise.all(
      buyers.map((buyer, index) =>
        placeOrder(buyer, CASH_ON_DELIVERY, { "Idempotency-Key": `flash-${buyer.id}-${index}` }),
      ),
    );
    const byStatus = new Map<string, number>();
    for (const res of results) {
      const outcome = res.status === 201 ? "201" : `${res.status} ${res.body.error?.code}`;
      byStatus.set(outcome, (byStatus.get(outcome) ?? 0) + 1);
    }
    expect(Object.fromEntries(byStatus)).toEqual({ "201": 10, "409 INSUFFICIENT_STOCK": 190 });
    expect((await readProduct(product.id)).stock).toBe(0);
    const [sold] = await query<{ orders: number; units: number }>(
      sql`SELECT count(*)::int AS orders, sum(quantity)::int AS units FROM order_items WHERE product_id = ${product.id}`,
    );
    expect(sold).toEqual({ orders: 10, units: 10 });
  });

  it("turns 10 concurrent POSTs with one Idempotency-Key into one order", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 50 });
    const key = `key-${crypto.randomUUID()}`;
    const results = await Promise.all(
      Array.from({ length: 10 }, () => placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key })),
    );
    const created = results.filter((res) => res.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    for (const res of results.filter((r) => r.status !== 201)) {
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("IDEMPOTENCY_KEY_IN_FLIGHT");
    }
    expect(new Set(created.map((res) => res.body.data.id)).size).toBe(1);
    const orders = await api("GET", "/api/orders", { headers: user.headers });
    expect(orders.body.data.orders).toHaveLength(1);
    expect((await readProduct(product.id)).stock).toBe(48);

    // Once it completed, the same key and body replay the first response.
    const replay = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body.data.id).toBe(created[0]?.body.data.id);
  });

  it("turns 5 concurrent checkouts of one cart without a key into one order", async () => {
    const user = await newUser();
    const product = await cartWith(user, 1, { stock: 50 });
    const results = await Promise.all(Array.from({ length: 5 }, () => placeOrder(user, CASH_ON_DELIVERY)));
    expect(results.filter((res) => res.status === 201)).toHaveLength(1);
    for (const res of results.filter((r) => r.status !== 201)) {
      expect(res.status).toBe(409);
      expect(["CHECKOUT_IN_PROGRESS", "EMPTY_CART"]).toContain(res.body.error.code);
    }
    const orders = await api("GET", "/api/orders", { headers: user.headers });
    expect(orders.body.data.orders).toHaveLength(1);
    expect((await readProduct(product.id)).stock).toBe(49);
  });
});

describe("the open-orders cap under concurrency", () => {
  it("lets only one of two concurrent placements take a user's last place", async () => {
    const userId = newUserId();
    // Each placement holds its transaction open a while after counting and inserting: without the
    // user's placement lock, both would count 4 pending orders before either commits.
    const place = () =>
      withDb((database) =>
        database
          .batch((db) =>
            placeOrderRows(db, { ...placementFor(userId), also: db.execute(sql`SELECT pg_sleep(0.3)`) }),
          )
          .then(
            () => true,
            (error: unknown) => {
              expect(error).toBeInstanceOf(ApiError);
              expect((error as ApiError).code).toBe("TOO_MANY_OPEN_ORDERS");
              return false;
            },
          ),
      );
    for (let i = 0; i < 4; i++) expect(await place()).toBe(true);
    expect((await Promise.all([place(), place()])).sort()).toEqual([false, true]);
    const [row] = await query<{ count: number }>(
      sql`SELECT count(*)::int AS count FROM orders WHERE user_id = ${userId} AND status = 'pending'`,
    );
    expect(row?.count).toBe(5);
  });
});

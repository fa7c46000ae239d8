import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { beginOrderPlacement } from "../../src/db/queries.ts";
import { uuidv7 } from "../../src/lib/ids.ts";
import { newUser, newUserId } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { addToCart, CASH_ON_DELIVERY, cartWith, placeOrder, query, withDb } from "../helpers/orders.ts";
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
    const place = () =>
      withDb((database) =>
        database.transaction(async (tx) => {
          if ((await beginOrderPlacement(tx, userId, uuidv7())).pending >= 5) return false;
          // Both transactions have counted before either inserts, unless the count is serialised.
          await new Promise((resolve) => setTimeout(resolve, 200));
          await tx.execute(sql`
            INSERT INTO orders (id, user_id, status, payment_status, payment_method, total_amount, currency, shipping_address)
            VALUES (${uuidv7()}, ${userId}, 'pending', 'pending', 'cash_on_delivery', 0, 'USD', '{}'::jsonb)`);
          return true;
        }),
      );
    for (let i = 0; i < 4; i++) expect(await place()).toBe(true);
    expect((await Promise.all([place(), place()])).sort()).toEqual([false, true]);
    const [row] = await query<{ count: number }>(
      sql`SELECT count(*)::int AS count FROM orders WHERE user_id = ${userId} AND status = 'pending'`,
    );
    expect(row?.count).toBe(5);
  });
});

import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CART_TTL_MS, type CartObject } from "../../src/durable-objects/cart-object.ts";
import { migrateCartSchema } from "../../src/durable-objects/cart-storage.ts";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { createProduct } from "../helpers/products.ts";

function stubFor(userId: number) {
  return (env.CART as DurableObjectNamespace<CartObject>).getByName(`user:${userId}`);
}

describe("cart object", () => {
  it("serialises 50 concurrent adds of one unit into a line of 50", async () => {
    const user = await newUser();
    const product = await createProduct({ stock: 60 });
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        api("POST", "/api/cart/items", {
          headers: user.headers,
          json: { productId: product.id, quantity: 1 },
        }),
      ),
    );
    const statuses = responses.map((res) => res.status).sort();
    expect(statuses.filter((status) => status === 201)).toHaveLength(1);
    expect(statuses.filter((status) => status === 200)).toHaveLength(49);

    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items).toHaveLength(1);
    expect(cart.body.data.items[0].quantity).toBe(50);
  });

  it("never oversells the stock it was told about under concurrency", async () => {
    const user = await newUser();
    const product = await createProduct({ stock: 10 });
    const responses = await Promise.all(
      Array.from({ length: 30 }, () =>
        api("POST", "/api/cart/items", {
          headers: user.headers,
          json: { productId: product.id, quantity: 1 },
        }),
      ),
    );
    expect(responses.filter((res) => res.status === 409)).toHaveLength(20);
    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items[0].quantity).toBe(10);
  });

  it("empties a cart idle for 30 days when its alarm fires", async () => {
    const user = await newUser();
    const product = await createProduct();
    await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 2 },
    });
    const stub = stubFor(user.id);

    const alarmAt = await runInDurableObject(stub, (_instance: CartObject, state) =>
      state.storage.getAlarm(),
    );
    expect(alarmAt).toBeGreaterThan(Date.now() + CART_TTL_MS - 60_000);

    await runInDurableObject(stub, (_instance: CartObject, state) => {
      state.storage.sql.exec("UPDATE cart_meta SET updated_at = ?", Date.now() - CART_TTL_MS - 1000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);

    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items).toEqual([]);
  });

  it("keeps a cart that was touched since, and re-arms its alarm", async () => {
    const user = await newUser();
    const product = await createProduct();
    await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 1 },
    });
    const stub = stubFor(user.id);

    expect(await runDurableObjectAlarm(stub)).toBe(true);

    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items).toHaveLength(1);
    const alarmAt = await runInDurableObject(stub, (_instance: CartObject, state) =>
      state.storage.getAlarm(),
    );
    expect(alarmAt).toBeGreaterThan(Date.now() + CART_TTL_MS - 60_000);
  });

  it("brings a cart stored with the earlier layout up to date", async () => {
    const user = await newUser();
    await runInDurableObject(stubFor(user.id), (_object, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP TABLE checkout_lock");
      sql.exec(
        "CREATE TABLE checkout_lock (id INTEGER PRIMARY KEY CHECK (id = 1), token TEXT NOT NULL, expires_at INTEGER NOT NULL)",
      );
      sql.exec("INSERT INTO checkout_lock (id, token, expires_at) VALUES (1, 'old', 0)");
      migrateCartSchema(sql);
      expect(sql.exec("SELECT token, order_id FROM checkout_lock").toArray()).toEqual([
        { token: "old", order_id: null },
      ]);
      migrateCartSchema(sql);
    });
  });
});

describe("the cart's checkout lock", () => {
  it("hands a lapsed checkout's order over with the lines it was ordering, as stock in doubt", async () => {
    const user = await newUser();
    const product = await createProduct({ stock: 10 });
    await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 3 },
    });
    const cart = stubFor(user.id);
    const first = await cart.beginCheckout(1, "01900000-0000-7000-8000-000000000001");
    expect(first.ok).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Its worker died: the next checkout takes the lapsed lock over.
    const next = await cart.beginCheckout(60_000, "01900000-0000-7000-8000-000000000002");
    expect(next.ok && next.value.unsettled).toEqual([
      {
        orderId: "01900000-0000-7000-8000-000000000001",
        reserved: null,
        inDoubt: [{ productId: product.id, quantity: 3 }],
      },
    ]);
  });
});

describe("an expired cart", () => {
  it("keeps its unsettled checkouts, whose stock the next checkout settles", async () => {
    const user = await newUser();
    const product = await createProduct();
    await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 1 },
    });
    const stub = stubFor(user.id);
    await runInDurableObject(stub, (_instance: CartObject, state) => {
      state.storage.sql.exec(
        "INSERT INTO unsettled_checkouts (order_id, reserved) VALUES (?, ?)",
        "01900000-0000-7000-8000-0000000000aa",
        JSON.stringify([{ productId: product.id, quantity: 1 }]),
      );
      state.storage.sql.exec("UPDATE cart_meta SET updated_at = ?", Date.now() - CART_TTL_MS - 1000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const left = await runInDurableObject(stub, (_instance: CartObject, state) => ({
      items: state.storage.sql.exec("SELECT 1 FROM cart_items").toArray().length,
      unsettled: state.storage.sql.exec("SELECT order_id FROM unsettled_checkouts").toArray(),
    }));
    expect(left).toEqual({ items: 0, unsettled: [{ order_id: "01900000-0000-7000-8000-0000000000aa" }] });
  });
});

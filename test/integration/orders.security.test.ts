import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { CASH_ON_DELIVERY, cartWith, placeOrder, query } from "../helpers/orders.ts";
import { readProduct } from "../helpers/products.ts";

describe("orders: security", () => {
  it("answers 404 for another user's order on every route, changing nothing", async () => {
    const owner = await newUser();
    const intruder = await newUser();
    await cartWith(owner, 1);
    const order = (await placeOrder(owner, CASH_ON_DELIVERY)).body.data;

    const attempts = [
      api("GET", `/api/orders/${order.id}`, { headers: intruder.headers }),
      api("GET", `/api/orders/${order.id}/tracking`, { headers: intruder.headers }),
      api("PUT", `/api/orders/${order.id}/status`, {
        headers: intruder.headers,
        json: { status: "cancelled" },
      }),
      api("POST", `/api/orders/${order.id}/payment`, {
        headers: intruder.headers,
        json: { paymentMethod: "upi", paymentDetails: { upiId: "thief@okbank" } },
      }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("ORDER_NOT_FOUND");
    }
    const list = await api("GET", "/api/orders", { headers: intruder.headers });
    expect(list.body.data.orders).toEqual([]);
    const [row] = await query<{ status: string }>(sql`SELECT status FROM orders WHERE id = ${order.id}`);
    expect(row?.status).toBe("pending");
  });

  it("answers the same 404 for an order that does not exist", async () => {
    const user = await newUser();
    const res = await api("GET", `/api/orders/${crypto.randomUUID()}`, { headers: user.headers });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("ORDER_NOT_FOUND");
  });

  it("lets an admin read any order, but an admin's list holds only their own", async () => {
    const owner = await newUser();
    const admin = await newUser("ADMIN");
    await cartWith(owner, 1);
    const order = (await placeOrder(owner, CASH_ON_DELIVERY)).body.data;
    expect((await api("GET", `/api/orders/${order.id}`, { headers: admin.headers })).status).toBe(200);
    expect((await api("GET", `/api/orders/${order.id}/tracking`, { headers: admin.headers })).status).toBe(
      200,
    );
    expect((await api("GET", "/api/orders", { headers: admin.headers })).body.data.orders).toEqual([]);
  });

  it("ignores a client's userId, status, price and totals in the order body", async () => {
    const user = await newUser();
    const other = await newUser();
    await cartWith(user, 2, { price: 700 });
    const res = await placeOrder(user, {
      ...CASH_ON_DELIVERY,
      userId: other.id,
      status: "delivered",
      paymentStatus: "paid",
      totalAmount: 1,
      items: [{ productId: "x", price: 1, quantity: 99 }],
    });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({
      userId: user.id,
      status: "pending",
      paymentStatus: "pending",
      totalAmount: 1400,
    });
  });

  it("requires a token on every order route", async () => {
    const id = crypto.randomUUID();
    const routes: [string, string][] = [
      ["POST", "/api/orders"],
      ["GET", "/api/orders"],
      ["GET", `/api/orders/${id}`],
      ["PUT", `/api/orders/${id}/status`],
      ["GET", `/api/orders/${id}/tracking`],
      ["POST", `/api/orders/${id}/payment`],
    ];
    for (const [method, path] of routes) {
      const res = await api(method, path, { json: method === "GET" ? undefined : {} });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
  });
});

describe("orders: the database failing", () => {
  /** The same worker, configured with a database nothing listens at. */
  async function withDatabaseDown(
    method: string,
    path: string,
    headers: Record<string, string>,
    json?: unknown,
  ) {
    const app = createApp();
    const downEnv = { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:1/nowhere" };
    const ctx = createExecutionContext();
    const response = await app.fetch(
      new Request(`https://orders.test${path}`, {
        method,
        headers: { ...headers, ...(json ? { "content-type": "application/json" } : {}) },
        body: json ? JSON.stringify(json) : undefined,
      }),
      downEnv,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return { status: response.status, body: (await response.json()) as any };
  }

  it("answers 503 DATABASE_UNAVAILABLE on order routes while carts keep working, and keeps the cart", async () => {
    const user = await newUser();
    const product = await cartWith(user, 1, { stock: 10 });
    for (const [method, path, body] of [
      ["GET", "/api/orders", undefined],
      ["GET", `/api/orders/${crypto.randomUUID()}`, undefined],
      ["POST", "/api/orders", CASH_ON_DELIVERY],
    ] as const) {
      const res = await withDatabaseDown(method, path, user.headers, body);
      expect(res.status, `${method} ${path}`).toBe(503);
      expect(res.body.error.code).toBe("DATABASE_UNAVAILABLE");
    }
    const cart = await withDatabaseDown("GET", "/api/cart", user.headers);
    expect(cart.status).toBe(200);
    expect(cart.body.data.items).toHaveLength(1);

    expect((await readProduct(product.id)).stock).toBe(10);
  });

  it("reports the database down in readiness with 503", async () => {
    const res = await withDatabaseDown("GET", "/health/ready", {});
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({
      status: "unavailable",
      dependencies: { database: { status: "down", required: true }, productService: { status: "up" } },
    });
  });

  it("leaves no partial order when the connection dies mid-transaction", async () => {
    const user = await newUser();
    const product = await cartWith(user, 1, { stock: 10 });
    // Kills the backend serving the checkout's transaction as it writes this product's order line.
    await query(
      sql.raw(`
        CREATE OR REPLACE FUNCTION kill_checkout_${product.id}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.product_id = '${product.id}' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER kill_checkout_${product.id} BEFORE INSERT ON order_items
          FOR EACH ROW EXECUTE FUNCTION kill_checkout_${product.id}();
      `),
    );
    try {
      const res = await placeOrder(user, CASH_ON_DELIVERY);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe("DATABASE_UNAVAILABLE");
    } finally {
      await query(sql.raw(`DROP TRIGGER kill_checkout_${product.id} ON order_items`));
    }
    expect(await query(sql`SELECT 1 FROM orders WHERE user_id = ${user.id}`)).toHaveLength(0);
    expect((await readProduct(product.id)).stock).toBe(10);
    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items).toHaveLength(1);
  });
});

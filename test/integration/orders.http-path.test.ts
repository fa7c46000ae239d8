// Every order route goes over the Neon driver's HTTP path (DATABASE_HTTP_ENDPOINT); only the gateway's
// settlement and the sweep use its WebSocket Pool (DATABASE_WS_PROXY): each path is taken away in turn
// from the same worker.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { ProductClient } from "../../src/clients/product.ts";
import { getConfig } from "../../src/config.ts";
import { Database } from "../../src/db/client.ts";
import { placeOrder as placeOrderRows } from "../../src/db/queries.ts";
import { ApiError } from "../../src/lib/errors.ts";
import { uuidv7 } from "../../src/lib/ids.ts";
import { newPlacement } from "../../src/services/orders/checkout.ts";
import type { OrderDeps } from "../../src/services/orders/deps.ts";
import { settleGatewayPayment } from "../../src/services/orders/payments.ts";
import { EventPublisher } from "../../src/services/outbox.ts";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { CASH_ON_DELIVERY, cartWith, orderOf, placeOrder, query, SEED_ORDER } from "../helpers/orders.ts";
import { createProduct, readProduct } from "../helpers/products.ts";

const NOWHERE = {
  DATABASE_WS_PROXY: "127.0.0.1:1/v1",
  DATABASE_HTTP_ENDPOINT: "http://127.0.0.1:1/sql",
};

/** The same worker with one of the driver's two paths pointing at a port nothing listens on. */
async function without(
  path: keyof typeof NOWHERE,
  method: string,
  url: string,
  headers: Record<string, string>,
  json?: unknown,
) {
  const ctx = createExecutionContext();
  const response = await createApp().fetch(
    new Request(`https://orders.test${url}`, {
      method,
      headers: { ...headers, ...(json ? { "content-type": "application/json" } : {}) },
      body: json ? JSON.stringify(json) : undefined,
    }),
    { ...env, [path]: NOWHERE[path] },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: response.status, body: (await response.json()) as any };
}

/** A user with one placed (cash on delivery) order. */
async function withOrder() {
  const user = await newUser();
  await cartWith(user, 2);
  const placed = await placeOrder(user, CASH_ON_DELIVERY);
  expect(placed.status).toBe(201);
  return { user, order: placed.body.data };
}

describe("orders: the database's two paths", () => {
  it("serves every order route over HTTP alone: no WebSocket is opened", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const placed = await without("DATABASE_WS_PROXY", "POST", "/api/orders", user.headers, CASH_ON_DELIVERY);
    expect(placed.status).toBe(201);
    const order = placed.body.data;

    const read = await without("DATABASE_WS_PROXY", "GET", `/api/orders/${order.id}`, user.headers);
    expect(read.status).toBe(200);
    expect(read.body.data).toEqual(order);

    const list = await without("DATABASE_WS_PROXY", "GET", "/api/orders?limit=5", user.headers);
    expect(list.status).toBe(200);
    expect(list.body.data).toEqual({ orders: [order], nextCursor: null });

    const tracking = await without(
      "DATABASE_WS_PROXY",
      "GET",
      `/api/orders/${order.id}/tracking`,
      user.headers,
    );
    expect(tracking.status).toBe(200);
    expect(tracking.body.data).toMatchObject({
      orderId: order.id,
      status: "pending",
      history: [{ status: "pending", at: expect.any(String) }],
    });

    const ready = await without("DATABASE_WS_PROXY", "GET", "/health/ready", {});
    expect(ready.status).toBe(200);
    expect(ready.body.dependencies.database.status).toBe("up");
    expect(ready.body.outbox).toMatchObject({ unsent: expect.any(Number) }); // the backlog read too

    const cancel = await without("DATABASE_WS_PROXY", "PUT", `/api/orders/${order.id}/status`, user.headers, {
      status: "cancelled",
    });
    expect(cancel.status).toBe(200);
    expect(cancel.body.data.status).toBe("cancelled");
    expect((await readProduct(product.id)).stock).toBe(10);

    // The override is in force: a transaction over the Pool, with the same settings, cannot connect.
    const pool = new Database(getConfig({ ...env, DATABASE_WS_PROXY: NOWHERE.DATABASE_WS_PROXY }));
    const failure = await pool.transaction(async () => {}).catch((error: unknown) => error);
    await pool.close();
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
  });

  it("settles a gateway payment over HTTP alone, once: no WebSocket is opened", async () => {
    const user = await newUser();
    const product = await createProduct({ price: 700, stock: 10 });
    const config = getConfig({ ...env, DATABASE_WS_PROXY: NOWHERE.DATABASE_WS_PROXY });
    // A card order placed below the HTTP surface, so that only this test's settlement settles it.
    const placement = newPlacement(config, {
      orderId: uuidv7(),
      userId: user.id,
      body: SEED_ORDER as never,
      lines: [
        {
          productId: product.id,
          productName: product.name,
          price: 700,
          quantity: 1,
          totalPrice: 700,
          image: null,
        },
      ],
      currency: "USD",
    });
    const database = new Database(config);
    const events = new EventPublisher(env, database);
    const deps: OrderDeps = {
      env,
      config,
      database,
      products: new ProductClient(config.PRODUCT_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS),
      events,
    };
    try {
      await database.batch((db) => placeOrderRows(db, { ...placement, also: null }));
      const paymentId = placement.payment.id as string;
      await settleGatewayPayment(deps, paymentId, { approved: true });
      // The alarm fires again (at least once): the attempt is no longer pending, nothing changes.
      await settleGatewayPayment(deps, paymentId, { approved: true });
    } finally {
      await events.drain().finally(() => database.close());
    }
    expect(await orderOf(user, placement.order.id)).toMatchObject({ status: "paid", paymentStatus: "paid" });
    const confirmations = await query(
      sql`SELECT 1 FROM outbox WHERE order_id = ${placement.order.id} AND type = 'payment_confirmation'`,
    );
    expect(confirmations).toHaveLength(1);
    const [payment] = await query<{ status: string }>(
      sql`SELECT status FROM payments WHERE order_id = ${placement.order.id}`,
    );
    expect(payment?.status).toBe("approved");
  });

  it("answers 503 DATABASE_UNAVAILABLE on order routes when the HTTP endpoint is down, while carts keep working", async () => {
    const { user, order } = await withOrder();
    for (const url of [`/api/orders/${order.id}`, "/api/orders", `/api/orders/${order.id}/tracking`]) {
      const res = await without("DATABASE_HTTP_ENDPOINT", "GET", url, user.headers);
      expect(res.status, url).toBe(503);
      expect(res.body.error.code, url).toBe("DATABASE_UNAVAILABLE");
    }

    const product = await cartWith(user, 1, { stock: 10 });
    const cart = await without("DATABASE_HTTP_ENDPOINT", "GET", "/api/cart", user.headers);
    expect(cart.status).toBe(200);
    expect(cart.body.data.items).toHaveLength(1);
    const add = await without("DATABASE_HTTP_ENDPOINT", "POST", "/api/cart/items", user.headers, {
      productId: product.id,
      quantity: 1,
    });
    expect(add.status).toBe(200);

    const ready = await without("DATABASE_HTTP_ENDPOINT", "GET", "/health/ready", {});
    expect(ready.status).toBe(503);
    expect(ready.body.dependencies.database).toMatchObject({ status: "down", required: true });

    // Checkout counts the open orders over the HTTP path before it reserves: refused, nothing reserved.
    const checkout = await without(
      "DATABASE_HTTP_ENDPOINT",
      "POST",
      "/api/orders",
      user.headers,
      CASH_ON_DELIVERY,
    );
    expect(checkout.status).toBe(503);
    expect(checkout.body.error.code).toBe("DATABASE_UNAVAILABLE");
    expect((await readProduct(product.id)).stock).toBe(10);
    const kept = await api("GET", "/api/cart", { headers: user.headers });
    expect(kept.body.data.items).toMatchObject([{ productId: product.id, quantity: 2 }]);
  });
});

import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import {
  CASH_ON_DELIVERY,
  cartWith,
  eventually,
  orderOf,
  paidOrder,
  placeOrder,
  query,
  SEED_ORDER,
} from "../helpers/orders.ts";
import { readProduct } from "../helpers/products.ts";

describe("orders: the happy path", () => {
  it("places the seed's example order from the cart, reserving stock and emptying the cart", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { price: 99999, stock: 10, name: "Phone" });

    const res = await placeOrder(user);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const order = res.body.data;
    expect(order).toMatchObject({
      userId: user.id,
      status: "pending",
      paymentStatus: "pending",
      paymentMethod: "credit_card",
      totalAmount: 199998,
      currency: "USD",
      items: [{ productId: product.id, productName: "Phone", price: 99999, quantity: 2, totalPrice: 199998 }],
      shippingAddress: SEED_ORDER.shippingAddress,
      trackingNumber: null,
      carrier: null,
    });
    expect(order.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Date.parse(order.estimatedDelivery)).toBeGreaterThan(Date.now());

    expect((await readProduct(product.id)).stock).toBe(8);
    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items).toEqual([]);

    const payments = await query<{ reference: string; status: string }>(
      sql`SELECT reference, status FROM payments WHERE order_id = ${order.id}`,
    );
    expect(payments).toHaveLength(1);
    expect(payments[0]?.reference).toBe("1234");
    // The first event; the gateway (settling after 50 ms in tests) may already have added its own.
    const [first] = await query<{ type: string }>(
      sql`SELECT type FROM outbox WHERE order_id = ${order.id} ORDER BY id LIMIT 1`,
    );
    expect(first?.type).toBe("order_confirmation");
  });

  it("totals a multi-line order as the sum of its lines, each price × quantity, as the cart showed it", async () => {
    const user = await newUser();
    const lines = [
      { price: 1999, stock: 20, quantity: 3 },
      { price: 45000, stock: 20, quantity: 1 },
      { price: 250, stock: 20, quantity: 7 },
    ];
    for (const { quantity, ...product } of lines) await cartWith(user, quantity, product);
    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items).toHaveLength(3);
    const cartTotal = cart.body.data.totalAmount;
    expect(cartTotal).toBe(3 * 1999 + 45000 + 7 * 250);

    const res = await placeOrder(user);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    for (const order of [res.body.data, await orderOf(user, res.body.data.id)]) {
      type Line = { price: number; quantity: number; totalPrice: number };
      const items: Line[] = order.items;
      expect(items).toHaveLength(3);
      for (const item of items) expect(item.totalPrice).toBe(item.price * item.quantity);
      expect(order.totalAmount).toBe(items.reduce((sum, item) => sum + item.totalPrice, 0));
      expect(order.totalAmount).toBe(cartTotal);
    }
    const [payment] = await query<{ amount: number }>(
      sql`SELECT amount FROM payments WHERE order_id = ${res.body.data.id}`,
    );
    expect(Number(payment?.amount)).toBe(cartTotal);
  });

  it("settles the card payment asynchronously: pending, then paid with a payment_confirmation", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const order = (await placeOrder(user)).body.data;

    const paid = await eventually(
      () => orderOf(user, order.id),
      (current) => current.status === "paid",
    );
    expect(paid).toMatchObject({ status: "paid", paymentStatus: "paid" });
    const outbox = await query<{ type: string }>(
      sql`SELECT type FROM outbox WHERE order_id = ${order.id} ORDER BY id`,
    );
    expect(outbox.map((event) => event.type)).toEqual(["order_confirmation", "payment_confirmation"]);
  });

  it("goes pending → paid → processing → shipped → delivered, with tracking and the full history", async () => {
    const user = await newUser();
    const admin = await newUser("ADMIN");
    await cartWith(user, 1);
    const order = await paidOrder(user);

    const move = (body: Record<string, unknown>) =>
      api("PUT", `/api/orders/${order.id}/status`, { headers: admin.headers, json: body });
    expect((await move({ status: "processing", note: "Packing" })).status).toBe(200);
    const shipped = await move({ status: "shipped", trackingNumber: "TRK123456", carrier: "BlueDart" });
    expect(shipped.status).toBe(200);
    expect(shipped.body.data).toMatchObject({
      status: "shipped",
      trackingNumber: "TRK123456",
      carrier: "BlueDart",
    });
    expect((await move({ status: "delivered" })).status).toBe(200);

    const tracking = await api("GET", `/api/orders/${order.id}/tracking`, { headers: user.headers });
    expect(tracking.status).toBe(200);
    expect(tracking.body.data).toMatchObject({
      orderId: order.id,
      status: "delivered",
      paymentStatus: "paid",
      trackingNumber: "TRK123456",
      carrier: "BlueDart",
    });
    expect(tracking.body.data.history.map((entry: { status: string }) => entry.status)).toEqual([
      "pending",
      "paid",
      "processing",
      "shipped",
      "delivered",
    ]);
    expect(tracking.body.data.history[2].note).toBe("Packing");

    const history = await query<{ actor_role: string; from_status: string | null; to_status: string }>(
      sql`SELECT actor_role, from_status, to_status FROM order_status_history WHERE order_id = ${order.id} ORDER BY id`,
    );
    expect(history.map((row) => `${row.actor_role}:${row.from_status}->${row.to_status}`)).toEqual([
      "USER:null->pending",
      "SYSTEM:pending->paid",
      "ADMIN:paid->processing",
      "ADMIN:processing->shipped",
      "ADMIN:shipped->delivered",
    ]);
  });

  it("processes cash on delivery without payment and marks it paid on delivery", async () => {
    const user = await newUser();
    const admin = await newUser("ADMIN");
    await cartWith(user, 1);
    const created = await placeOrder(user, CASH_ON_DELIVERY);
    expect(created.status).toBe(201);
    const order = created.body.data;
    expect(order).toMatchObject({
      paymentMethod: "cash_on_delivery",
      status: "pending",
      paymentStatus: "pending",
    });

    const move = (body: Record<string, unknown>) =>
      api("PUT", `/api/orders/${order.id}/status`, { headers: admin.headers, json: body });
    expect((await move({ status: "processing" })).body.data).toMatchObject({
      status: "processing",
      paymentStatus: "pending",
    });
    await move({ status: "shipped", trackingNumber: "TRK1" });
    expect((await move({ status: "delivered" })).body.data).toMatchObject({
      status: "delivered",
      paymentStatus: "paid",
    });
    const payments = await query<{ status: string }>(
      sql`SELECT status FROM payments WHERE order_id = ${order.id}`,
    );
    expect(payments).toEqual([{ status: "approved" }]);
  });

  it("lists the user's orders newest first, filtered by status, across pages without repeats", async () => {
    const user = await newUser();
    const product = await cartWith(user, 1);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      if (i > 0)
        await api("POST", "/api/cart/items", {
          headers: user.headers,
          json: { productId: product.id, quantity: 1 },
        });
      ids.push((await placeOrder(user, CASH_ON_DELIVERY)).body.data.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const path: string = `/api/orders?limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = await api("GET", path, { headers: user.headers });
      expect(page.status).toBe(200);
      expect(page.body.data.orders.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.data.orders.map((order: { id: string }) => order.id));
      cursor = page.body.data.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());

    const pending = await api("GET", "/api/orders?status=pending", { headers: user.headers });
    expect(pending.body.data.orders).toHaveLength(5);
    const shipped = await api("GET", "/api/orders?status=shipped", { headers: user.headers });
    expect(shipped.body.data).toEqual({ orders: [], nextCursor: null });
  });

  it("lets the owner cancel a pending order, releasing its stock", async () => {
    const user = await newUser();
    const product = await cartWith(user, 3, { stock: 10 });
    const order = (await placeOrder(user, CASH_ON_DELIVERY)).body.data;
    expect((await readProduct(product.id)).stock).toBe(7);

    const res = await api("PUT", `/api/orders/${order.id}/status`, {
      headers: user.headers,
      json: { status: "cancelled", note: "Changed my mind" },
    });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ status: "cancelled" });
    expect((await readProduct(product.id)).stock).toBe(10);
    const outbox = await query<{ type: string }>(
      sql`SELECT type FROM outbox WHERE order_id = ${order.id} ORDER BY id`,
    );
    expect(outbox.map((event) => event.type)).toEqual(["order_confirmation", "order_cancellation"]);
  });

  it("refunds a paid order that is cancelled, releasing its stock", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const order = await paidOrder(user);
    expect((await readProduct(product.id)).stock).toBe(8);
    const res = await api("PUT", `/api/orders/${order.id}/status`, {
      headers: user.headers,
      json: { status: "cancelled" },
    });
    expect(res.body.data).toMatchObject({ status: "cancelled", paymentStatus: "refunded" });
    expect((await readProduct(product.id)).stock).toBe(10);
  });
});

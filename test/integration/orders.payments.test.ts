import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import {
  CASH_ON_DELIVERY,
  cartWith,
  DECLINED_CARD,
  declinedOrder,
  eventually,
  orderOf,
  paidOrder,
  placeOrder,
  query,
  runSweep,
  SEED_ORDER,
} from "../helpers/orders.ts";
import { readProduct } from "../helpers/products.ts";

const address = SEED_ORDER.shippingAddress;

/** Time passes for one order: every clock it carries moves back. */
async function passes(orderId: string, interval: string) {
  await query(sql`
    UPDATE orders SET created_at = created_at - ${interval}::interval, payment_due_at = payment_due_at - ${interval}::interval
    WHERE id = ${orderId}`);
}

describe("payments (mock gateway)", () => {
  const declining: [string, unknown][] = [
    ["a card ending 0002", DECLINED_CARD],
    [
      "a UPI id starting fail@",
      { shippingAddress: address, paymentMethod: "upi", paymentDetails: { upiId: "fail@okbank" } },
    ],
    [
      "the bank code FAIL",
      { shippingAddress: address, paymentMethod: "net_banking", paymentDetails: { bankCode: "FAIL" } },
    ],
  ];
  for (const [name, body] of declining) {
    it(`declines ${name}: payment failed, order still pending`, async () => {
      const user = await newUser();
      await cartWith(user, 1);
      const order = await declinedOrder(user, body);
      expect(order).toMatchObject({ status: "pending", paymentStatus: "failed" });
    });
  }

  const approving: [string, unknown][] = [
    [
      "a UPI id",
      { shippingAddress: address, paymentMethod: "upi", paymentDetails: { upiId: "shopper@okbank" } },
    ],
    [
      "net banking",
      { shippingAddress: address, paymentMethod: "net_banking", paymentDetails: { bankCode: "HDFC" } },
    ],
  ];
  for (const [name, body] of approving) {
    it(`approves ${name}`, async () => {
      const user = await newUser();
      await cartWith(user, 1);
      const order = (await placeOrder(user, body)).body.data;
      const settled = await eventually(
        () => orderOf(user, order.id),
        (current) => current.status === "paid",
      );
      expect(settled).toMatchObject({ status: "paid", paymentStatus: "paid" });
    });
  }

  it("retries a failed payment with another instrument, which then settles", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const order = await declinedOrder(user);

    const retry = await api("POST", `/api/orders/${order.id}/payment`, {
      headers: user.headers,
      json: {
        paymentMethod: "credit_card",
        paymentDetails: { cardNumber: "**** **** **** 4242", expiryDate: "10/31" },
      },
    });
    expect(retry.status).toBe(200);
    expect(retry.body.data).toMatchObject({ status: "pending", paymentStatus: "pending" });
    const paid = await eventually(
      () => orderOf(user, order.id),
      (current) => current.status === "paid",
    );
    expect(paid.paymentStatus).toBe("paid");
    const attempts = await query<{ attempt: number; status: string; reference: string }>(
      sql`SELECT attempt, status, reference FROM payments WHERE order_id = ${order.id} ORDER BY attempt`,
    );
    expect(attempts).toEqual([
      { attempt: 1, status: "declined", reference: "0002" },
      { attempt: 2, status: "approved", reference: "4242" },
    ]);
  });

  it("refuses to retry a payment that did not fail", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const order = await paidOrder(user);
    const retry = await api("POST", `/api/orders/${order.id}/payment`, {
      headers: user.headers,
      json: { paymentMethod: "upi", paymentDetails: { upiId: "shopper@okbank" } },
    });
    expect(retry.status).toBe(409);
    expect(retry.body.error.code).toBe("PAYMENT_NOT_RETRYABLE");
  });

  it("cancels an order unpaid past its deadline and releases its stock", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const order = await declinedOrder(user);
    expect((await readProduct(product.id)).stock).toBe(8);

    await query(sql`UPDATE orders SET payment_due_at = now() - interval '1 minute' WHERE id = ${order.id}`);
    await runSweep();

    const cancelled = await orderOf(user, order.id);
    expect(cancelled).toMatchObject({ status: "cancelled", paymentStatus: "failed" });
    expect((await readProduct(product.id)).stock).toBe(10);
    const tracking = await api("GET", `/api/orders/${order.id}/tracking`, { headers: user.headers });
    expect(tracking.body.data.history.at(-1)).toMatchObject({
      status: "cancelled",
      note: "Payment not received in time",
    });
    const [event] = await query<{ type: string }>(
      sql`SELECT type FROM outbox WHERE order_id = ${order.id} AND type = 'order_cancellation'`,
    );
    expect(event?.type).toBe("order_cancellation");

    // A second sweep changes nothing: the stock is released once.
    await runSweep();
    expect((await readProduct(product.id)).stock).toBe(10);
  });

  it("leaves an order before its deadline alone", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const order = await declinedOrder(user);
    await runSweep();
    expect((await orderOf(user, order.id)).status).toBe("pending");
  });

  it("stores only the card's last four digits", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const order = (await placeOrder(user)).body.data;
    const rows = await query(sql`SELECT * FROM payments WHERE order_id = ${order.id}`);
    const orderRows = await query(sql`SELECT * FROM orders WHERE id = ${order.id}`);
    expect(JSON.stringify([rows, orderRows])).not.toContain("**** ****");
    expect(rows[0]).toMatchObject({ reference: "1234", method: "credit_card" });
  });

  it("keeps cash on delivery past the payment timeout, within its confirmation deadline", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const cash = (await placeOrder(user, CASH_ON_DELIVERY)).body.data;
    await cartWith(user, 1);
    const card = await declinedOrder(user);
    // A day passes for both: every deadline they carry moves back with them.
    await query(sql`
      UPDATE orders SET created_at = created_at - interval '1 day', payment_due_at = payment_due_at - interval '1 day'
      WHERE id IN (${cash.id}, ${card.id})`);
    await runSweep();
    expect((await orderOf(user, card.id)).status).toBe("cancelled");
    expect((await orderOf(user, cash.id)).status).toBe("pending");
  });

  it("cancels cash on delivery not confirmed within COD_CONFIRM_HOURS, releasing its stock and notifying the buyer", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const cash = (await placeOrder(user, CASH_ON_DELIVERY)).body.data;
    expect((await readProduct(product.id)).stock).toBe(8);
    const [deadline] = await query<{ hours: number }>(
      sql`SELECT extract(epoch FROM payment_due_at - created_at)::float / 3600 AS hours FROM orders WHERE id = ${cash.id}`,
    );
    expect(deadline?.hours).toBeCloseTo(48, 3);

    await passes(cash.id, "47 hours");
    await runSweep();
    expect((await orderOf(user, cash.id)).status).toBe("pending");
    await passes(cash.id, "2 hours");
    await runSweep();

    expect(await orderOf(user, cash.id)).toMatchObject({ status: "cancelled", paymentStatus: "pending" });
    expect((await readProduct(product.id)).stock).toBe(10);
    const tracking = await api("GET", `/api/orders/${cash.id}/tracking`, { headers: user.headers });
    expect(tracking.body.data.history.at(-1)).toMatchObject({
      status: "cancelled",
      note: "Cash on delivery not confirmed in time",
    });
    const events = await query<{ type: string }>(
      sql`SELECT type FROM outbox WHERE order_id = ${cash.id} AND type = 'order_cancellation'`,
    );
    expect(events).toHaveLength(1);
  });

  it("leaves a cash order an admin moved to processing alone, however old", async () => {
    const user = await newUser();
    const admin = await newUser("ADMIN");
    await cartWith(user, 1);
    const cash = (await placeOrder(user, CASH_ON_DELIVERY)).body.data;
    const moved = await api("PUT", `/api/orders/${cash.id}/status`, {
      headers: admin.headers,
      json: { status: "processing" },
    });
    expect(moved.status).toBe(200);
    await passes(cash.id, "30 days");
    await runSweep();
    expect((await orderOf(user, cash.id)).status).toBe("processing");
  });

  it("gives a payment retry that switches to cash on delivery the confirmation deadline, from the retry", async () => {
    const user = await newUser();
    const product = await cartWith(user, 3, { stock: 10 });
    const order = await declinedOrder(user);
    const retry = await api("POST", `/api/orders/${order.id}/payment`, {
      headers: user.headers,
      json: { paymentMethod: "cash_on_delivery" },
    });
    expect(retry.status).toBe(200);
    const [deadline] = await query<{ hours: number }>(
      sql`SELECT extract(epoch FROM payment_due_at - now())::float / 3600 AS hours FROM orders WHERE id = ${order.id}`,
    );
    expect(deadline?.hours).toBeGreaterThan(47.9);
    expect(deadline?.hours).toBeLessThanOrEqual(48);

    await passes(order.id, "49 hours");
    await runSweep();
    expect((await orderOf(user, order.id)).status).toBe("cancelled");
    expect((await readProduct(product.id)).stock).toBe(10);
  });

  it("replays a payment retry sent again with the same Idempotency-Key", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const order = await declinedOrder(user);
    const retry = () =>
      api("POST", `/api/orders/${order.id}/payment`, {
        headers: { ...user.headers, "idempotency-key": `pay-${order.id}` },
        json: { paymentMethod: "upi", paymentDetails: { upiId: "shopper@okbank" } },
      });
    const first = await retry();
    const again = await retry();
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const attempts = await query(sql`SELECT 1 FROM payments WHERE order_id = ${order.id}`);
    expect(attempts).toHaveLength(2);
  });
});

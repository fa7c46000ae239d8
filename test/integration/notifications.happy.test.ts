import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import {
  deliveries,
  failNotifications,
  type Received,
  receivedEventually,
} from "../helpers/notifications.ts";
import {
  CASH_ON_DELIVERY,
  cartWith,
  DECLINED_CARD,
  eventually,
  orderOf,
  paidOrder,
  placeOrder,
  query,
} from "../helpers/orders.ts";

const byKey = (list: Received[]) => [...list].sort((a, b) => (a.key < b.key ? -1 : 1));

async function outboxOf(orderId: string) {
  return query<{ id: string; type: string; published: boolean }>(
    sql`SELECT id, type, published_at IS NOT NULL AS published FROM outbox WHERE order_id = ${orderId} ORDER BY id`,
  );
}

describe("notifications", () => {
  it("notifies every change of an order, each event once, under its outbox id", async () => {
    const user = await newUser();
    const admin = await newUser("ADMIN");
    await cartWith(user, 2);
    const order = await paidOrder(user);
    await api("PUT", `/api/orders/${order.id}/status`, {
      headers: admin.headers,
      json: { status: "processing" },
    });
    await api("PUT", `/api/orders/${order.id}/status`, {
      headers: admin.headers,
      json: { status: "shipped", trackingNumber: "TRK-1", carrier: "BlueDart" },
    });

    // Sent concurrently within a batch, they may arrive in any order: sorted by key (UUIDv7 outbox
    // ids), they are in the order the changes were committed.
    const notifications = byKey(await receivedEventually({ orderId: order.id }, 4));
    expect(notifications.map((n) => [n.type, n.data.status, n.data.paymentStatus])).toEqual([
      ["order_confirmation", "pending", "pending"],
      ["payment_confirmation", "paid", "paid"],
      ["order_status_update", "processing", "paid"],
      ["order_status_update", "shipped", "paid"],
    ]);
    expect(new Set(notifications.map((n) => n.user_id))).toEqual(new Set([user.id]));
    expect(notifications[3]?.data).toMatchObject({ trackingNumber: "TRK-1", carrier: "BlueDart" });

    // Each key is an outbox row's id, and every row ends up published.
    const rows = await eventually(
      () => outboxOf(order.id),
      (list) => list.every((row) => row.published),
    );
    expect(notifications.map((n) => n.key).sort()).toEqual(rows.map((row) => row.id).sort());
    expect(rows.every((row) => row.published)).toBe(true);
  });

  it("records and notifies a payment decline and its retry", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const placed = (await placeOrder(user, DECLINED_CARD)).body.data;
    await eventually(
      () => orderOf(user, placed.id),
      (order) => order.paymentStatus === "failed",
    );
    const retried = await api("POST", `/api/orders/${placed.id}/payment`, {
      headers: user.headers,
      json: { paymentMethod: "upi", paymentDetails: { upiId: "buyer@okbank" } },
    });
    expect(retried.status).toBe(200);

    const notifications = byKey(await receivedEventually({ orderId: placed.id }, 4));
    expect(notifications.map((n) => [n.type, n.data.status, n.data.paymentStatus])).toEqual([
      ["order_confirmation", "pending", "pending"],
      ["order_status_update", "pending", "failed"],
      ["order_status_update", "pending", "pending"],
      ["payment_confirmation", "paid", "paid"],
    ]);
    const tracking = await api("GET", `/api/orders/${placed.id}/tracking`, { headers: user.headers });
    expect(
      tracking.body.data.history.map((entry: { status: string; note: string | null }) => [
        entry.status,
        entry.note,
      ]),
    ).toEqual([
      ["pending", null],
      ["pending", "Payment declined (card_declined)"],
      ["pending", "Payment retried (upi)"],
      ["paid", "Payment approved"],
    ]);
  });

  it("still delivers when the notification service fails for a while, always under the same key", async () => {
    const user = await newUser();
    await failNotifications(user.id, 3);
    await cartWith(user, 1);
    // Cash on delivery: the confirmation is the order's only event, so it meets all three failures.
    const placed = await placeOrder(user, CASH_ON_DELIVERY);
    expect(placed.status).toBe(201);

    const [confirmation] = await receivedEventually({ orderId: placed.body.data.id }, 1, 25_000);
    expect(confirmation?.type).toBe("order_confirmation");
    const calls = (await deliveries(user.id)).filter((d) => d.type === "order_confirmation");
    expect(calls.map((d) => d.outcome)).toEqual(["failed", "failed", "failed", "received"]);
    expect(new Set(calls.map((d) => d.key))).toEqual(new Set([confirmation?.key]));
  });
});

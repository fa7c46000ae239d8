// One clock (issue 16): an order's createdAt, updatedAt and history times come from the database,
// whatever the clock of the worker that wrote them. Here the worker's clock runs an hour ahead.
import { sql } from "drizzle-orm";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { OrderRow } from "../../src/db/queries.ts";
import { lockOverdueOrder } from "../../src/db/queries.ts";
import { SYSTEM } from "../../src/services/orders/deps.ts";
import { applyTransition } from "../../src/services/orders/status.ts";
import { newUser, newUserId, tokenFor } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import {
  CASH_ON_DELIVERY,
  cartWith,
  declinedOrder,
  orderOf,
  placeOrder,
  query,
  withDb,
} from "../helpers/orders.ts";

const HOUR = 60 * 60 * 1000;

async function userWithLongToken(role: "USER" | "ADMIN" = "USER") {
  const id = newUserId();
  // Valid on both clocks.
  const token = await tokenFor(id, { role, expiresIn: "3h" });
  return { id, headers: { authorization: `Bearer ${token}` } };
}

async function databaseNow(): Promise<number> {
  const [row] = await query<{ ms: string }>(sql`SELECT (extract(epoch FROM now()) * 1000)::bigint AS ms`);
  return Number(row?.ms);
}

/** Within a minute of the database's clock, not an hour ahead of it. */
function expectDatabaseTime(iso: string, at: number) {
  expect(Math.abs(Date.parse(iso) - at), iso).toBeLessThan(60_000);
}

afterEach(() => {
  vi.useRealTimers();
});

describe("one clock: the database's", () => {
  it("places and changes an order at the database's time, answers and replays it so, and records history so", async () => {
    const user = await userWithLongToken();
    const admin = await userWithLongToken("ADMIN");
    await cartWith(user, 1);
    const at = await databaseNow();
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + HOUR });

    const key = { "Idempotency-Key": `clock-${user.id}` };
    const placed = await placeOrder(user, CASH_ON_DELIVERY, key);
    expect(placed.status, JSON.stringify(placed.body)).toBe(201);
    const order = placed.body.data;
    expectDatabaseTime(order.createdAt, at);
    expect(order.updatedAt).toBe(order.createdAt);
    // The replay is the stored answer: the same times.
    const replay = await placeOrder(user, CASH_ON_DELIVERY, key);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body.data).toEqual(order);

    const moved = await api("PUT", `/api/orders/${order.id}/status`, {
      headers: admin.headers,
      json: { status: "processing" },
    });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expectDatabaseTime(moved.body.data.updatedAt, at);
    expect(Date.parse(moved.body.data.updatedAt)).toBeGreaterThanOrEqual(Date.parse(order.createdAt));
    expect(moved.body.data.createdAt).toBe(order.createdAt);
    // What is stored is what was answered.
    expect(await orderOf(user, order.id)).toEqual(moved.body.data);

    const [row] = await query<{ created_at: Date; updated_at: Date }>(
      sql`SELECT created_at, updated_at FROM orders WHERE id = ${order.id}`,
    );
    expect(new Date(row?.created_at as Date).toISOString()).toBe(order.createdAt);
    expect(new Date(row?.updated_at as Date).toISOString()).toBe(moved.body.data.updatedAt);
    const tracking = await api("GET", `/api/orders/${order.id}/tracking`, { headers: user.headers });
    for (const entry of tracking.body.data.history) expectDatabaseTime(entry.at, at);
  });

  it("stamps a payment retry's answer and its stored replay with the database's time", async () => {
    const user = await userWithLongToken();
    await cartWith(user, 1);
    const declined = await declinedOrder(user);
    const at = await databaseNow();
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + HOUR });
    const retry = () =>
      api("POST", `/api/orders/${declined.id}/payment`, {
        headers: { ...user.headers, "Idempotency-Key": `clock-retry-${user.id}` },
        json: { paymentMethod: "cash_on_delivery" },
      });
    const first = await retry();
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expectDatabaseTime(first.body.data.updatedAt, at);
    const again = await retry();
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.data).toEqual(first.body.data);
  });
});

describe("an order's changes, stamped in the order they were made", () => {
  it("stamps the sweep's cancellation after a change committed between its transaction's start and its lock", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const placed = await placeOrder(user, CASH_ON_DELIVERY);
    expect(placed.status).toBe(201);
    const id = placed.body.data.id as string;
    const [due] = await query<{ ms: string }>(
      sql`SELECT (extract(epoch FROM payment_due_at) * 1000)::bigint AS ms FROM orders WHERE id = ${id}`,
    );

    let meanwhile = "";
    await withDb((database) =>
      database.transaction(async (tx) => {
        await tx.execute(sql`SELECT 1`);
        // A change committed after the sweep's transaction began and before it locked the order (a
        // payment declined, say, which leaves it pending), stamped with its own transaction's time.
        const [change] = await query<{ at: string }>(
          sql`UPDATE orders SET updated_at = date_trunc('milliseconds', now()) WHERE id = ${id} RETURNING now()::text AS at`,
        );
        meanwhile = change?.at ?? "";
        // Overdue as of a second past its deadline (not now: another test's sweep leaves it alone).
        const order = await lockOverdueOrder(tx, id, new Date(Number(due?.ms) + 1000));
        expect(order?.status).toBe("pending");
        await applyTransition(tx, order as OrderRow, "cancelled", SYSTEM, { note: "overdue" });
      }),
    );
    const [stamps] = await query<Record<string, boolean>>(sql`
      SELECT h.created_at > ${meanwhile}::timestamptz AS after_meanwhile,
             e.created_at = h.created_at AS event,
             o.updated_at = date_trunc('milliseconds', h.created_at) AS order,
             (SELECT bool_and(p.settled_at = h.created_at) FROM payments p WHERE p.order_id = o.id) AS payments
      FROM orders o
      JOIN order_status_history h ON h.order_id = o.id AND h.to_status = 'cancelled'
      JOIN outbox e ON e.order_id = o.id AND e.payload->>'status' = 'cancelled'
      WHERE o.id = ${id}`);
    // After the change before it; its history entry, event, payments and order carry one stamp.
    expect(stamps).toEqual({ after_meanwhile: true, event: true, order: true, payments: true });
  });
});

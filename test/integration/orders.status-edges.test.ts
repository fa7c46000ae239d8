// The one-trip status change (issue 17) where it could part from the read-then-batch path: a change
// the order's lock made wait, and requests whose text looks like the stand-ins the rules are
// evaluated with. First written as an adversarial review's failing tests.
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config.ts";
import { Database, type Tx } from "../../src/db/client.ts";
import type { UpdateStatusBody } from "../../src/schemas/order.ts";
import type { Actor, OrderDeps } from "../../src/services/orders/deps.ts";
import { changeStatus } from "../../src/services/orders/status.ts";
import { newUser, newUserId } from "../helpers/auth.ts";
import { sqlRequests } from "../helpers/checkout.ts";
import { api } from "../helpers/http.ts";
import {
  CASH_ON_DELIVERY,
  cartWith,
  orderDeps,
  placeOrder,
  query,
  someoneWaitsOn,
  withDb,
} from "../helpers/orders.ts";

const move = (user: { headers: Record<string, string> }, orderId: string, json: UpdateStatusBody) =>
  api("PUT", `/api/orders/${orderId}/status`, { headers: user.headers, json });

async function pendingOrderOf(owner: Awaited<ReturnType<typeof newUser>>) {
  await cartWith(owner, 1, { stock: 10 });
  const placed = await placeOrder(owner, CASH_ON_DELIVERY);
  expect(placed.status).toBe(201);
  return placed.body.data.id as string;
}

/**
 * The admin's cancellation of order `id`, sent while another transaction holds the order: `hold`
 * runs in it first, `thenCommit` once the cancellation is blocked on it, and then it commits.
 */
async function cancelWhileHeld(
  admin: Awaited<ReturnType<typeof newUser>>,
  id: string,
  hold: (tx: Tx) => Promise<unknown>,
  thenCommit: (tx: Tx) => Promise<unknown> = async () => {},
) {
  // Wrapped, so that the transaction commits without waiting for the cancellation it blocks.
  const { cancelling } = await withDb((holder) =>
    holder.transaction(async (tx) => {
      await hold(tx);
      const cancelling = move(admin, id, { status: "cancelled", note: "customer called" });
      await someoneWaitsOn(tx);
      await thenCommit(tx);
      return { cancelling };
    }),
  );
  return cancelling;
}

describe("a status change in one round trip", () => {
  it("voids a payment attempt that a retry committed while the cancellation waited for the order's lock", async () => {
    const admin = await newUser("ADMIN");
    const owner = await newUser();
    const id = await pendingOrderOf(owner);
    // A payment retry's batch (payments.ts retryPayment -> changeOrder): it locks the order first,
    // adds a new pending attempt, and commits while the admin's cancellation is waiting on the lock.
    const res = await cancelWhileHeld(admin, id, async (tx) => {
      await tx.execute(sql`UPDATE orders SET payment_status = 'pending' WHERE id = ${id}`);
      await tx.execute(
        sql`UPDATE payments SET status = 'declined', settled_at = now() WHERE order_id = ${id}`,
      );
      await tx.execute(sql`
        INSERT INTO payments (id, order_id, attempt, method, status, amount, currency)
        SELECT gen_random_uuid(), ${id}, max(attempt) + 1, 'cash_on_delivery', 'pending', max(amount), 'USD'
        FROM payments WHERE order_id = ${id}`);
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const attempts = await query<{ attempt: number; status: string }>(
      sql`SELECT attempt, status FROM payments WHERE order_id = ${id} ORDER BY attempt`,
    );
    // A cancelled order keeps no attempt pending (the sweep would re-submit it to the gateway).
    expect(attempts.filter((attempt) => attempt.status === "pending")).toEqual([]);
  });

  it("stamps a change that waited for the order's lock after the change that held it", async () => {
    const admin = await newUser("ADMIN");
    const owner = await newUser();
    const id = await pendingOrderOf(owner);
    // A change that took the order's lock after the cancellation's transaction began, and was
    // stamped once it held the lock, as a one-trip change is: the cancellation, which waited for
    // it, must not be stamped before it (its notification and live event carry the stamp as `at`).
    const res = await cancelWhileHeld(
      admin,
      id,
      (tx) => tx.execute(sql`SELECT 1 FROM orders WHERE id = ${id} FOR UPDATE`),
      (tx) =>
        tx.execute(sql`
          WITH changed AS (
            UPDATE orders SET status = 'processing', updated_at = date_trunc('milliseconds', clock_timestamp())
            WHERE id = ${id} RETURNING id)
          INSERT INTO order_status_history (order_id, from_status, to_status, actor_id, actor_role, created_at)
          SELECT id, 'pending', 'processing', ${admin.id}, 'ADMIN', clock_timestamp() FROM changed`),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const history = await query<{ to_status: string; after_previous: boolean }>(
      sql`SELECT to_status, created_at > lag(created_at) OVER (ORDER BY id) AS after_previous
          FROM order_status_history WHERE order_id = ${id} ORDER BY id`,
    );
    expect(history).toEqual([
      { to_status: "pending", after_previous: null },
      { to_status: "processing", after_previous: true },
      { to_status: "cancelled", after_previous: true },
    ]);
    // The order, its history entry and its event (the `at` that notifications and live status carry)
    // agree: one stamp, the order's cut to milliseconds.
    const [stamps] = await query<{ event: boolean; order: boolean }>(
      sql`SELECT e.created_at = h.created_at AS event, o.updated_at = date_trunc('milliseconds', h.created_at) AS order
          FROM orders o
          JOIN order_status_history h ON h.order_id = o.id AND h.to_status = 'cancelled'
          JOIN outbox e ON e.order_id = o.id AND e.payload->>'status' = 'cancelled'
          WHERE o.id = ${id}`,
    );
    expect(stamps).toEqual({ event: true, order: true });
  });

  it("refuses a note or tracking number with NUL, as the stand-ins are, and changes nothing", async () => {
    const admin = await newUser("ADMIN");
    const owner = await newUser();
    const id = await pendingOrderOf(owner);
    const cancelled = await move(owner, id, {
      status: "cancelled",
      note: "\u0000stand-in:order.shippingAddress",
    });
    expect(cancelled.status).toBe(400);
    expect(cancelled.body.error.details).toEqual([
      { path: "note", message: "must not be empty nor contain NUL characters" },
    ]);
    expect((await move(admin, id, { status: "processing" })).status).toBe(200);
    const shipped = await move(admin, id, {
      status: "shipped",
      trackingNumber: "\u0000stand-in:order.userId",
    });
    expect(shipped.status).toBe(400);
    const [order] = await query<{ tracking_number: string | null; status: string }>(
      sql`SELECT tracking_number, status FROM orders WHERE id = ${id}`,
    );
    expect(order).toEqual({ tracking_number: null, status: "processing" });
    expect(
      await query(sql`SELECT 1 FROM order_status_history WHERE order_id = ${id} AND to_status = 'cancelled'`),
    ).toEqual([]);
  });
});

describe("a status change's text", () => {
  it("refuses a note with a NUL character as invalid input (400), not as an internal error (500)", async () => {
    const admin = await newUser("ADMIN");
    const owner = await newUser();
    const id = await pendingOrderOf(owner);
    const res = await move(admin, id, { status: "processing", note: "left at\u0000the door" });
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
  });

  it("makes one request to the database for a note that merely contains the text \\u0000stand-in:", async () => {
    const admin: Actor & { id: number } = { id: newUserId(), role: "ADMIN" };
    const owner = await newUser();
    const id = await pendingOrderOf(owner);
    const database = new Database(getConfig(env));
    try {
      const deps = { ...orderDeps(database), events: { publish: () => {}, drain: async () => {} } };
      // Plain text, no NUL: a backslash, "u0000stand-in:" (e.g. pasted from a log).
      const note = "see \\u0000stand-in:order.id in the log";
      const { result: order, requests } = await sqlRequests(() =>
        changeStatus(deps as unknown as OrderDeps, admin, id, { status: "processing", note }),
      );
      expect({ status: order.status, requests }).toEqual({ status: "processing", requests: 1 });
    } finally {
      await database.close();
    }
  });
});

// A status change or payment retry reads the order, decides, and writes its change in one batch only
// if the order is still the version it read (README "Status flow"). These tests make the order change
// under a request at exactly that point, deterministically.
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import {
  CASH_ON_DELIVERY,
  cartWith,
  DECLINED_CARD,
  eventually,
  orderOf,
  placeOrder,
  query,
} from "../helpers/orders.ts";

const RETRY_CARD = {
  paymentMethod: "credit_card",
  paymentDetails: { cardNumber: "**** **** **** 4242", expiryDate: "10/31" },
};

beforeAll(async () => {
  // An order listed in test_frozen_orders cannot be updated: every UPDATE of its row is skipped (a
  // BEFORE trigger answering NULL), as if another change had always landed first. Each skipped
  // update counts in test_frozen_attempts (a sequence: not rolled back with the batch).
  await query(sql`CREATE TABLE IF NOT EXISTS test_frozen_orders (id uuid PRIMARY KEY)`);
  await query(sql`CREATE SEQUENCE IF NOT EXISTS test_frozen_attempts`);
  await query(
    sql.raw(`CREATE OR REPLACE FUNCTION test_skip_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM test_frozen_orders WHERE id = OLD.id) THEN
        PERFORM nextval('test_frozen_attempts');
        RETURN NULL;
      END IF;
      RETURN NEW;
    END $$`),
  );
  await query(sql`DROP TRIGGER IF EXISTS test_skip_frozen ON orders`);
  await query(
    sql`CREATE TRIGGER test_skip_frozen BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION test_skip_frozen()`,
  );
});

async function attempts(): Promise<number> {
  const [row] = await query<{ n: string }>(
    sql`SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM test_frozen_attempts`,
  );
  return Number(row?.n);
}

async function frozen<T>(orderId: string, work: () => Promise<T>): Promise<{ result: T; attempts: number }> {
  await query(sql`INSERT INTO test_frozen_orders (id) VALUES (${orderId})`);
  try {
    const before = await attempts();
    const result = await work();
    return { result, attempts: (await attempts()) - before };
  } finally {
    await query(sql`DELETE FROM test_frozen_orders WHERE id = ${orderId}`);
  }
}

async function historyOf(orderId: string) {
  const rows = await query<{
    actor_role: string;
    from_status: string | null;
    to_status: string;
    note: string | null;
  }>(
    sql`SELECT actor_role, from_status, to_status, note FROM order_status_history WHERE order_id = ${orderId} ORDER BY id`,
  );
  return rows.map(
    (row) => `${row.actor_role}:${row.from_status}->${row.to_status}${row.note ? ` (${row.note})` : ""}`,
  );
}

describe("a change that keeps losing to concurrent changes", () => {
  it("answers a status change 409 CONCURRENT_CHANGE with Retry-After after five tries, and then lands on retry", async () => {
    const owner = await newUser();
    await cartWith(owner, 1);
    const order = (await placeOrder(owner, CASH_ON_DELIVERY)).body.data;
    const cancel = () =>
      api("PUT", `/api/orders/${order.id}/status`, { headers: owner.headers, json: { status: "cancelled" } });

    const { result: refused, attempts: tries } = await frozen(order.id, cancel);
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body).toMatchObject({ success: false, error: { code: "CONCURRENT_CHANGE" } });
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(tries).toBe(5);
    expect(await historyOf(order.id)).toEqual(["USER:null->pending"]);

    // Retryable: once the order stops changing, the same request lands.
    const retried = await cancel();
    expect(retried.status).toBe(200);
    expect(retried.body.data.status).toBe("cancelled");
  });

  it("answers a payment retry 409 CONCURRENT_CHANGE after five tries, writing no attempt, and frees its key for the retry", async () => {
    const owner = await newUser();
    await cartWith(owner, 1);
    const placed = (await placeOrder(owner, DECLINED_CARD)).body.data;
    await eventually(
      () => orderOf(owner, placed.id),
      (current) => current.paymentStatus === "failed",
    );
    const retry = () =>
      api("POST", `/api/orders/${placed.id}/payment`, {
        headers: { ...owner.headers, "Idempotency-Key": `retry-${placed.id}` },
        json: RETRY_CARD,
      });

    const { result: refused, attempts: tries } = await frozen(placed.id, retry);
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.error.code).toBe("CONCURRENT_CHANGE");
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(tries).toBe(5);
    const payments = await query(sql`SELECT attempt FROM payments WHERE order_id = ${placed.id}`);
    expect(payments).toHaveLength(1);

    const retried = await retry();
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();
    expect(retried.body.data.paymentStatus).toBe("pending");
  });
});

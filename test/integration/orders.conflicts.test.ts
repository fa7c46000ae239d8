// A status change or payment retry reads the order, decides, and writes its change in one batch only
// if the order is still the version it read (docs/api.md, "Status flow"). These tests make the order change
// under a request at exactly that point, deterministically.
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { getConfig } from "../../src/config.ts";
import { Database, type HttpDb } from "../../src/db/client.ts";
import { placeOrder as placeOrderRows } from "../../src/db/queries.ts";
import { uuidv7 } from "../../src/lib/ids.ts";
import { newPlacement } from "../../src/services/orders/checkout.ts";
import { settleGatewayPayment } from "../../src/services/orders/payments.ts";
import { changeStatusAsRead } from "../../src/services/orders/status.ts";
import { EventPublisher } from "../../src/services/outbox.ts";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import {
  CASH_ON_DELIVERY,
  cartWith,
  declinedOrder,
  orderDeps,
  placeOrder,
  query,
  SEED_ORDER,
} from "../helpers/orders.ts";
import { createProduct, readProduct } from "../helpers/products.ts";

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
    const placed = await declinedOrder(owner);
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

describe("payment attempts", () => {
  it("are unique per order and number: the database refuses a second attempt 1", async () => {
    const owner = await newUser();
    await cartWith(owner, 1);
    const order = (await placeOrder(owner, SEED_ORDER)).body.data;
    const duplicate = await query(sql`
      INSERT INTO payments (id, order_id, attempt, method, status, amount, currency)
      VALUES (${uuidv7()}, ${order.id}, 1, 'upi', 'pending', ${order.totalAmount}, ${order.currency})`).catch(
      (error: unknown) => error,
    );
    expect(duplicate).toMatchObject({ cause: { code: "23505", constraint: "payments_order_attempt_idx" } });
  });
});

describe("payment retries and settlements racing status changes", () => {
  it("takes one of two simultaneous payment retries of one order; the other is refused as no longer retryable", async () => {
    const owner = await newUser();
    await cartWith(owner, 1);
    const placed = await declinedOrder(owner);
    const retry = () =>
      api("POST", `/api/orders/${placed.id}/payment`, { headers: owner.headers, json: RETRY_CARD });
    const results = await Promise.all([retry(), retry()]);
    const outcomes = results.map((res) =>
      res.status === 200 ? "200" : `${res.status} ${res.body.error.code}`,
    );
    expect(outcomes.sort()).toEqual(["200", "409 PAYMENT_NOT_RETRYABLE"]);
    const payments = await query<{ attempt: number }>(
      sql`SELECT attempt FROM payments WHERE order_id = ${placed.id} ORDER BY attempt`,
    );
    expect(payments.map((p) => p.attempt)).toEqual([1, 2]);
    const retries = (await historyOf(placed.id)).filter((entry) => entry.includes("Payment retried"));
    expect(retries).toHaveLength(1);
  });

  it("judges a cancellation again when the gateway's settlement lands between its read and its batch", async () => {
    const owner = await newUser();
    const config = getConfig(env);
    const product = await createProduct({ price: 500, stock: 10 });
    // A card order placed below the HTTP surface, so that no gateway settles it on its own.
    const placement = newPlacement(config, {
      orderId: uuidv7(),
      userId: owner.id,
      body: SEED_ORDER as never,
      lines: [
        {
          productId: product.id,
          productName: product.name,
          price: 500,
          quantity: 2,
          totalPrice: 1000,
          image: null,
        },
      ],
      currency: "USD",
    });
    const setup = new Database(config);
    await setup.batch((db) => placeOrderRows(db, { ...placement, also: null }));
    await setup.close();
    const paymentId = placement.payment.id as string;

    // The request's database: after its first read of the order, the gateway approves the payment.
    let reads = 0;
    class SettlingDatabase extends Database {
      override async once<T>(work: (db: HttpDb) => Promise<T>): Promise<T> {
        const result = await super.once(work);
        reads += 1;
        if (reads === 1) {
          const gateway = new Database(config);
          const events = new EventPublisher(env, gateway);
          try {
            await settleGatewayPayment({ ...deps, database: gateway, events }, paymentId, { approved: true });
          } finally {
            await events.drain().finally(() => gateway.close());
          }
        }
        return result;
      }
    }
    const database = new SettlingDatabase(config);
    const deps = orderDeps(database);
    try {
      const cancelled = await changeStatusAsRead(deps, { id: owner.id, role: "USER" }, placement.order.id, {
        status: "cancelled",
      });
      // Judged against the paid order it then was: cancelled and refunded, not cancelled as unpaid.
      expect(cancelled).toMatchObject({ status: "cancelled", paymentStatus: "refunded" });
    } finally {
      await deps.events.drain().finally(() => database.close());
    }
    // The stale batch was refused (else it would have voided the approved payment), and the order read again.
    expect(reads).toBeGreaterThan(1);
    // Its two units, never reserved here, were given back: released once.
    expect((await readProduct(product.id)).stock).toBe(12);
    const [payment] = await query<{ status: string }>(
      sql`SELECT status FROM payments WHERE id = ${paymentId}`,
    );
    expect(payment?.status).toBe("approved");
    expect(await historyOf(placement.order.id)).toEqual([
      "USER:null->pending",
      "SYSTEM:pending->paid (Payment approved)",
      "USER:paid->cancelled",
    ]);
  });
});

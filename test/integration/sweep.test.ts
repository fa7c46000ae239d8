import { sql, TransactionRollbackError } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import type { Executor } from "../../src/db/client.ts";
import { duePaymentResubmissions, markResubmitted } from "../../src/db/queries.ts";
import { uuidv7 } from "../../src/lib/ids.ts";
import { newUser } from "../helpers/auth.ts";
import { eventually, orderOf, query, runSweep, withDb } from "../helpers/orders.ts";

/**
 * A card order whose payment attempt the gateway never got (the worker died before submitting it),
 * placed `ageMinutes` ago. Answers the payment's id.
 */
async function unsubmittedPayment(db: Executor, userId: number, ageMinutes: number): Promise<string> {
  const orderId = uuidv7();
  const paymentId = uuidv7();
  await db.execute(sql`
    INSERT INTO orders (id, user_id, status, payment_status, payment_method, total_amount, currency,
                        shipping_address, payment_due_at, created_at)
    VALUES (${orderId}, ${userId}, 'pending', 'pending', 'credit_card', 1250, 'USD', '{}'::jsonb,
            now() + interval '30 minutes', now() - make_interval(mins => ${ageMinutes}))`);
  await db.execute(sql`
    INSERT INTO payments (id, order_id, attempt, method, status, reference, amount, currency, created_at)
    VALUES (${paymentId}, ${orderId}, 1, 'credit_card', 'pending', '4242', 1250, 'USD',
            now() - make_interval(mins => ${ageMinutes}))`);
  return paymentId;
}

describe("the sweep re-submitting payments", () => {
  it("re-sends an attempt the gateway never acknowledged, and the order gets paid", async () => {
    const user = await newUser();
    const paymentId = await withDb((database) => unsubmittedPayment(database.db, user.id, 10));
    const [row] = await query<{ order_id: string }>(
      sql`SELECT order_id FROM payments WHERE id = ${paymentId}`,
    );
    const orderId = row?.order_id as string;
    await runSweep();
    const order = await eventually(
      () => orderOf(user, orderId),
      (current) => current.status === "paid",
    );
    expect(order).toMatchObject({ status: "paid", paymentStatus: "paid" });
  });

  it("backs off an attempt it re-sent, so a stuck one does not starve newer ones", async () => {
    const user = await newUser();
    // In one transaction, rolled back at the end: other test files' sweeps never see these rows.
    await withDb((database) =>
      database.db.transaction(async (tx) => {
        const due = async (limit: number) =>
          (await duePaymentResubmissions(tx, new Date(Date.now() - 60_000), limit)).map(
            (payment) => payment.id,
          );
        // Far older than anything else in this run's database, so these two head the queue.
        const stuck = await unsubmittedPayment(tx, user.id, 100_000);
        const newer = await unsubmittedPayment(tx, user.id, 99_000);

        expect(await due(1)).toEqual([stuck]);
        await markResubmitted(tx, [stuck]);
        expect(await due(1)).toEqual([newer]);
        await markResubmitted(tx, [newer]);

        // The stuck one is due again once its first backoff (2 min) has passed, and not before.
        expect(await due(1000)).not.toContain(stuck);
        await tx.execute(
          sql`UPDATE payments SET resubmitted_at = now() - interval '3 minutes' WHERE id = ${stuck}`,
        );
        expect(await due(1000)).toContain(stuck);
        // After a second re-send it waits 4 minutes: 3 are not enough.
        await markResubmitted(tx, [stuck]);
        await tx.execute(
          sql`UPDATE payments SET resubmitted_at = now() - interval '3 minutes' WHERE id = ${stuck}`,
        );
        expect(await due(1000)).not.toContain(stuck);
        tx.rollback();
      }),
    ).catch((error: unknown) => {
      if (!(error instanceof TransactionRollbackError)) throw error;
    });
  });
});

describe("the sweep cancelling overdue orders", () => {
  it("cancels every overdue order of a batch, each recorded and notified", async () => {
    const user = await newUser();
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) {
      const id = uuidv7();
      ids.push(id);
      await query(sql`
        INSERT INTO orders (id, user_id, status, payment_status, payment_method, total_amount, currency,
                            shipping_address, payment_due_at)
        VALUES (${id}, ${user.id}, 'pending', 'failed', 'credit_card', 0, 'USD', '{}'::jsonb, now() - interval '1 minute')`);
    }
    await runSweep();
    const rows = await query<{ status: string; cancellations: number }>(sql`
      SELECT o.status, (SELECT count(*)::int FROM outbox e WHERE e.order_id = o.id AND e.type = 'order_cancellation') AS cancellations
      FROM orders o WHERE o.user_id = ${user.id}`);
    expect(rows).toEqual(ids.map(() => ({ status: "cancelled", cancellations: 1 })));
  });
});

import { and, asc, desc, eq, lt, ne, sql } from "drizzle-orm";
import type { Executor, Tx } from "../client.ts";
import { payments } from "../schema.ts";

/** Payment attempts. */

export type PaymentRow = typeof payments.$inferSelect;
export type NewPayment = typeof payments.$inferInsert;

export async function insertPayment(tx: Tx, payment: NewPayment): Promise<PaymentRow> {
  const [row] = await tx.insert(payments).values(payment).returning();
  return row as PaymentRow;
}

export async function latestPayment(db: Executor, orderId: string): Promise<PaymentRow | undefined> {
  const [row] = await db
    .select()
    .from(payments)
    .where(eq(payments.orderId, orderId))
    .orderBy(desc(payments.attempt))
    .limit(1);
  return row;
}

export async function lockPayment(tx: Tx, paymentId: string): Promise<PaymentRow | undefined> {
  const [row] = await tx.select().from(payments).where(eq(payments.id, paymentId)).for("update");
  return row;
}

export async function updatePayment(tx: Tx, paymentId: string, patch: Partial<NewPayment>): Promise<void> {
  await tx.update(payments).set(patch).where(eq(payments.id, paymentId));
}

/** Settles whatever attempt of an order is still pending: voided (moot) or approved (cash collected). */
export async function settlePendingPayments(
  tx: Tx,
  orderId: string,
  status: "voided" | "approved",
): Promise<void> {
  await tx
    .update(payments)
    .set({ status, settledAt: sql`now()` })
    .where(and(eq(payments.orderId, orderId), eq(payments.status, "pending")));
}

/** An attempt's order id, read without locking (locks are taken order first, then payment). */
export async function paymentOrderId(db: Executor, paymentId: string): Promise<string | undefined> {
  const [row] = await db
    .select({ orderId: payments.orderId })
    .from(payments)
    .where(eq(payments.id, paymentId));
  return row?.orderId;
}

/**
 * Gateway attempts still pending long after the gateway should have settled them: re-sent by the
 * sweep. Cash on delivery never goes through the gateway (it is settled on delivery).
 */
export async function stalePendingPayments(
  db: Executor,
  olderThan: Date,
  limit: number,
): Promise<PaymentRow[]> {
  return db
    .select()
    .from(payments)
    .where(
      and(
        eq(payments.status, "pending"),
        ne(payments.method, "cash_on_delivery"),
        lt(payments.createdAt, olderThan),
      ),
    )
    .orderBy(asc(payments.createdAt))
    .limit(limit);
}

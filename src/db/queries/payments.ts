import { and, desc, eq, inArray, isNull, lt, ne, or, type SQL, sql } from "drizzle-orm";
import type { Queryable, Tx } from "../client.ts";
import { payments } from "../schema.ts";

/** Payment attempts. */

export type PaymentRow = typeof payments.$inferSelect;
export type NewPayment = typeof payments.$inferInsert;

export async function latestPayment(db: Queryable, orderId: string): Promise<PaymentRow | undefined> {
  const [row] = await db
    .select()
    .from(payments)
    .where(eq(payments.orderId, orderId))
    .orderBy(desc(payments.attempt))
    .limit(1);
  return row;
}

/** Settles whatever attempt of an order is still pending: voided (moot) or approved (cash collected). */
export async function settlePendingPayments(
  tx: Tx,
  orderId: string,
  status: "voided" | "approved",
  at: SQL,
): Promise<void> {
  await tx
    .update(payments)
    .set({ status, settledAt: at })
    .where(and(eq(payments.orderId, orderId), eq(payments.status, "pending")));
}

/** What a settlement needs of an attempt: its order, number and status. */
export async function findPayment(
  db: Queryable,
  paymentId: string,
): Promise<Pick<PaymentRow, "orderId" | "attempt" | "status"> | undefined> {
  const [row] = await db
    .select({ orderId: payments.orderId, attempt: payments.attempt, status: payments.status })
    .from(payments)
    .where(eq(payments.id, paymentId));
  return row;
}

/** Voids an attempt if it is still pending (its order moved on without it); one statement. */
export async function voidPendingPayment(db: Queryable, paymentId: string): Promise<void> {
  await db
    .update(payments)
    .set({ status: "voided", settledAt: sql`now()` })
    .where(and(eq(payments.id, paymentId), eq(payments.status, "pending")));
}

/**
 * Gateway attempts still pending long after the gateway should have settled them, due to be re-sent
 * by the sweep: never re-sent yet, or re-sent longer ago than their backoff (2 min, doubling, at
 * most 1 h), the longest waiting first. An attempt the gateway keeps ignoring so falls behind the
 * others instead of taking every sweep's batch. Cash on delivery never goes through the gateway.
 */
export async function duePaymentResubmissions(
  db: Queryable,
  olderThan: Date,
  limit: number,
): Promise<PaymentRow[]> {
  // The exponent is clamped before multiplying: 2 min · 2^37 is past what an interval can hold.
  const backoff = sql`least(interval '1 hour', interval '2 minutes' * power(2, least(greatest(${payments.resubmissions} - 1, 0), 6)))`;
  return db
    .select()
    .from(payments)
    .where(
      and(
        eq(payments.status, "pending"),
        ne(payments.method, "cash_on_delivery"),
        lt(payments.createdAt, olderThan),
        or(isNull(payments.resubmittedAt), lt(payments.resubmittedAt, sql`now() - ${backoff}`)),
      ),
    )
    .orderBy(sql`coalesce(${payments.resubmittedAt}, ${payments.createdAt})`)
    .limit(limit);
}

export async function markResubmitted(db: Queryable, paymentIds: string[]): Promise<void> {
  if (paymentIds.length === 0) return;
  await db
    .update(payments)
    .set({ resubmittedAt: sql`now()`, resubmissions: sql`${payments.resubmissions} + 1` })
    .where(inArray(payments.id, paymentIds));
}

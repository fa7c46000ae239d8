import { and, asc, desc, eq, inArray, isNull, lt, lte, ne, or, type SQL, sql } from "drizzle-orm";
import type { Executor, Tx } from "./client.ts";
import {
  idempotencyKeys,
  type OrderStatus,
  orderItems,
  orderStatusHistory,
  orders,
  outbox,
  payments,
  stockReleases,
} from "./schema.ts";

/** The one place SQL lives: every read and write of the order tables. */

export type OrderRow = typeof orders.$inferSelect;
export type OrderItemRow = typeof orderItems.$inferSelect;
export type PaymentRow = typeof payments.$inferSelect;
export type HistoryRow = typeof orderStatusHistory.$inferSelect;
export type IdempotencyRow = typeof idempotencyKeys.$inferSelect;
export type NewOrder = typeof orders.$inferInsert;
export type NewOrderItem = typeof orderItems.$inferInsert;
export type NewPayment = typeof payments.$inferInsert;
export type NewHistory = typeof orderStatusHistory.$inferInsert;
export type NewOutbox = typeof outbox.$inferInsert;

export async function insertOrder(tx: Tx, order: NewOrder, items: NewOrderItem[]): Promise<OrderRow> {
  const [row] = await tx.insert(orders).values(order).returning();
  await tx.insert(orderItems).values(items);
  return row as OrderRow;
}

export async function findOrder(db: Executor, orderId: string): Promise<OrderRow | undefined> {
  const [row] = await db.select().from(orders).where(eq(orders.id, orderId));
  return row;
}

/** Reads and locks an order for the rest of the transaction, so concurrent changes queue up. */
export async function lockOrder(tx: Tx, orderId: string): Promise<OrderRow | undefined> {
  const [row] = await tx.select().from(orders).where(eq(orders.id, orderId)).for("update");
  return row;
}

export async function updateOrder(tx: Tx, orderId: string, patch: Partial<NewOrder>): Promise<OrderRow> {
  const [row] = await tx
    .update(orders)
    .set({ ...patch, updatedAt: sql`now()` })
    .where(eq(orders.id, orderId))
    .returning();
  return row as OrderRow;
}

export async function itemsOf(db: Executor, orderIds: string[]): Promise<OrderItemRow[]> {
  if (orderIds.length === 0) return [];
  return db
    .select()
    .from(orderItems)
    .where(inArray(orderItems.orderId, orderIds))
    .orderBy(asc(orderItems.productId));
}

export interface OrderPageQuery {
  userId: number;
  limit: number;
  status?: OrderStatus;
  after?: { createdAt: Date; id: string };
}

/** A user's orders, newest first, by keyset on (created_at, id): stable under concurrent inserts. */
export async function listOrders(db: Executor, query: OrderPageQuery): Promise<OrderRow[]> {
  const conditions: SQL[] = [eq(orders.userId, query.userId)];
  if (query.status) conditions.push(eq(orders.status, query.status));
  if (query.after) {
    const { createdAt, id } = query.after;
    conditions.push(
      or(lt(orders.createdAt, createdAt), and(eq(orders.createdAt, createdAt), lt(orders.id, id))) as SQL,
    );
  }
  return db
    .select()
    .from(orders)
    .where(and(...conditions))
    .orderBy(desc(orders.createdAt), desc(orders.id))
    .limit(query.limit);
}

export async function insertHistory(tx: Tx, entry: NewHistory): Promise<void> {
  await tx.insert(orderStatusHistory).values(entry);
}

export async function historyOf(db: Executor, orderId: string): Promise<HistoryRow[]> {
  return db
    .select()
    .from(orderStatusHistory)
    .where(eq(orderStatusHistory.orderId, orderId))
    .orderBy(asc(orderStatusHistory.id));
}

export async function insertOutbox(tx: Tx, event: NewOutbox): Promise<void> {
  await tx.insert(outbox).values(event);
}

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

/** Unpaid orders past their payment deadline, oldest deadline first. */
export async function overdueOrderIds(db: Executor, now: Date, limit: number): Promise<string[]> {
  const rows = await db
    .select({ id: orders.id })
    .from(orders)
    .where(and(eq(orders.status, "pending"), lt(orders.paymentDueAt, now)))
    .orderBy(asc(orders.paymentDueAt))
    .limit(limit);
  return rows.map((row) => row.id);
}

/** Locks an order if it is still pending past its deadline; skipped while another transaction holds it. */
export async function lockOverdueOrder(tx: Tx, orderId: string, now: Date): Promise<OrderRow | undefined> {
  const [row] = await tx
    .select()
    .from(orders)
    .where(and(eq(orders.id, orderId), eq(orders.status, "pending"), lt(orders.paymentDueAt, now)))
    .for("update", { skipLocked: true });
  return row;
}

export async function insertStockReleases(
  tx: Tx,
  orderId: string,
  items: { productId: string; quantity: number }[],
) {
  if (items.length === 0) return;
  await tx
    .insert(stockReleases)
    .values(items.map((item) => ({ orderId, productId: item.productId, quantity: item.quantity })))
    .onConflictDoNothing();
}

/** Owed releases due for an attempt, longest waiting first. */
export async function pendingStockReleases(db: Executor, limit: number, orderId?: string) {
  const conditions: SQL[] = [isNull(stockReleases.releasedAt), lte(stockReleases.nextAttemptAt, sql`now()`)];
  if (orderId) conditions.push(eq(stockReleases.orderId, orderId));
  return db
    .select()
    .from(stockReleases)
    .where(and(...conditions))
    .orderBy(asc(stockReleases.nextAttemptAt), asc(stockReleases.productId))
    .limit(limit);
}

/**
 * Marks a release done before it is attempted (committed on its own), so that it can never be
 * applied twice; answers false when another worker claimed it first.
 */
export async function claimStockRelease(db: Executor, orderId: string, productId: string): Promise<boolean> {
  const rows = await db
    .update(stockReleases)
    .set({ releasedAt: sql`now()` })
    .where(
      and(
        eq(stockReleases.orderId, orderId),
        eq(stockReleases.productId, productId),
        isNull(stockReleases.releasedAt),
      ),
    )
    .returning({ productId: stockReleases.productId });
  return rows.length > 0;
}

/** Un-claims a release the product service refused, to be tried again after a growing delay (max 1 h). */
export async function deferStockRelease(db: Executor, orderId: string, productId: string): Promise<void> {
  await db
    .update(stockReleases)
    .set({
      releasedAt: null,
      attempts: sql`${stockReleases.attempts} + 1`,
      nextAttemptAt: sql`now() + least(interval '1 hour', interval '30 seconds' * power(2, ${stockReleases.attempts}))`,
    })
    .where(and(eq(stockReleases.orderId, orderId), eq(stockReleases.productId, productId)));
}

// Idempotency keys

export interface IdempotencyClaim {
  userId: number;
  key: string;
  scope: string;
  requestHash: string;
  claimToken: string;
  lockSeconds: number;
  ttlSeconds: number;
}

/**
 * Claims a key: inserts it, or takes over one that expired or whose holder died mid-request
 * (lock lapsed, no response). Answers the row when this request now owns the key, else undefined.
 */
export async function claimIdempotencyKey(
  db: Executor,
  claim: IdempotencyClaim,
): Promise<IdempotencyRow | undefined> {
  const lockedUntil = sql`now() + make_interval(secs => ${claim.lockSeconds})`;
  const expiresAt = sql`now() + make_interval(secs => ${claim.ttlSeconds})`;
  const [row] = await db
    .insert(idempotencyKeys)
    .values({
      userId: claim.userId,
      key: claim.key,
      scope: claim.scope,
      requestHash: claim.requestHash,
      claimToken: claim.claimToken,
      lockedUntil,
      expiresAt,
    })
    .onConflictDoUpdate({
      target: [idempotencyKeys.userId, idempotencyKeys.key],
      set: {
        scope: claim.scope,
        requestHash: claim.requestHash,
        claimToken: claim.claimToken,
        lockedUntil,
        expiresAt,
        responseStatus: null,
        responseBody: null,
        createdAt: sql`now()`,
      },
      setWhere: or(
        lt(idempotencyKeys.expiresAt, sql`now()`),
        and(
          isNull(idempotencyKeys.responseStatus),
          lt(idempotencyKeys.lockedUntil, sql`now()`),
          eq(idempotencyKeys.requestHash, claim.requestHash),
        ),
      ),
    })
    .returning();
  return row;
}

export async function findIdempotencyKey(
  db: Executor,
  userId: number,
  key: string,
): Promise<IdempotencyRow | undefined> {
  const [row] = await db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.userId, userId), eq(idempotencyKeys.key, key)));
  return row;
}

/**
 * Stores the response of the request holding the key; answers false when the key was taken over
 * meanwhile (its lock lapsed), in which case the caller must roll its change back.
 */
export async function completeIdempotencyKey(
  tx: Tx,
  claim: { userId: number; key: string; claimToken: string },
  status: number,
  body: unknown,
): Promise<boolean> {
  const rows = await tx
    .update(idempotencyKeys)
    .set({ responseStatus: status, responseBody: body, lockedUntil: null })
    .where(
      and(
        eq(idempotencyKeys.userId, claim.userId),
        eq(idempotencyKeys.key, claim.key),
        eq(idempotencyKeys.claimToken, claim.claimToken),
        isNull(idempotencyKeys.responseStatus),
      ),
    )
    .returning({ key: idempotencyKeys.key });
  return rows.length > 0;
}

/** Frees a key whose request failed, so the client may retry with it (unless another request took it over). */
export async function releaseIdempotencyKey(db: Executor, userId: number, key: string, claimToken: string) {
  await db
    .delete(idempotencyKeys)
    .where(
      and(
        eq(idempotencyKeys.userId, userId),
        eq(idempotencyKeys.key, key),
        isNull(idempotencyKeys.responseStatus),
        eq(idempotencyKeys.claimToken, claimToken),
      ),
    );
}

export async function deleteExpiredIdempotencyKeys(db: Executor): Promise<void> {
  await db.delete(idempotencyKeys).where(lt(idempotencyKeys.expiresAt, sql`now()`));
}

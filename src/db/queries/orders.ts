import { and, asc, eq, inArray, lt, sql } from "drizzle-orm";
import type { Executor, Tx } from "../client.ts";
import { abandonedCheckouts, type OrderStatus, orderItems, orderStatusHistory, orders } from "../schema.ts";

/** Orders, their items and status history. */

export type OrderRow = typeof orders.$inferSelect;
export type OrderItemRow = typeof orderItems.$inferSelect;
export type HistoryRow = typeof orderStatusHistory.$inferSelect;
export type NewOrder = typeof orders.$inferInsert;
export type NewOrderItem = typeof orderItems.$inferInsert;
export type NewHistory = typeof orderStatusHistory.$inferInsert;

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

export async function insertHistory(tx: Tx, entry: NewHistory): Promise<void> {
  await tx.insert(orderStatusHistory).values(entry);
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

/** How many of a user's orders are still pending (awaiting payment, or cash on delivery not yet accepted). */
export async function countPendingOrders(db: Executor, userId: number): Promise<number> {
  const [row] = await db
    .select({ count: sql<number>`count(*)::int` })
    .from(orders)
    .where(and(eq(orders.userId, userId), eq(orders.status, "pending")));
  return row?.count ?? 0;
}

/** The transaction-scoped advisory lock that serialises one user's order placements. */
const placementLock = (userId: number) =>
  sql`pg_advisory_xact_lock(hashtextextended(${`open-orders:${userId}`}, 0))`;

/**
 * Starts placing order `orderId` in `tx`: answers the transaction's id (so that, should the
 * COMMIT's answer be lost, another session can ask whether it landed), serialises the user's
 * placements until `tx` ends, then (in a statement of its own, so that it sees what committed while
 * it waited) counts their pending orders and whether a later checkout gave this order up: two
 * checkouts cannot both see room for one more, nor place one cart twice.
 */
export async function beginOrderPlacement(
  tx: Tx,
  userId: number,
  orderId: string,
): Promise<{ txid: string; pending: number; abandoned: boolean }> {
  const locked = await tx.execute<{ txid: string }>(
    sql`SELECT pg_current_xact_id()::text AS txid FROM (SELECT ${placementLock(userId)}) AS locked`,
  );
  const txid = (locked.rows[0] as { txid: string } | undefined)?.txid;
  if (!txid) throw new Error("the database did not answer the transaction's id");
  const state = await tx.execute<{ pending: number; abandoned: boolean }>(sql`
    SELECT (SELECT count(*)::int FROM ${orders} WHERE ${orders.userId} = ${userId} AND ${orders.status} = 'pending') AS pending,
           EXISTS (SELECT 1 FROM ${abandonedCheckouts} WHERE ${abandonedCheckouts.orderId} = ${orderId}) AS abandoned`);
  const row = state.rows[0] as { pending: number; abandoned: boolean } | undefined;
  return { txid, pending: row?.pending ?? 0, abandoned: row?.abandoned ?? false };
}

/** Waits for (and then holds until `tx` ends) the user's placement lock. */
export async function lockPlacements(tx: Tx, userId: number): Promise<void> {
  await tx.execute(sql`SELECT ${placementLock(userId)}`);
}

/** Gives an order up for good: a placement of it that arrives later refuses (beginOrderPlacement). */
export async function abandonCheckout(tx: Tx, orderId: string): Promise<void> {
  await tx.insert(abandonedCheckouts).values({ orderId }).onConflictDoNothing();
}

export async function pruneAbandonedCheckouts(db: Executor, before: Date): Promise<void> {
  await db.delete(abandonedCheckouts).where(lt(abandonedCheckouts.createdAt, before));
}

/** `committed`, `aborted`, `in progress`, or null (too old to tell) for a transaction id. */
export async function transactionStatus(db: Executor, txid: string): Promise<string | null> {
  const result = await db.execute<{ status: string | null }>(
    sql`SELECT pg_xact_status(${txid}::xid8) AS status`,
  );
  return (result.rows[0] as { status: string | null } | undefined)?.status ?? null;
}

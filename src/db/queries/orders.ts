import { and, asc, eq, getTableColumns, inArray, lt, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Executor, HttpDb, Queryable, Tx } from "../client.ts";
import {
  abandonedCheckouts,
  type OrderStatus,
  orderItems,
  orderStatusHistory,
  orders,
  outbox,
  payments,
  stockReleases,
} from "../schema.ts";
import { DB_NOW } from "./clock.ts";
import type { NewOutbox, OutboxRow } from "./outbox.ts";
import type { NewPayment, PaymentRow } from "./payments.ts";
import { CONCURRENT_CHANGE, refuseWhen } from "./refusals.ts";

/** Orders, their items and status history. */

export type OrderRow = typeof orders.$inferSelect;
export type OrderItemRow = typeof orderItems.$inferSelect;
export type HistoryRow = typeof orderStatusHistory.$inferSelect;
export type NewOrder = typeof orders.$inferInsert;
export type NewOrderItem = typeof orderItems.$inferInsert;
export type NewHistory = typeof orderStatusHistory.$inferInsert;

/**
 * Changes an order `tx` has locked, stamped now: `clock_timestamp()`, read with the lock held, not
 * the transaction's `now()`, which was read before the lock was taken, perhaps before a change that
 * committed meanwhile. Answers the order and the stamp whole (updatedAt has it in milliseconds), for
 * the change's history entry, event and payments to carry.
 */
export async function updateOrder(
  tx: Tx,
  orderId: string,
  patch: Partial<NewOrder>,
): Promise<{ order: OrderRow; at: ChangeStamp }> {
  const [row] = await tx
    .update(orders)
    .set({ ...patch, updatedAt: sql`date_trunc('milliseconds', stamp.at)` })
    .from(sql`(SELECT clock_timestamp() AS at) AS stamp`)
    .where(eq(orders.id, orderId))
    .returning({ ...getTableColumns(orders), at: sql<string>`${STAMP_TEXT}` });
  if (!row) throw new Error(`order ${orderId} is not there to change`);
  const { at, ...order } = row;
  return { order, at: sql`${at}::timestamptz` };
}

/** When a change was made, as the database wrote it (microseconds and all), for its other rows to carry. */
export type ChangeStamp = SQL;

/** The stamp as text that reads back as the same instant whatever the session's DateStyle and TimeZone. */
const STAMP_TEXT = sql`to_char(stamp.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

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

export async function insertHistory(tx: Tx, entry: NewHistory, at: ChangeStamp): Promise<void> {
  await tx.insert(orderStatusHistory).values({ ...entry, createdAt: at });
}

/** Unpaid orders past their payment deadline, oldest deadline first. */
export async function overdueOrderIds(db: Queryable, now: Date, limit: number): Promise<string[]> {
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
export async function countPendingOrders(db: Queryable, userId: number): Promise<number> {
  const [row] = await db.select({ count: sql<number>`count(*)::int` }).from(orders).where(pendingOf(userId));
  return row?.count ?? 0;
}

const pendingOf = (userId: number) => and(eq(orders.userId, userId), eq(orders.status, "pending"));

/**
 * The transaction-scoped advisory lock that serialises one user's order placements, and their
 * settlement: taken first, and held until the transaction ends.
 */
const lockPlacements = (db: HttpDb, userId: number) =>
  db.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`open-orders:${userId}`}, 0))`);

export interface Placement {
  order: OrderRow;
  items: OrderItemRow[];
  payment: NewPayment;
  history: NewHistory;
  event: NewOutbox;
  /** The user's pending orders may not reach this many. */
  maxOpenOrders: number;
  /** A statement the batch must also run (the idempotency record), or null. */
  also: BatchItem<"pg"> | null;
}

/**
 * Places an order in one batch, a transaction of its own: the order, its items, payment attempt,
 * history entry and outbox event. Under the user's placement lock, and in a statement of its own
 * so that it sees what committed while the lock was awaited, it refuses (rolling everything back)
 * when the user already has `maxOpenOrders` pending orders, or when a settlement gave this order up
 * (`settlePlacements`): two checkouts cannot both take a user's last place, nor one cart be ordered
 * twice.
 */
export async function placeOrder(
  db: HttpDb,
  placement: Placement,
): Promise<{ payment: PaymentRow; event: OutboxRow; placedAt: Date }> {
  const { order, maxOpenOrders } = placement;
  const statements: [BatchItem<"pg">, ...BatchItem<"pg">[]] = [lockPlacements(db, order.userId)];
  // The idempotency record first: when it claims the key, a key that is another request's is the
  // refusal that counts (its answer is the request's), whatever else would refuse.
  if (placement.also) statements.push(placement.also);
  statements.push(
    db.execute(
      refuseWhen(
        {
          when: sql`EXISTS (SELECT 1 FROM ${abandonedCheckouts} WHERE ${abandonedCheckouts.orderId} = ${order.id})`,
          code: "CHECKOUT_IN_PROGRESS",
          message: "This checkout took too long and a newer one of the cart took over",
        },
        {
          when: sql`(SELECT count(*) FROM ${orders} WHERE ${pendingOf(order.userId)}) >= ${maxOpenOrders}`,
          code: "TOO_MANY_OPEN_ORDERS",
          message: `You already have ${maxOpenOrders} orders awaiting payment or confirmation; pay for or cancel one first`,
        },
      ),
    ),
  );
  const placedAt = statements.length;
  statements.push(
    // Created and updated at the database's time (queries/clock.ts), as its history entry is.
    db
      .insert(orders)
      .values({ ...order, createdAt: DB_NOW, updatedAt: DB_NOW })
      .returning({ createdAt: orders.createdAt }),
    db.insert(orderItems).values(placement.items),
    db.insert(payments).values(placement.payment).returning(),
    db.insert(orderStatusHistory).values(placement.history),
    db.insert(outbox).values(placement.event).returning(),
  );
  const results = (await db.batch(statements)) as unknown[];
  const [placed] = results[placedAt] as { createdAt: Date }[];
  const [payment] = results[placedAt + 2] as PaymentRow[];
  const [event] = results[placedAt + 4] as OutboxRow[];
  if (!placed || !payment || !event)
    throw new Error(`order ${order.id} was placed without its payment or event`);
  return { payment, event, placedAt: placed.createdAt };
}

export interface OrderChangeRows {
  orderId: string;
  /** The order's version (`xmin`) when the change was decided: written only if it is still that. */
  version: string;
  patch: Partial<NewOrder>;
  /** What happens to a payment attempt still pending. */
  settlePayments: "voided" | "approved" | null;
  /** The gateway declined the attempt still pending, for this reason (or null). */
  declinePayment: string | null;
  /** Whether the order's stock is owed back (a cancellation). */
  releaseStock: boolean;
  /** A new payment attempt, or null. */
  payment: NewPayment | null;
  history: NewHistory;
  event: NewOutbox;
  /** A statement the batch must also run (the idempotency record), or null. */
  also: BatchItem<"pg"> | null;
}

/**
 * Changes an order decided from what was read of it, in one batch: the order, then its payments and
 * owed stock, a new attempt, history and outbox event. The update is written only against the
 * version that was read; if the order changed since (another change, the gateway's settlement), the
 * batch refuses with CONCURRENT_CHANGE and writes nothing, for the caller to read and decide again.
 * The order's row is the first thing it locks, as every change of an order does.
 */
export async function changeOrder(
  db: HttpDb,
  change: OrderChangeRows,
): Promise<{ payment: PaymentRow | undefined; event: OutboxRow; updatedAt: Date }> {
  const { orderId } = change;
  const changed = db
    .update(orders)
    .set({ ...change.patch, updatedAt: DB_NOW })
    .where(and(eq(orders.id, orderId), sql`${orders}.xmin = ${change.version}::xid`))
    .returning({ id: orders.id });
  const statements: [BatchItem<"pg">, ...BatchItem<"pg">[]] = [
    db.execute(
      sql`WITH changed AS ${changed} ${refuseWhen({
        when: sql`NOT EXISTS (SELECT 1 FROM changed)`,
        code: CONCURRENT_CHANGE,
        message: "The order changed since it was read",
      })}`,
    ),
  ];
  if (change.settlePayments) {
    statements.push(
      db
        .update(payments)
        .set({ status: change.settlePayments, settledAt: sql`now()` })
        .where(and(eq(payments.orderId, orderId), eq(payments.status, "pending"))),
    );
  }
  if (change.releaseStock) {
    statements.push(
      db.execute(sql`
        INSERT INTO ${stockReleases} (order_id, product_id, quantity)
        SELECT ${orderItems.orderId}, ${orderItems.productId}, ${orderItems.quantity}
        FROM ${orderItems} WHERE ${orderItems.orderId} = ${orderId}
        ON CONFLICT DO NOTHING`),
    );
  }
  if (change.declinePayment) {
    statements.push(
      db
        .update(payments)
        .set({ status: "declined", declineReason: change.declinePayment, settledAt: sql`now()` })
        .where(and(eq(payments.orderId, orderId), eq(payments.status, "pending"))),
    );
  }
  const paymentAt = statements.length;
  if (change.payment) statements.push(db.insert(payments).values(change.payment).returning());
  statements.push(db.insert(orderStatusHistory).values(change.history));
  const eventAt = statements.length;
  statements.push(db.insert(outbox).values(change.event).returning());
  if (change.also) statements.push(change.also);
  // The time the change was written at (the batch's own, queries/clock.ts).
  statements.push(db.select({ updatedAt: orders.updatedAt }).from(orders).where(eq(orders.id, orderId)));
  const results = (await db.batch(statements)) as unknown[];
  const [event] = results[eventAt] as OutboxRow[];
  const [updated] = results.at(-1) as { updatedAt: Date }[];
  if (!event || !updated) throw new Error(`order ${orderId} changed without its event`);
  const payment = change.payment ? (results[paymentAt] as PaymentRow[])[0] : undefined;
  return { payment, event, updatedAt: updated.updatedAt };
}

export type PlacedLines = Map<string, { productId: string; quantity: number }[]>;

/** A placement whose outcome is unknown, and the stock its checkout held reserved, if known. */
export interface UnknownPlacement {
  orderId: string;
  /** The stock its checkout held, owed back if the order was not placed; null when not known. */
  reserved: { productId: string; quantity: number }[] | null;
  /** What a checkout whose worker died was ordering, some or all of which it may hold (not owed back). */
  inDoubt?: { productId: string; quantity: number }[] | null;
}

/**
 * Settles placements of the user's orders whose outcome is unknown (an answer lost, a worker that
 * died): under the user's placement lock, so that a placement still running finishes first, it
 * answers the lines of those that were placed and gives up for good on the others, whose placement
 * then refuses should it arrive later; the stock those held (when known) is recorded as owed back,
 * for `applyStockReleases`. One batch, so its answer is all or nothing too.
 */
export async function settlePlacements(
  db: HttpDb,
  userId: number,
  placements: UnknownPlacement[],
): Promise<PlacedLines> {
  const orderIds = placements.map(({ orderId }) => orderId);
  const ids = sql.join(
    orderIds.map((id) => sql`(${id}::uuid)`),
    sql`, `,
  );
  const notPlaced = (id: SQL) =>
    sql`NOT EXISTS (SELECT 1 FROM ${orders} WHERE ${orders.id} = ${id} AND ${orders.userId} = ${userId})`;
  const statements: [BatchItem<"pg">, ...BatchItem<"pg">[]] = [
    lockPlacements(db, userId),
    db.execute(sql`
      INSERT INTO ${abandonedCheckouts} (${sql.identifier(abandonedCheckouts.orderId.name)})
      SELECT wanted.id FROM (VALUES ${ids}) AS wanted (id) WHERE ${notPlaced(sql`wanted.id`)}
      ON CONFLICT DO NOTHING`),
  ];
  const held = placements.flatMap(({ orderId, reserved }) =>
    (reserved ?? []).map((line) => sql`(${orderId}::uuid, ${line.productId}, ${line.quantity}::int)`),
  );
  if (held.length > 0) {
    statements.push(
      db.execute(sql`
        INSERT INTO ${stockReleases} (order_id, product_id, quantity)
        SELECT held.order_id, held.product_id, held.quantity
        FROM (VALUES ${sql.join(held, sql`, `)}) AS held (order_id, product_id, quantity)
        WHERE ${notPlaced(sql`held.order_id`)}
        ON CONFLICT DO NOTHING`),
    );
  }
  statements.push(
    db
      .select({ orderId: orderItems.orderId, productId: orderItems.productId, quantity: orderItems.quantity })
      .from(orderItems)
      .innerJoin(orders, eq(orders.id, orderItems.orderId))
      .where(and(inArray(orderItems.orderId, orderIds), eq(orders.userId, userId)))
      .orderBy(asc(orderItems.orderId), asc(orderItems.productId)),
  );
  const results = (await db.batch(statements)) as unknown[];
  const lines = results.at(-1) as { orderId: string; productId: string; quantity: number }[];
  const placed: PlacedLines = new Map();
  for (const { orderId, productId, quantity } of lines) {
    const order = placed.get(orderId) ?? [];
    order.push({ productId, quantity });
    placed.set(orderId, order);
  }
  return placed;
}

export async function pruneAbandonedCheckouts(db: Queryable, before: Date): Promise<void> {
  await db.delete(abandonedCheckouts).where(lt(abandonedCheckouts.createdAt, before));
}

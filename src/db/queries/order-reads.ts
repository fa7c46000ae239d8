import { and, desc, eq, getTableColumns, getTableName, lt, or, type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import type { HttpDb } from "../client.ts";
import { type OrderStatus, orderItems, orderStatusHistory, orders, payments } from "../schema.ts";
import type { OrderItemRow, OrderPageQuery, OrderRow } from "./orders.ts";

/**
 * The order reads of the API, each one statement over the HTTP path: an order's items and history
 * are folded in as JSON arrays, so a read costs one round trip to the database.
 */

export type OrderLine = Omit<OrderItemRow, "orderId">;
export type OrderWithItems = OrderRow & { items: OrderLine[] };
/** A history entry as JSON gives it: `at` is Postgres' timestamptz text (ISO 8601 with an offset). */
export type HistoryEntry = { status: OrderStatus; at: string; note: string | null };
export type OrderWithHistory = OrderRow & { history: HistoryEntry[] };
/**
 * An order read to be changed: its items, its last payment attempt's number, and its version (the
 * row's `xmin`, which every update of it changes), which the change is written against.
 */
export type OrderForChange = OrderWithItems & { version: string; lastAttempt: number };

/**
 * A column as table.column. Written out because drizzle drops the table from columns inside a
 * single-table select's SQL fields, and `"order_id" = "id"` in a subquery on history would compare
 * the history row's own columns.
 */
export const column = (of: PgColumn) =>
  sql`${sql.identifier(getTableName(of.table))}.${sql.identifier(of.name)}`;

const c = column;

/** An order's items as a JSON array, for a select from orders. */
export const lines = sql<OrderLine[]>`(
  SELECT coalesce(json_agg(json_build_object(
    'productId', ${c(orderItems.productId)},
    'productName', ${c(orderItems.productName)},
    'price', ${c(orderItems.price)},
    'quantity', ${c(orderItems.quantity)},
    'totalPrice', ${c(orderItems.totalPrice)},
    'image', ${c(orderItems.image)}
  ) ORDER BY ${c(orderItems.productId)}), '[]'::json)
  FROM ${orderItems} WHERE ${c(orderItems.orderId)} = ${c(orders.id)}
)`;

const history = sql<HistoryEntry[]>`(
  SELECT coalesce(json_agg(json_build_object(
    'status', ${c(orderStatusHistory.toStatus)},
    'at', ${c(orderStatusHistory.createdAt)},
    'note', ${c(orderStatusHistory.note)}
  ) ORDER BY ${c(orderStatusHistory.id)}), '[]'::json)
  FROM ${orderStatusHistory} WHERE ${c(orderStatusHistory.orderId)} = ${c(orders.id)}
)`;

/** The single-order reads, built once per client: drizzle takes about 0.1 ms to build a select. */
const prepared = new WeakMap<HttpDb, ReturnType<typeof prepare>>();

function prepare(db: HttpDb) {
  const byId = eq(orders.id, sql.placeholder("orderId"));
  return {
    withItems: db
      .select({ ...getTableColumns(orders), items: lines })
      .from(orders)
      .where(byId)
      .prepare("order_with_items"),
    forChange: db
      .select({
        ...getTableColumns(orders),
        items: lines,
        version: sql<string>`${orders}.xmin::text`,
        lastAttempt: sql<number>`(SELECT coalesce(max(${c(payments.attempt)}), 0)::int FROM ${payments} WHERE ${c(payments.orderId)} = ${c(orders.id)})`,
      })
      .from(orders)
      .where(byId)
      .prepare("order_for_change"),
    withHistory: db
      .select({ ...getTableColumns(orders), history })
      .from(orders)
      .where(byId)
      .prepare("order_with_history"),
  };
}

function statements(db: HttpDb): ReturnType<typeof prepare> {
  let built = prepared.get(db);
  if (!built) {
    built = prepare(db);
    prepared.set(db, built);
  }
  return built;
}

export async function findOrderWithItems(db: HttpDb, orderId: string): Promise<OrderWithItems | undefined> {
  const [row] = await statements(db).withItems.execute({ orderId });
  return row;
}

export async function findOrderForChange(db: HttpDb, orderId: string): Promise<OrderForChange | undefined> {
  const [row] = await statements(db).forChange.execute({ orderId });
  return row;
}

export async function findOrderWithHistory(
  db: HttpDb,
  orderId: string,
): Promise<OrderWithHistory | undefined> {
  const [row] = await statements(db).withHistory.execute({ orderId });
  return row;
}

/** A user's orders with their items, newest first, by keyset on (created_at, id): stable under concurrent inserts. */
export async function listOrdersWithItems(db: HttpDb, query: OrderPageQuery): Promise<OrderWithItems[]> {
  const conditions: SQL[] = [eq(orders.userId, query.userId)];
  if (query.status) conditions.push(eq(orders.status, query.status));
  if (query.after) {
    const { createdAt, id } = query.after;
    conditions.push(
      or(lt(orders.createdAt, createdAt), and(eq(orders.createdAt, createdAt), lt(orders.id, id))) as SQL,
    );
  }
  return db
    .select({ ...getTableColumns(orders), items: lines })
    .from(orders)
    .where(and(...conditions))
    .orderBy(desc(orders.createdAt), desc(orders.id))
    .limit(query.limit);
}

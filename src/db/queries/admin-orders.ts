import { and, desc, eq, getTableColumns, gte, inArray, lt, or, type SQL, sql } from "drizzle-orm";
import type { HttpDb, Queryable } from "../client.ts";
import {
  deadLetters,
  ORDER_STATUSES,
  type OrderStatus,
  orderStatusHistory,
  orders,
  outbox,
  PAYMENT_STATUSES,
  type PaymentMethod,
  type PaymentStatus,
  payments,
} from "../schema.ts";
import { column as c, lines, type OrderWithItems } from "./order-reads.ts";

/**
 * The operators' reads (GET /api/admin/orders…), each one statement over the HTTP path. Every
 * filter is served by an index (migration 0009; test/integration/admin-orders.plans.test.ts keeps
 * the common ones so): status and payment status by (x, created_at, id), the buyer by the user's
 * history index, the window and the newest-first order by (created_at, id), a tracking number by
 * its partial index, an order id by the primary key; the payment method (four values, none rare) is
 * a filter on whichever of those the query walks.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface AdminOrderFilters {
  statuses?: OrderStatus[];
  paymentStatuses?: PaymentStatus[];
  paymentMethods?: PaymentMethod[];
  userId?: number;
  createdFrom?: Date;
  createdTo?: Date;
  /** An order id or an exact tracking number. */
  q?: string;
}

export interface AdminOrderPage {
  limit: number;
  after?: { createdAt: Date; id: string };
}

/** The search, newest first by keyset on (created_at, id); a builder, so a test can EXPLAIN it. */
export function adminOrderSearch(db: Queryable, filters: AdminOrderFilters, page: AdminOrderPage) {
  const conditions: (SQL | undefined)[] = [
    filters.statuses && inArray(orders.status, filters.statuses),
    filters.paymentStatuses && inArray(orders.paymentStatus, filters.paymentStatuses),
    filters.paymentMethods && inArray(orders.paymentMethod, filters.paymentMethods),
    filters.userId === undefined ? undefined : eq(orders.userId, filters.userId),
    filters.createdFrom && gte(orders.createdAt, filters.createdFrom),
    filters.createdTo && lt(orders.createdAt, filters.createdTo),
  ];
  if (filters.q !== undefined) {
    const byTracking = eq(orders.trackingNumber, filters.q);
    conditions.push(
      UUID.test(filters.q) ? or(eq(orders.id, filters.q.toLowerCase()), byTracking) : byTracking,
    );
  }
  if (page.after) {
    const { createdAt, id } = page.after;
    conditions.push(
      or(lt(orders.createdAt, createdAt), and(eq(orders.createdAt, createdAt), lt(orders.id, id))),
    );
  }
  return db
    .select({ ...getTableColumns(orders), items: lines })
    .from(orders)
    .where(and(...conditions))
    .orderBy(desc(orders.createdAt), desc(orders.id))
    .limit(page.limit);
}

export async function searchOrders(
  db: HttpDb,
  filters: AdminOrderFilters,
  page: AdminOrderPage,
): Promise<OrderWithItems[]> {
  return adminOrderSearch(db, filters, page);
}

export interface OrderSummaryRow {
  byStatus: Record<OrderStatus, number>;
  byPaymentStatus: Record<PaymentStatus, number>;
  overduePending: number;
  deadLetters: number;
  outboxBacklog: number;
  revenue: { currency: string; amount: number }[];
}

const zeroes = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((value) => [value, 0])) as Record<T, number>;

/**
 * What is stuck, in one statement: the window's orders by status and payment status, and its
 * revenue by currency (paid-or-later orders whose payment was collected: a cash order in processing
 * or shipped is not revenue yet, a refunded one no longer); pending orders past their deadline, dead letters not replayed and the outbox
 * backlog, whatever their age.
 */
export async function orderSummary(db: HttpDb, window: { from: Date; to: Date }): Promise<OrderSummaryRow> {
  const inWindow = sql`${c(orders.createdAt)} >= ${window.from} AND ${c(orders.createdAt)} < ${window.to}`;
  const countsBy = (column: typeof orders.status | typeof orders.paymentStatus) => sql`(
    SELECT coalesce(json_object_agg(value, n), '{}'::json)
      FROM (SELECT ${c(column)} AS value, count(*) AS n FROM ${orders} WHERE ${inWindow} GROUP BY 1) counts
  )`;
  const result = await db.execute<{
    by_status: Record<OrderStatus, number>;
    by_payment_status: Record<PaymentStatus, number>;
    overdue_pending: string;
    dead_letters: string;
    outbox_backlog: string;
    revenue: { currency: string; amount: string }[];
  }>(sql`SELECT
    ${countsBy(orders.status)} AS by_status,
    ${countsBy(orders.paymentStatus)} AS by_payment_status,
    (SELECT count(*) FROM ${orders} WHERE ${c(orders.paymentDueAt)} < now() AND ${c(orders.status)} = 'pending') AS overdue_pending,
    (SELECT count(*) FROM ${deadLetters} WHERE ${c(deadLetters.replayedAt)} IS NULL) AS dead_letters,
    (SELECT count(*) FROM ${outbox} WHERE ${c(outbox.publishedAt)} IS NULL) AS outbox_backlog,
    (SELECT coalesce(json_agg(json_build_object('currency', currency, 'amount', amount::text) ORDER BY currency), '[]'::json)
       FROM (SELECT ${c(orders.currency)} AS currency, sum(${c(orders.totalAmount)}) AS amount
               FROM ${orders} WHERE ${inWindow} AND ${c(orders.paymentStatus)} = 'paid'
              GROUP BY 1) totals) AS revenue`);
  const [row] = result.rows;
  if (!row) throw new Error("the summary statement returned no row");
  return {
    byStatus: { ...zeroes(ORDER_STATUSES), ...row.by_status },
    byPaymentStatus: { ...zeroes(PAYMENT_STATUSES), ...row.by_payment_status },
    overduePending: Number(row.overdue_pending),
    deadLetters: Number(row.dead_letters),
    outboxBacklog: Number(row.outbox_backlog),
    revenue: row.revenue.map(({ currency, amount }) => ({ currency, amount: Number(amount) })),
  };
}

/** As JSON gives them: times are Postgres' timestamptz text. */
export type AdminHistoryEntry = {
  fromStatus: OrderStatus | null;
  status: OrderStatus;
  at: string;
  actorRole: "USER" | "ADMIN" | "SYSTEM";
  actorId: number | null;
  note: string | null;
};
export type AdminPaymentEntry = {
  attempt: number;
  method: PaymentMethod;
  status: "pending" | "approved" | "declined" | "voided";
  reference: string | null;
  amount: number;
  currency: string;
  declineReason: string | null;
  createdAt: string;
  settledAt: string | null;
};
export type AdminOrderRow = OrderWithItems & { history: AdminHistoryEntry[]; payments: AdminPaymentEntry[] };

const fullHistory = sql<AdminHistoryEntry[]>`(
  SELECT coalesce(json_agg(json_build_object(
    'fromStatus', ${c(orderStatusHistory.fromStatus)},
    'status', ${c(orderStatusHistory.toStatus)},
    'at', ${c(orderStatusHistory.createdAt)},
    'actorRole', ${c(orderStatusHistory.actorRole)},
    'actorId', ${c(orderStatusHistory.actorId)},
    'note', ${c(orderStatusHistory.note)}
  ) ORDER BY ${c(orderStatusHistory.id)}), '[]'::json)
  FROM ${orderStatusHistory} WHERE ${c(orderStatusHistory.orderId)} = ${c(orders.id)}
)`;

const attempts = sql<AdminPaymentEntry[]>`(
  SELECT coalesce(json_agg(json_build_object(
    'attempt', ${c(payments.attempt)},
    'method', ${c(payments.method)},
    'status', ${c(payments.status)},
    'reference', ${c(payments.reference)},
    'amount', ${c(payments.amount)},
    'currency', ${c(payments.currency)},
    'declineReason', ${c(payments.declineReason)},
    'createdAt', ${c(payments.createdAt)},
    'settledAt', ${c(payments.settledAt)}
  ) ORDER BY ${c(payments.attempt)}), '[]'::json)
  FROM ${payments} WHERE ${c(payments.orderId)} = ${c(orders.id)}
)`;

/** An order with its items, every change and every payment attempt: one statement. */
export async function findAdminOrder(db: HttpDb, orderId: string): Promise<AdminOrderRow | undefined> {
  const [row] = await db
    .select({ ...getTableColumns(orders), items: lines, history: fullHistory, payments: attempts })
    .from(orders)
    .where(eq(orders.id, orderId));
  return row;
}

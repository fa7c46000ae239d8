import { z } from "zod";
import { findAdminOrder, orderSummary, searchOrders } from "../../db/queries.ts";
import { decodeCursor, encodeCursor } from "../../lib/cursor.ts";
import { ApiError } from "../../lib/errors.ts";
import { canonicalJson, sha256Hex } from "../../lib/ids.ts";
import type { AdminOrderDetail, AdminOrderSearchQuery } from "../../schemas/admin-order.ts";
import type { Order } from "../../schemas/order.ts";
import type { Actor, OrderDeps } from "./deps.ts";
import { allowedStatuses } from "./transitions.ts";
import { toOrder } from "./view.ts";

/** The summary's window when none is given: the last week. */
const DEFAULT_WINDOW_MS = 7 * 24 * 60 * 60 * 1000;

const iso = (at: string) => new Date(at).toISOString();

/** Every user's orders matching the filters (combined with AND), newest first: one statement. */
export async function searchAllOrders(
  deps: OrderDeps,
  query: AdminOrderSearchQuery,
): Promise<{ orders: Order[]; nextCursor: string | null }> {
  // Sorted: `status=paid,pending` and `status=pending&status=paid` are one search, with one cursor.
  const sorted = <T extends string>(values: T[] | undefined) => values && [...values].sort();
  const filters = {
    statuses: sorted(query.status),
    paymentStatuses: sorted(query.paymentStatus),
    paymentMethods: sorted(query.paymentMethod),
    userId: query.userId,
    createdFrom: query.createdFrom,
    createdTo: query.createdTo,
    q: query.q,
  };
  // A cursor pages the search it came from: its filters' digest is inside it.
  const scope = (await sha256Hex(canonicalJson(filters))).slice(0, 16);
  const cursor = query.cursor ? decodeCursor(query.cursor, z.uuid(), scope) : undefined;
  const rows = await deps.database.once((db) =>
    searchOrders(db, filters, {
      limit: query.limit + 1,
      after: cursor && { createdAt: cursor.at, id: cursor.id },
    }),
  );
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    orders: page.map((order) => toOrder(order, order.items)),
    nextCursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id, scope) : null,
  };
}

/** What needs attention: counts and revenue in the window (default: the last week), and what is stuck. */
export async function summarizeOrders(
  deps: OrderDeps,
  query: { createdFrom?: Date; createdTo?: Date },
  now = new Date(),
) {
  // Both bounds given, the schema refused a start after the end; the defaults never make one. A
  // window that starts after now and names no end is empty, not refused.
  const to = query.createdTo ?? new Date(Math.max(now.getTime(), query.createdFrom?.getTime() ?? 0));
  const from = query.createdFrom ?? new Date(to.getTime() - DEFAULT_WINDOW_MS);
  const summary = await deps.database.once((db) => orderSummary(db, { from, to }));
  return { window: { createdFrom: from.toISOString(), createdTo: to.toISOString() }, ...summary };
}

/** An order as an operator sees it: items, every change with who made it, payment attempts, next moves. */
export async function getAdminOrder(
  deps: OrderDeps,
  admin: Actor,
  orderId: string,
): Promise<AdminOrderDetail> {
  const row = await deps.database.once((db) => findAdminOrder(db, orderId));
  if (!row) throw new ApiError("ORDER_NOT_FOUND", "No such order");
  return {
    order: toOrder(row, row.items),
    history: row.history.map((entry) => ({ ...entry, at: iso(entry.at) })),
    payments: row.payments.map((attempt) => ({
      ...attempt,
      createdAt: iso(attempt.createdAt),
      settledAt: attempt.settledAt === null ? null : iso(attempt.settledAt),
    })),
    allowedStatuses: allowedStatuses(row, admin),
  };
}

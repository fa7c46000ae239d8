import { z } from "zod";
import {
  findOrderWithHistory,
  findOrderWithItems,
  listOrdersWithItems,
  type OrderRow,
} from "../../db/queries.ts";
import type { OrderStatus } from "../../db/schema.ts";
import { decodeCursor, encodeCursor } from "../../lib/cursor.ts";
import { ApiError } from "../../lib/errors.ts";
import type { Order } from "../../schemas/order.ts";
import type { Actor, OrderDeps } from "./deps.ts";
import { toOrder } from "./view.ts";

// Each read is one statement over the HTTP path (items or history folded in): one round trip, no connection.

/** An order the actor may see: their own, or any for an admin. Anything else is "not found". */
function visible<T extends OrderRow>(actor: Actor, order: T | undefined): T {
  if (!order || (actor.role !== "ADMIN" && order.userId !== actor.id)) {
    throw new ApiError("ORDER_NOT_FOUND", "No such order");
  }
  return order;
}

export async function getOrder(deps: OrderDeps, actor: Actor, orderId: string): Promise<Order> {
  const order = visible(actor, await deps.database.once((db) => findOrderWithItems(db, orderId)));
  return toOrder(order, order.items);
}

export async function getTracking(deps: OrderDeps, actor: Actor, orderId: string) {
  const order = visible(actor, await deps.database.once((db) => findOrderWithHistory(db, orderId)));
  return {
    orderId: order.id,
    status: order.status,
    paymentStatus: order.paymentStatus,
    trackingNumber: order.trackingNumber,
    carrier: order.carrier,
    estimatedDelivery: order.estimatedDelivery?.toISOString() ?? null,
    history: order.history.map((entry) => ({
      status: entry.status,
      at: new Date(entry.at).toISOString(),
      note: entry.note,
    })),
  };
}

export async function listOwnOrders(
  deps: OrderDeps,
  userId: number,
  query: { limit: number; cursor?: string; status?: OrderStatus },
): Promise<{ orders: Order[]; nextCursor: string | null }> {
  const cursor = query.cursor ? decodeCursor(query.cursor, z.uuid()) : undefined;
  const after = cursor && { createdAt: cursor.at, id: cursor.id };
  // One row more than asked tells whether another page exists.
  const rows = await deps.database.once((db) =>
    listOrdersWithItems(db, { userId, limit: query.limit + 1, status: query.status, after }),
  );
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    orders: page.map((order) => toOrder(order, order.items)),
    nextCursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null,
  };
}

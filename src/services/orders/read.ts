import { z } from "zod";
import { findOrder, historyOf, itemsOf, listOrders, type OrderRow } from "../../db/queries.ts";
import type { OrderStatus } from "../../db/schema.ts";
import { ApiError } from "../../lib/errors.ts";
import type { Order } from "../../schemas/order.ts";
import type { Actor, OrderDeps } from "./deps.ts";
import { toOrder } from "./view.ts";

/** An order the actor may see: their own, or any for an admin. Anything else is "not found". */
async function visibleOrder(deps: OrderDeps, actor: Actor, orderId: string): Promise<OrderRow> {
  const order = await deps.database.read((db) => findOrder(db, orderId));
  if (!order || (actor.role !== "ADMIN" && order.userId !== actor.id)) {
    throw new ApiError("ORDER_NOT_FOUND", "No such order");
  }
  return order;
}

export async function getOrder(deps: OrderDeps, actor: Actor, orderId: string): Promise<Order> {
  const order = await visibleOrder(deps, actor, orderId);
  const items = await deps.database.read((db) => itemsOf(db, [order.id]));
  return toOrder(order, items);
}

export async function getTracking(deps: OrderDeps, actor: Actor, orderId: string) {
  const order = await visibleOrder(deps, actor, orderId);
  const history = await deps.database.read((db) => historyOf(db, order.id));
  return {
    orderId: order.id,
    status: order.status,
    paymentStatus: order.paymentStatus,
    trackingNumber: order.trackingNumber,
    carrier: order.carrier,
    estimatedDelivery: order.estimatedDelivery?.toISOString() ?? null,
    history: history.map((entry) => ({
      status: entry.toStatus,
      at: entry.createdAt.toISOString(),
      note: entry.note,
    })),
  };
}

const CursorSchema = z.tuple([z.iso.datetime(), z.uuid()]);

/** The cursor is opaque to clients: the last order's (createdAt, id), base64url-encoded. */
function encodeCursor(order: OrderRow): string {
  return btoa(JSON.stringify([order.createdAt.toISOString(), order.id]))
    .replace(/=+$/, "")
    .replace(/\+/g, "-")
    .replace(/\//g, "_");
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [createdAt, id] = CursorSchema.parse(
      JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/"))),
    );
    return { createdAt: new Date(createdAt), id };
  } catch {
    throw new ApiError("VALIDATION_FAILED", "The cursor is invalid", [
      { path: "cursor", message: "is not a cursor this API issued" },
    ]);
  }
}

export async function listOwnOrders(
  deps: OrderDeps,
  userId: number,
  query: { limit: number; cursor?: string; status?: OrderStatus },
): Promise<{ orders: Order[]; nextCursor: string | null }> {
  const after = query.cursor ? decodeCursor(query.cursor) : undefined;
  // One row more than asked tells whether another page exists.
  const rows = await deps.database.read((db) =>
    listOrders(db, { userId, limit: query.limit + 1, status: query.status, after }),
  );
  const page = rows.slice(0, query.limit);
  const items = await deps.database.read((db) =>
    itemsOf(
      db,
      page.map((order) => order.id),
    ),
  );
  return {
    orders: page.map((order) =>
      toOrder(
        order,
        items.filter((item) => item.orderId === order.id),
      ),
    ),
    nextCursor:
      rows.length > query.limit && page.length > 0 ? encodeCursor(page[page.length - 1] as OrderRow) : null,
  };
}

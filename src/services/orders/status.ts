import type { Tx } from "../../db/client.ts";
import {
  insertStockReleases,
  itemsOf,
  lockOrder,
  type NewOrder,
  type OrderRow,
  settlePendingPayments,
  updateOrder,
} from "../../db/queries.ts";
import type { OrderStatus, OutboxType } from "../../db/schema.ts";
import { ApiError } from "../../lib/errors.ts";
import { describeError, log } from "../../lib/log.ts";
import type { OrderEvent } from "../../queues/messages.ts";
import type { Order, UpdateStatusBody } from "../../schemas/order.ts";
import { applyStockReleases } from "../stock.ts";
import type { Actor, OrderDeps } from "./deps.ts";
import { recordChange } from "./events.ts";
import { toOrder } from "./view.ts";

/** SPEC §4's status flow: every other (from, to) pair is a 409. */
export const TRANSITIONS: Record<OrderStatus, readonly OrderStatus[]> = {
  pending: ["paid", "processing", "cancelled"],
  paid: ["processing", "cancelled"],
  processing: ["shipped", "cancelled"],
  shipped: ["delivered"],
  delivered: [],
  cancelled: [],
};

/** What a customer may do to their own order: cancel it while it is pending or paid. */
const CUSTOMER_CANCELLABLE: readonly OrderStatus[] = ["pending", "paid"];
const SHIPPING_DAYS = 3;

function conflict(message: string): ApiError {
  return new ApiError("INVALID_STATUS_TRANSITION", message);
}

/** Throws unless `actor` may move `order` to `to` with this request. */
export function checkTransition(
  order: OrderRow,
  to: OrderStatus,
  actor: Actor,
  request: Partial<UpdateStatusBody> = {},
) {
  const from = order.status;
  if (actor.role === "USER") {
    if (to !== "cancelled")
      throw new ApiError("FORBIDDEN", "Only an admin can change an order's status, except to cancel it");
    if (!CUSTOMER_CANCELLABLE.includes(from))
      throw conflict(`A ${from} order can no longer be cancelled by its owner`);
  }
  if (!TRANSITIONS[from].includes(to)) throw conflict(`An order cannot go from ${from} to ${to}`);
  const cash = order.paymentMethod === "cash_on_delivery";
  if (from === "pending" && to === "processing" && !cash) {
    throw conflict("Only a cash-on-delivery order is processed before it is paid");
  }
  if (from === "pending" && to === "paid" && cash)
    throw conflict("A cash-on-delivery order is paid on delivery");
  if (to === "shipped" && !request.trackingNumber) {
    throw new ApiError("VALIDATION_FAILED", "A tracking number is required to ship an order", [
      { path: "trackingNumber", message: "is required when status is shipped" },
    ]);
  }
}

function notificationFor(to: OrderStatus): OutboxType {
  if (to === "cancelled") return "order_cancellation";
  if (to === "paid") return "payment_confirmation";
  return "order_status_update";
}

/**
 * Moves a locked order to `to`, with every side effect of the move written in `tx`: payment status,
 * tracking, stock owed back, history and notification (answered, to publish after commit).
 */
export async function applyTransition(
  tx: Tx,
  order: OrderRow,
  to: OrderStatus,
  actor: Actor,
  request: Partial<UpdateStatusBody> = {},
): Promise<{ order: OrderRow; event: OrderEvent }> {
  const patch: Partial<NewOrder> = { status: to };
  switch (to) {
    case "paid":
      // Recorded by an admin (e.g. reconciled out of band): any attempt still in flight is moot.
      Object.assign(patch, { paymentStatus: "paid", paymentDueAt: null });
      await settlePendingPayments(tx, order.id, "voided");
      break;
    case "processing":
      patch.paymentDueAt = null;
      break;
    case "shipped":
      Object.assign(patch, {
        trackingNumber: request.trackingNumber,
        carrier: request.carrier ?? order.carrier,
        estimatedDelivery: new Date(Date.now() + SHIPPING_DAYS * 24 * 60 * 60 * 1000),
      });
      break;
    case "delivered":
      if (order.paymentMethod === "cash_on_delivery") {
        patch.paymentStatus = "paid";
        await settlePendingPayments(tx, order.id, "approved");
      }
      break;
    case "cancelled": {
      Object.assign(patch, {
        paymentStatus: order.paymentStatus === "paid" ? "refunded" : order.paymentStatus,
        paymentDueAt: null,
      });
      await settlePendingPayments(tx, order.id, "voided");
      const items = await itemsOf(tx, [order.id]);
      await insertStockReleases(tx, order.id, items);
      break;
    }
  }
  const updated = await updateOrder(tx, order.id, patch);
  const event = await recordChange(tx, updated, {
    from: order.status,
    actor,
    note: request.note,
    notify: notificationFor(to),
  });
  return { order: updated, event };
}

/** `PUT /api/orders/{id}/status`: admins move orders along; owners may cancel. */
export async function changeStatus(
  deps: OrderDeps,
  actor: Actor & { id: number },
  orderId: string,
  request: UpdateStatusBody,
): Promise<Order> {
  const { order, items, event } = await deps.database.transaction(async (tx) => {
    const current = await lockOrder(tx, orderId);
    if (!current || (actor.role !== "ADMIN" && current.userId !== actor.id)) {
      throw new ApiError("ORDER_NOT_FOUND", "No such order");
    }
    checkTransition(current, request.status, actor, request);
    const { order, event } = await applyTransition(tx, current, request.status, actor, request);
    return { order, event, items: await itemsOf(tx, [order.id]) };
  });
  deps.events.publish([event]);
  if (order.status === "cancelled") {
    // Written in the transaction above; applied now, or by the sweep if the product service is down.
    await applyStockReleases(deps.database, deps.products, { orderId: order.id }).catch((error: unknown) =>
      log("warn", "stock release deferred to the sweep", { orderId: order.id, ...describeError(error) }),
    );
  }
  return toOrder(order, items);
}

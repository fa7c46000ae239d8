import type { NewOrder, OrderRow } from "../../db/queries.ts";
import type { OrderStatus, OutboxType } from "../../db/schema.ts";
import { ApiError } from "../../lib/errors.ts";
import type { UpdateStatusBody } from "../../schemas/order.ts";
import type { Actor } from "./deps.ts";
import type { OrderChange } from "./events.ts";

// The rules of SPEC §4's status flow, in one place: who may move an order where (checkTransition) and
// what a move writes (planTransition). Both change paths derive from them: the read-then-batch one
// (status.ts) calls them on the order as read, and the one-trip one (status-at-once.ts) evaluates them
// over every variant of an order to write them as SQL.

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

/** A customer may only ask to cancel: refused (403) before the order is even read (404). */
export function checkRole(to: OrderStatus, actor: Actor): void {
  if (actor.role === "USER" && to !== "cancelled")
    throw new ApiError("FORBIDDEN", "Only an admin can change an order's status, except to cancel it");
}

/** Throws unless `actor` may move `order` to `to` with this request. */
export function checkTransition(
  order: OrderRow,
  to: OrderStatus,
  actor: Actor,
  request: Partial<UpdateStatusBody> = {},
) {
  const from = order.status;
  checkRole(to, actor);
  if (actor.role === "USER") {
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

/** The statuses `actor` may move `order` to now (shipping also needs a tracking number). */
export function allowedStatuses(order: OrderRow, actor: Actor): OrderStatus[] {
  return TRANSITIONS[order.status].filter((to) => {
    try {
      checkTransition(order, to, actor, { trackingNumber: "(given)" });
      return true;
    } catch {
      return false;
    }
  });
}

function notificationFor(to: OrderStatus): OutboxType {
  if (to === "cancelled") return "order_cancellation";
  if (to === "paid") return "payment_confirmation";
  return "order_status_update";
}

/** What moving an order to a status writes, besides its history entry and event. */
export interface TransitionPlan {
  patch: Partial<NewOrder>;
  settlePayments: "voided" | "approved" | null;
  releaseStock: boolean;
  change: OrderChange;
}

/** Decides what moving `order` to `to` writes: payment status, tracking, payments settled, stock owed back. */
export function planTransition(
  order: OrderRow,
  to: OrderStatus,
  actor: Actor,
  request: Partial<UpdateStatusBody> = {},
  now = Date.now(),
): TransitionPlan {
  const plan: TransitionPlan = {
    patch: { status: to },
    settlePayments: null,
    releaseStock: false,
    change: { from: order.status, actor, note: request.note, notify: notificationFor(to) },
  };
  switch (to) {
    case "paid":
      // Recorded by an admin (e.g. reconciled out of band): any attempt still in flight is moot.
      Object.assign(plan.patch, { paymentStatus: "paid", paymentDueAt: null });
      plan.settlePayments = "voided";
      break;
    case "processing":
      plan.patch.paymentDueAt = null;
      break;
    case "shipped":
      Object.assign(plan.patch, {
        trackingNumber: request.trackingNumber,
        carrier: request.carrier ?? order.carrier,
        estimatedDelivery: new Date(now + SHIPPING_DAYS * 24 * 60 * 60 * 1000),
      });
      break;
    case "delivered":
      if (order.paymentMethod === "cash_on_delivery") {
        plan.patch.paymentStatus = "paid";
        plan.settlePayments = "approved";
      }
      break;
    case "cancelled":
      Object.assign(plan.patch, {
        paymentStatus: order.paymentStatus === "paid" ? "refunded" : order.paymentStatus,
        paymentDueAt: null,
      });
      plan.settlePayments = "voided";
      plan.releaseStock = true;
      break;
  }
  return plan;
}

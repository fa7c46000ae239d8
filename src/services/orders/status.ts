import type { BatchItem } from "drizzle-orm/batch";
import type { HttpDb, Tx } from "../../db/client.ts";
import {
  changeOrder,
  findOrderForChange,
  insertStockReleases,
  isConcurrentChange,
  itemsOf,
  type NewOrder,
  type NewPayment,
  type OrderForChange,
  type OrderRow,
  type PaymentRow,
  settlePendingPayments,
  updateOrder,
} from "../../db/queries.ts";
import type { OrderStatus, OutboxType } from "../../db/schema.ts";
import { ApiError } from "../../lib/errors.ts";
import { describeError, log } from "../../lib/log.ts";
import { type OrderEvent, toOrderEvent } from "../../queues/messages.ts";
import type { Order, UpdateStatusBody } from "../../schemas/order.ts";
import { applyStockReleases } from "../stock.ts";
import type { Actor, OrderDeps } from "./deps.ts";
import { changeRecords, type OrderChange, recordChange } from "./events.ts";
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

/** A customer may only ask to cancel: refused (403) before the order is even read (404). */
function checkRole(to: OrderStatus, actor: Actor): void {
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
        estimatedDelivery: new Date(Date.now() + SHIPPING_DAYS * 24 * 60 * 60 * 1000),
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
  const plan = planTransition(order, to, actor, request);
  if (plan.settlePayments) await settlePendingPayments(tx, order.id, plan.settlePayments);
  if (plan.releaseStock) await insertStockReleases(tx, order.id, await itemsOf(tx, [order.id]));
  const updated = await updateOrder(tx, order.id, plan.patch);
  return { order: updated, event: await recordChange(tx, updated, plan.change) };
}

/** The fields of an order's answer that a change's batch writes with its own time. */
export const ORDER_CHANGE_STAMPS = ["updatedAt"] as const;

/** Reads of an order that keeps changing under a request before it gives up (409 CONCURRENT_CHANGE). */
const CHANGE_ATTEMPTS = 5;
/** What a request that gave up tells its client to wait: the changes it lost to are a few ms each. */
const CONCURRENT_CHANGE_RETRY_AFTER_SECONDS = 1;

/**
 * Changes an order as read: `decide` checks the order as it now is and plans the change; the change
 * is written in one batch over HTTP (no connection held) only if the order has not changed since it
 * was read, else it is read and decided again. Answers the order as changed, and its event published.
 */
export async function changeOrderAsRead(
  deps: OrderDeps,
  actor: Actor,
  orderId: string,
  decide: (order: OrderForChange) => OrderChangePlan,
): Promise<{ order: Order; payment: PaymentRow | undefined }> {
  for (let attempt = 1; ; attempt++) {
    const seen = await deps.database.once((db) => findOrderForChange(db, orderId));
    if (!seen || (actor.role === "USER" && seen.userId !== actor.id)) {
      throw new ApiError("ORDER_NOT_FOUND", "No such order");
    }
    const plan = decide(seen);
    // updatedAt is the batch's time (queries/clock.ts): stamped into the idempotency record there,
    // and into the answer from what the batch reports.
    const updated: OrderRow = { ...withoutReadExtras(seen), ...plan.patch };
    const view = toOrder(updated, seen.items);
    const { history, event } = changeRecords(updated, plan.change);
    try {
      const written = await deps.database.batch((db) =>
        changeOrder(db, {
          orderId,
          version: seen.version,
          patch: plan.patch,
          settlePayments: plan.settlePayments,
          declinePayment: plan.declinePayment ?? null,
          releaseStock: plan.releaseStock,
          payment: plan.payment ?? null,
          history,
          event,
          also: plan.also?.(db, view) ?? null,
        }),
      );
      deps.events.publish([toOrderEvent(written.event)]);
      return { order: { ...view, updatedAt: written.updatedAt.toISOString() }, payment: written.payment };
    } catch (error) {
      if (!isConcurrentChange(error)) throw error;
      if (attempt === CHANGE_ATTEMPTS) {
        // Not a judgement of the request: it may well succeed once the order stops changing.
        throw new ApiError(
          "CONCURRENT_CHANGE",
          "The order kept changing while this request ran; retry",
          undefined,
          { "Retry-After": String(CONCURRENT_CHANGE_RETRY_AFTER_SECONDS) },
        );
      }
    }
  }
}

/** A change decided from an order as read: a transition's writes, a new payment attempt, and a statement to add. */
export interface OrderChangePlan extends TransitionPlan {
  payment?: NewPayment;
  /** The gateway declined the attempt still pending, for this reason. */
  declinePayment?: string;
  /**
   * Given the order as changed, a statement the batch must also run (the idempotency record), or
   * null. The order's `updatedAt` is the batch's time: stamp it (ORDER_CHANGE_STAMPS).
   */
  also?: (db: HttpDb, order: Order) => BatchItem<"pg"> | null;
}

function withoutReadExtras({ items, version, lastAttempt, ...order }: OrderForChange): OrderRow {
  return order;
}

/** `PUT /api/orders/{id}/status`: admins move orders along; owners may cancel. */
export async function changeStatus(
  deps: OrderDeps,
  actor: Actor & { id: number },
  orderId: string,
  request: UpdateStatusBody,
): Promise<Order> {
  checkRole(request.status, actor);
  const { order } = await changeOrderAsRead(deps, actor, orderId, (current) => {
    checkTransition(current, request.status, actor, request);
    return planTransition(current, request.status, actor, request);
  });
  if (order.status === "cancelled") {
    // Written with the change; applied now, or by the sweep if the product service is down.
    await applyStockReleases(deps.database, deps.products, { orderId: order.id }).catch((error: unknown) =>
      log("warn", "stock release deferred to the sweep", { orderId: order.id, ...describeError(error) }),
    );
  }
  return order;
}

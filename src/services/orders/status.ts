import type { BatchItem } from "drizzle-orm/batch";
import type { HttpDb, Tx } from "../../db/client.ts";
import {
  changeOrder,
  findOrderForChange,
  insertStockReleases,
  isConcurrentChange,
  itemsOf,
  type NewPayment,
  type OrderForChange,
  type OrderRow,
  type PaymentRow,
  settlePendingPayments,
  updateOrder,
} from "../../db/queries.ts";
import type { OrderStatus } from "../../db/schema.ts";
import { ApiError } from "../../lib/errors.ts";
import { describeError, log } from "../../lib/log.ts";
import { type OrderEvent, toOrderEvent } from "../../queues/messages.ts";
import type { Order, UpdateStatusBody } from "../../schemas/order.ts";
import { applyStockReleases } from "../stock.ts";
import type { Actor, OrderDeps } from "./deps.ts";
import { changeRecords, recordChange } from "./events.ts";
import { changeStatusAtOnce, statusChangeTable } from "./status-at-once.ts";
import { checkRole, checkTransition, planTransition, type TransitionPlan } from "./transitions.ts";
import { toOrder } from "./view.ts";

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
  const { order: updated, at } = await updateOrder(tx, order.id, plan.patch);
  if (plan.settlePayments) await settlePendingPayments(tx, order.id, plan.settlePayments, at);
  if (plan.releaseStock) await insertStockReleases(tx, order.id, await itemsOf(tx, [order.id]));
  return { order: updated, event: await recordChange(tx, updated, plan.change, at) };
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
  attempts = CHANGE_ATTEMPTS,
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
      if (attempt >= attempts) {
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

/**
 * `PUT /api/orders/{id}/status`: admins move orders along; owners may cancel. One round trip: the
 * database applies the rules to the order as it stands and writes the change (status-at-once.ts).
 * Refused there (no such order, another user's, or one the change does not apply to, perhaps only
 * since a moment ago), it is read and decided as below, which answers exactly why, or makes the
 * change if the order has meanwhile become one it applies to; that first try counts as an attempt.
 */
export async function changeStatus(
  deps: OrderDeps,
  actor: Actor & { id: number },
  orderId: string,
  request: UpdateStatusBody,
): Promise<Order> {
  checkRole(request.status, actor);
  const table = statusChangeTable(orderId, actor, request);
  const changed = table ? await changeStatusAtOnce(deps, table) : null;
  if (!changed)
    return changeStatusAsRead(deps, actor, orderId, request, table ? CHANGE_ATTEMPTS - 1 : undefined);
  return releaseIfCancelled(deps, changed);
}

/** A status change as every other change of an order is made: read, decided in code, then written in one batch. */
export async function changeStatusAsRead(
  deps: OrderDeps,
  actor: Actor & { id: number },
  orderId: string,
  request: UpdateStatusBody,
  attempts = CHANGE_ATTEMPTS,
): Promise<Order> {
  checkRole(request.status, actor);
  const { order } = await changeOrderAsRead(
    deps,
    actor,
    orderId,
    (current) => {
      checkTransition(current, request.status, actor, request);
      return planTransition(current, request.status, actor, request);
    },
    attempts,
  );
  return releaseIfCancelled(deps, order);
}

async function releaseIfCancelled(deps: OrderDeps, order: Order): Promise<Order> {
  if (order.status === "cancelled") {
    // Written with the change; applied now, or by the sweep if the product service is down.
    await applyStockReleases(deps.database, deps.products, { orderId: order.id }).catch((error: unknown) =>
      log("warn", "stock release deferred to the sweep", { orderId: order.id, ...describeError(error) }),
    );
  }
  return order;
}

import type { Context } from "hono";
import type { AppEnv } from "../../app-env.ts";
import type { Order } from "../../schemas/order.ts";
import { idempotent, idempotentDeferred } from "../../services/idempotency.ts";
import { checkout, settleReplayedCheckout } from "../../services/orders/checkout.ts";
import { retryPayment as retry } from "../../services/orders/payments.ts";
import {
  listOwnOrders,
  getOrder as readOrder,
  getTracking as readTracking,
} from "../../services/orders/read.ts";
import { changeStatus } from "../../services/orders/status.ts";
import type { AppRouteHandler as Handler } from "../openapi.ts";
import type * as routes from "./orders.routes.ts";

function markReplayed(c: Context<AppEnv>, replayed: boolean) {
  if (replayed) c.header("Idempotent-Replayed", "true");
}

/**
 * Work that reserves stock or takes payment must finish (or compensate) even if the client goes
 * away mid-request: waitUntil keeps the invocation alive for it.
 */
function completeEvenIfAbandoned<T>(c: Context<AppEnv>, work: Promise<T>): Promise<T> {
  c.executionCtx.waitUntil(
    work.then(
      () => {},
      () => {},
    ),
  );
  return work;
}

function inBackground(c: Context<AppEnv>) {
  return (work: Promise<unknown>) => c.executionCtx.waitUntil(work);
}

export const createOrder: Handler<typeof routes.createOrder> = async (c) => {
  const { orders, database } = c.var.services;
  const body = c.req.valid("json");
  const userId = c.var.user.id;
  const result = await completeEvenIfAbandoned(
    c,
    // The key is claimed once the cart says whether it may be taken: ahead of reserving if so, else
    // by the batch that places the order.
    idempotentDeferred<Order>(
      database,
      {
        userId,
        key: c.req.valid("header")["idempotency-key"],
        scope: "POST /api/orders",
        body,
        background: inBackground(c),
      },
      async (complete) => ({ status: 201, body: await checkout(orders, userId, body, complete) }),
    ),
  );
  // The first answer may have been lost with the worker that placed the order, before it took the
  // ordered lines out of the cart: a replay does that, once.
  if (result.replayed) await settleReplayedCheckout(orders, userId, result.body);
  markReplayed(c, result.replayed);
  return c.json({ success: true as const, message: "Order created", data: result.body }, 201);
};

export const listOrders: Handler<typeof routes.listOrders> = async (c) => {
  const page = await listOwnOrders(c.var.services.orders, c.var.user.id, c.req.valid("query"));
  return c.json({ success: true as const, message: "Orders retrieved", data: page }, 200);
};

export const getOrder: Handler<typeof routes.getOrder> = async (c) => {
  const order = await readOrder(c.var.services.orders, c.var.user, c.req.valid("param").order_id);
  return c.json({ success: true as const, message: "Order retrieved", data: order }, 200);
};

export const updateStatus: Handler<typeof routes.updateStatus> = async (c) => {
  const order = await changeStatus(
    c.var.services.orders,
    c.var.user,
    c.req.valid("param").order_id,
    c.req.valid("json"),
  );
  return c.json({ success: true as const, message: `Order ${order.status}`, data: order }, 200);
};

export const getTracking: Handler<typeof routes.getTracking> = async (c) => {
  const tracking = await readTracking(c.var.services.orders, c.var.user, c.req.valid("param").order_id);
  return c.json({ success: true as const, message: "Tracking retrieved", data: tracking }, 200);
};

export const retryPayment: Handler<typeof routes.retryPayment> = async (c) => {
  const { orders, database } = c.var.services;
  const orderId = c.req.valid("param").order_id;
  const body = c.req.valid("json");
  const result = await completeEvenIfAbandoned(
    c,
    idempotent<Order>(
      database,
      {
        userId: c.var.user.id,
        key: c.req.valid("header")["idempotency-key"],
        scope: `POST /api/orders/${orderId}/payment`,
        body,
        background: inBackground(c),
      },
      async (complete) => ({ status: 200, body: await retry(orders, c.var.user, orderId, body, complete) }),
    ),
  );
  markReplayed(c, result.replayed);
  return c.json({ success: true as const, message: "Payment submitted", data: result.body }, 200);
};

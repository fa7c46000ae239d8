import type { Database, Tx } from "../../db/client.ts";
import {
  latestPayment,
  lockOrder,
  lockPayment,
  type NewPayment,
  type OrderRow,
  type PaymentRow,
  paymentOrderId,
  updateOrder,
  updatePayment,
} from "../../db/queries.ts";
import type { PaymentMethod } from "../../db/schema.ts";
import { ApiError } from "../../lib/errors.ts";
import { uuidv7 } from "../../lib/ids.ts";
import { describeError, log } from "../../lib/log.ts";
import type { OrderEvent } from "../../queues/messages.ts";
import type { Order, Payment } from "../../schemas/order.ts";
import type { CompleteKey } from "../idempotency.ts";
import { type Actor, type OrderDeps, SYSTEM } from "./deps.ts";
import { recordChange } from "./events.ts";
import { changeOrderAsRead } from "./status.ts";

export interface Instrument {
  method: PaymentMethod;
  /** What identifies the instrument without being a secret: a card's last four digits, a UPI id, a bank code. */
  reference: string | null;
}

export function instrumentOf(payment: Payment): Instrument {
  switch (payment.paymentMethod) {
    case "credit_card":
      return { method: "credit_card", reference: payment.paymentDetails.cardNumber.slice(-4) };
    case "upi":
      return { method: "upi", reference: payment.paymentDetails.upiId };
    case "net_banking":
      return { method: "net_banking", reference: payment.paymentDetails.bankCode };
    case "cash_on_delivery":
      return { method: "cash_on_delivery", reference: null };
  }
}

export type GatewayOutcome = { approved: true } | { approved: false; reason: string };

/**
 * The mock gateway's deterministic test instruments (README, "Payments"): a card ending 0002, a
 * UPI id starting `fail@` and the bank code FAIL are declined; everything else is approved.
 */
export function gatewayOutcome({ method, reference }: Instrument): GatewayOutcome {
  if (method === "credit_card" && reference === "0002") return { approved: false, reason: "card_declined" };
  if (method === "upi" && reference?.toLowerCase().startsWith("fail@"))
    return { approved: false, reason: "upi_declined" };
  if (method === "net_banking" && reference === "FAIL") return { approved: false, reason: "bank_declined" };
  return { approved: true };
}

/** Records a new payment attempt for an order, pending until the gateway (or delivery, for cash) settles it. */
/** A new pending attempt to pay for `order` with `instrument`. */
export function newPayment(order: OrderRow, instrument: Instrument, attempt: number): NewPayment {
  return {
    id: uuidv7(),
    orderId: order.id,
    attempt,
    method: instrument.method,
    status: "pending",
    reference: instrument.reference,
    amount: order.totalAmount,
    currency: order.currency,
  };
}

function gateway(env: Env, paymentId: string) {
  return env.PAYMENT_GATEWAY.getByName(paymentId);
}

/**
 * Hands an attempt to the mock gateway, which settles it asynchronously from its own alarm: the
 * pending payment survives a worker restart, and the scheduled sweep re-sends any the gateway
 * never acknowledged. Idempotent per payment id.
 */
export async function submitToGateway(env: Env, payment: PaymentRow, delayMs: number): Promise<void> {
  if (payment.method === "cash_on_delivery") return;
  await gateway(env, payment.id).authorize({
    paymentId: payment.id,
    method: payment.method,
    reference: payment.reference,
    delayMs,
  });
}

/**
 * Applies the gateway's verdict. Idempotent: an attempt already settled, or one whose order moved
 * on (cancelled, or paid by an admin) meanwhile, changes nothing but the attempt itself. A decline
 * is a change of the order too (its payment status): recorded and notified like any other. Answers
 * the event to publish once the transaction has committed, if the order changed.
 */
export async function settlePayment(
  tx: Tx,
  paymentId: string,
  outcome: GatewayOutcome,
): Promise<OrderEvent | null> {
  // Order first, then payment: the order every status change locks in, so the two cannot deadlock.
  const orderId = await paymentOrderId(tx, paymentId);
  const order = orderId ? await lockOrder(tx, orderId) : undefined;
  const payment = await lockPayment(tx, paymentId);
  if (payment?.status !== "pending") return null;
  const current = order ? await latestPayment(tx, order.id) : undefined;
  if (order?.status !== "pending" || order.paymentStatus !== "pending" || current?.id !== payment.id) {
    await updatePayment(tx, payment.id, { status: "voided", settledAt: new Date() });
    return null;
  }
  if (!outcome.approved) {
    await updatePayment(tx, payment.id, {
      status: "declined",
      declineReason: outcome.reason,
      settledAt: new Date(),
    });
    const declined = await updateOrder(tx, order.id, { paymentStatus: "failed" });
    return recordChange(tx, declined, {
      from: "pending",
      actor: SYSTEM,
      note: `Payment declined (${outcome.reason})`,
      notify: "order_status_update",
    });
  }
  await updatePayment(tx, payment.id, { status: "approved", settledAt: new Date() });
  const paid = await updateOrder(tx, order.id, { status: "paid", paymentStatus: "paid", paymentDueAt: null });
  return recordChange(tx, paid, {
    from: "pending",
    actor: SYSTEM,
    note: "Payment approved",
    notify: "payment_confirmation",
  });
}

/**
 * What a real gateway's webhook would call, and the mock gateway's alarm calls: settles an attempt
 * with the gateway's verdict. Answers the order's event, to publish once committed, if it changed.
 */
export function settleGatewayPayment(
  database: Database,
  paymentId: string,
  outcome: GatewayOutcome,
): Promise<OrderEvent | null> {
  return database.transaction((tx) => settlePayment(tx, paymentId, outcome));
}

/** Retries a declined payment of a pending order with a (possibly different) method. */
export async function retryPayment(
  deps: OrderDeps,
  actor: Actor & { id: number },
  orderId: string,
  payment: Payment,
  completeKey: CompleteKey,
): Promise<Order> {
  const instrument = instrumentOf(payment);
  const changed = await changeOrderAsRead(deps, actor, orderId, (order) => {
    if (order.userId !== actor.id) throw new ApiError("ORDER_NOT_FOUND", "No such order");
    if (order.status !== "pending" || order.paymentStatus !== "failed") {
      throw new ApiError(
        "PAYMENT_NOT_RETRYABLE",
        `Only a pending order whose payment failed can be paid again (status ${order.status}, payment ${order.paymentStatus})`,
      );
    }
    return {
      patch: {
        paymentMethod: instrument.method,
        paymentStatus: "pending",
        // Cash on delivery is never cancelled for want of payment: it is paid on delivery.
        paymentDueAt: instrument.method === "cash_on_delivery" ? null : order.paymentDueAt,
      },
      settlePayments: null,
      releaseStock: false,
      payment: newPayment(order, instrument, order.lastAttempt + 1),
      change: {
        from: "pending",
        actor,
        note: `Payment retried (${instrument.method})`,
        notify: "order_status_update",
      },
      also: (db, view) => completeKey.inBatch(db, 200, view),
    };
  });
  if (changed.payment) {
    await submitToGateway(deps.env, changed.payment, deps.config.PAYMENT_SETTLE_DELAY_MS).catch(
      (error: unknown) =>
        // The attempt is pending in the database: the scheduled sweep re-submits it.
        log("warn", "payment submission deferred", { orderId, ...describeError(error) }),
    );
  }
  return changed.order;
}

import {
  findPayment,
  type NewPayment,
  type OrderRow,
  type PaymentRow,
  voidPendingPayment,
} from "../../db/queries.ts";
import type { PaymentMethod } from "../../db/schema.ts";
import { ApiError } from "../../lib/errors.ts";
import { uuidv7 } from "../../lib/ids.ts";
import { describeError, log } from "../../lib/log.ts";
import type { Order, Payment } from "../../schemas/order.ts";
import type { CompleteKey } from "../idempotency.ts";
import { paymentDueAt } from "./deadlines.ts";
import { type Actor, type OrderDeps, SYSTEM } from "./deps.ts";
import { changeOrderAsRead, ORDER_CHANGE_STAMPS } from "./status.ts";

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
 * The mock gateway's deterministic test instruments (docs/api.md, "Payments"): a card ending 0002, a
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

/** The attempt is moot: its order moved on (cancelled, paid by an admin, retried) without it. */
class MootAttempt extends Error {}

/**
 * Applies the gateway's verdict: what a real gateway's webhook would call, and the mock gateway's
 * alarm calls. Like a status change, a read and then one batch over the HTTP path, written only if
 * the order is still the version that was read (else read and judged again), so no connection is
 * opened and an attempt is settled once: a second settlement of it finds it no longer pending, or
 * its order changed. An attempt whose order moved on is voided, changing nothing else. A decline is
 * a change of the order too (its payment status): recorded and notified like any other; events are
 * published through `deps.events` once committed.
 */
export async function settleGatewayPayment(
  deps: OrderDeps,
  paymentId: string,
  outcome: GatewayOutcome,
): Promise<void> {
  const payment = await deps.database.once((db) => findPayment(db, paymentId));
  if (payment?.status !== "pending") return;
  try {
    await changeOrderAsRead(deps, SYSTEM, payment.orderId, (order) => {
      if (
        order.status !== "pending" ||
        order.paymentStatus !== "pending" ||
        order.lastAttempt !== payment.attempt
      )
        throw new MootAttempt();
      const change = { from: "pending" as const, actor: SYSTEM };
      if (!outcome.approved) {
        return {
          patch: { paymentStatus: "failed" },
          settlePayments: null,
          declinePayment: outcome.reason,
          releaseStock: false,
          change: { ...change, note: `Payment declined (${outcome.reason})`, notify: "order_status_update" },
        };
      }
      return {
        patch: { status: "paid", paymentStatus: "paid", paymentDueAt: null },
        settlePayments: "approved",
        releaseStock: false,
        change: { ...change, note: "Payment approved", notify: "payment_confirmation" },
      };
    });
  } catch (error) {
    // Also an order that no longer exists (ORDER_NOT_FOUND): nothing is left to pay for.
    const moot =
      error instanceof MootAttempt || (error instanceof ApiError && error.code === "ORDER_NOT_FOUND");
    if (!moot) throw error;
    await deps.database.once((db) => voidPendingPayment(db, paymentId));
  }
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
        // Switching to cash on delivery starts its confirmation deadline; a prepaid retry keeps the first.
        paymentDueAt:
          instrument.method === "cash_on_delivery"
            ? paymentDueAt(deps.config, instrument.method, new Date())
            : order.paymentDueAt,
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
      also: (db, view) => completeKey.inBatch(db, 200, view, ORDER_CHANGE_STAMPS),
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

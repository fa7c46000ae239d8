import type { Config } from "../../config.ts";
import type { PaymentMethod } from "../../db/schema.ts";

/**
 * When the sweep cancels a pending order that nothing moved on, releasing its stock: a prepaid
 * order unpaid PAYMENT_TIMEOUT_MINUTES after it was placed; a cash-on-delivery order not confirmed
 * (moved to processing) COD_CONFIRM_HOURS after it was placed, or switched to cash by a payment
 * retry. Without the second, cash orders (up to MAX_OPEN_ORDERS_PER_USER per account, 50 lines of
 * 99 units each) would pin scarce stock until an admin cancelled them by hand.
 */
export function paymentDueAt(config: Config, method: PaymentMethod, from: Date): Date {
  const ms =
    method === "cash_on_delivery"
      ? config.COD_CONFIRM_HOURS * 3_600_000
      : config.PAYMENT_TIMEOUT_MINUTES * 60_000;
  return new Date(from.getTime() + ms);
}

/** The history note of the sweep's cancellation. */
export const overdueNote = (method: PaymentMethod) =>
  method === "cash_on_delivery" ? "Cash on delivery not confirmed in time" : "Payment not received in time";

import { z } from "zod";
import type { OutboxRow } from "../db/queries.ts";
import { ORDER_STATUSES, OUTBOX_TYPES, PAYMENT_STATUSES } from "../db/schema.ts";
import type { LiveEvent } from "../schemas/live.ts";

/**
 * One order event on the notifications queue: an outbox row as relayed. Its id is the outbox row's
 * and travels as the notification's Idempotency-Key, so a redelivery is dropped by the receiver.
 */
export const OrderEventSchema = z.object({
  id: z.uuid(),
  type: z.enum(OUTBOX_TYPES),
  userId: z.number().int(),
  orderId: z.uuid(),
  /** The order as the change left it; the notification service's `data`. */
  data: z.looseObject({ status: z.enum(ORDER_STATUSES), paymentStatus: z.enum(PAYMENT_STATUSES) }),
  /** When the change was committed. */
  at: z.iso.datetime(),
});
export type OrderEvent = z.infer<typeof OrderEventSchema>;

export function toOrderEvent(row: OutboxRow): OrderEvent {
  return {
    id: row.id,
    type: row.type,
    userId: row.userId,
    orderId: row.orderId,
    data: row.payload as OrderEvent["data"],
    at: row.createdAt.toISOString(),
  };
}

/**
 * What the notifications consumer sends to the dead-letter queue: the message as it arrived (it may
 * not even be an event), with why it was given up on. Messages the queue itself forwards once
 * retries are exhausted arrive there bare, without this envelope.
 */
export const DeadLetterSchema = z.object({
  deadLetter: z.literal(true),
  messageId: z.string(),
  body: z.unknown(),
  attempts: z.number().int().min(1),
  lastError: z.string(),
});
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

/** The event pushed live to the owner's open WebSockets (SPEC §4). */
export function toLiveEvent(event: OrderEvent): LiveEvent {
  return {
    type: "order.status",
    orderId: event.orderId,
    status: event.data.status,
    paymentStatus: event.data.paymentStatus,
    at: event.at,
  };
}

import type { Tx } from "../../db/client.ts";
import {
  insertHistory,
  insertOutbox,
  type NewHistory,
  type NewOutbox,
  type OrderRow,
} from "../../db/queries.ts";
import type { OrderStatus, OutboxType } from "../../db/schema.ts";
import { uuidv7 } from "../../lib/ids.ts";
import { type OrderEvent, toOrderEvent } from "../../queues/messages.ts";
import type { Actor } from "./deps.ts";

export interface OrderChange {
  from: OrderStatus | null;
  actor: Actor;
  note?: string | null;
  notify: OutboxType;
}

/** The history entry and outbox event of a change of `order`, as rows to insert. */
export function changeRecords(
  order: OrderRow,
  change: OrderChange,
): { history: NewHistory; event: NewOutbox } {
  return {
    history: {
      orderId: order.id,
      fromStatus: change.from,
      toStatus: order.status,
      actorId: change.actor.id,
      actorRole: change.actor.role,
      note: change.note ?? null,
    },
    event: {
      id: uuidv7(),
      orderId: order.id,
      userId: order.userId,
      type: change.notify,
      payload: {
        status: order.status,
        previousStatus: change.from,
        paymentStatus: order.paymentStatus,
        totalAmount: order.totalAmount,
        currency: order.currency,
        trackingNumber: order.trackingNumber,
        carrier: order.carrier,
        note: change.note ?? null,
      },
    },
  };
}

/**
 * Records a change of an order already written in `tx`: its history entry (who, when, from, to,
 * note) and its notification event in the outbox, both in the same transaction as the change, so
 * neither can be lost or sent for a change that rolled back. Answers the event, for the caller to
 * publish once the transaction has committed (the sweep relays it if that never happens).
 */
export async function recordChange(tx: Tx, order: OrderRow, change: OrderChange): Promise<OrderEvent> {
  const { history, event } = changeRecords(order, change);
  await insertHistory(tx, history);
  return toOrderEvent(await insertOutbox(tx, event));
}

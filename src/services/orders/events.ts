import { getTableColumns } from "drizzle-orm";
import type { Tx } from "../../db/client.ts";
import {
  type ChangeField,
  type ChangeStamp,
  insertHistory,
  insertOutbox,
  type NewHistory,
  type NewOutbox,
  type OrderRow,
  type RecordValue,
  type StatusChangeTable,
} from "../../db/queries.ts";
import { type OrderStatus, type OutboxType, orders } from "../../db/schema.ts";
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
export async function recordChange(
  tx: Tx,
  order: OrderRow,
  change: OrderChange,
  at: ChangeStamp,
): Promise<OrderEvent> {
  const { history, event } = changeRecords(order, change);
  await insertHistory(tx, history, at);
  return toOrderEvent(await insertOutbox(tx, event, at));
}

const STAND_IN = "\u0000stand-in:";

/**
 * The history entry and event of a change as changeRecords builds them, for the database to build
 * (queries/status-change.ts): evaluated on stand-ins of the order as changed and of the change's
 * fields, each value is a column of the order, a field of the change, or a constant. Undefined when
 * changeRecords computes with a stand-in rather than passing it on.
 */
export function changeRecordsTemplate(): Pick<StatusChangeTable, "history" | "event"> | undefined {
  const keys = Object.keys(getTableColumns(orders));
  const order = Object.fromEntries(
    keys.map((key) => [key, `${STAND_IN}order.${key}`]),
  ) as unknown as OrderRow;
  const field = (name: ChangeField) => `${STAND_IN}change.${name}`;
  const change = {
    from: field("from"),
    note: field("note"),
    notify: field("notify"),
    actor: { id: field("actorId"), role: field("actorRole") },
  } as unknown as OrderChange;
  const { history, event } = changeRecords(order, change);
  const recorded = (value: unknown): RecordValue | undefined => {
    if (typeof value === "string" && value.startsWith(STAND_IN)) {
      const [kind, name] = value.slice(STAND_IN.length).split(".");
      if (kind === "order" && keys.includes(name as string)) return { order: name as keyof OrderRow };
      if (kind === "change") return { change: name as ChangeField };
      return undefined;
    }
    return JSON.stringify(value ?? null).includes("stand-in:") ? undefined : { constant: value };
  };
  const record = (row: Record<string, unknown>) => {
    const values = Object.entries(row)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => [key, recorded(value)] as const);
    if (values.some(([, value]) => value === undefined)) return undefined;
    return Object.fromEntries(values) as Record<string, RecordValue>;
  };
  const { payload, ...rest } = event;
  const historyValues = record(history);
  const eventValues = record(rest);
  const payloadValues = record(payload);
  if (!historyValues || !eventValues || !payloadValues) return undefined;
  return { history: historyValues, event: { ...eventValues, payload: payloadValues } };
}

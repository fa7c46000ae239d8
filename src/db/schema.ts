import { sql } from "drizzle-orm";
import {
  bigint,
  bigserial,
  char,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";

export const ORDER_STATUSES = ["pending", "paid", "processing", "shipped", "delivered", "cancelled"] as const;
export const PAYMENT_STATUSES = ["pending", "paid", "failed", "refunded"] as const;
export const PAYMENT_METHODS = ["credit_card", "upi", "net_banking", "cash_on_delivery"] as const;
export const ATTEMPT_STATUSES = ["pending", "approved", "declined", "voided"] as const;
export const OUTBOX_TYPES = [
  "order_confirmation",
  "payment_confirmation",
  "order_status_update",
  "order_cancellation",
] as const;

export type OrderStatus = (typeof ORDER_STATUSES)[number];
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];
export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];
export type OutboxType = (typeof OUTBOX_TYPES)[number];

const inList = (values: readonly string[]) => sql.raw(values.map((value) => `'${value}'`).join(", "));
const timestamps = {
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
};
/** Money: an integer in minor units next to its currency. */
const minor = (name: string) => bigint(name, { mode: "number" }).notNull();

export type ShippingAddress = {
  street: string;
  city: string;
  state: string;
  postalCode: string;
  country: string;
};

/** Orders; ids are UUIDv7 (unguessable, yet time-ordered so the primary key index stays compact). */
export const orders = pgTable(
  "orders",
  {
    id: uuid("id").primaryKey(),
    userId: bigint("user_id", { mode: "number" }).notNull(),
    status: text("status").$type<OrderStatus>().notNull(),
    paymentStatus: text("payment_status").$type<PaymentStatus>().notNull(),
    paymentMethod: text("payment_method").$type<PaymentMethod>().notNull(),
    totalAmount: minor("total_amount"),
    currency: char("currency", { length: 3 }).notNull(),
    shippingAddress: jsonb("shipping_address").$type<ShippingAddress>().notNull(),
    trackingNumber: text("tracking_number"),
    carrier: text("carrier"),
    estimatedDelivery: timestamp("estimated_delivery", { withTimezone: true, mode: "date" }),
    /** When an unpaid order is cancelled; null once paid or for cash on delivery. */
    paymentDueAt: timestamp("payment_due_at", { withTimezone: true, mode: "date" }),
    ...timestamps,
  },
  (table) => [
    // A user's history, newest first, with (created_at, id) as the keyset cursor.
    index("orders_user_history_idx").on(table.userId, table.createdAt.desc(), table.id.desc()),
    index("orders_payment_due_idx").on(table.paymentDueAt).where(sql`${table.paymentDueAt} IS NOT NULL`),
    // The operators' search (queries/admin-orders.ts): newest first overall and within a window, by
    // status, by payment status, and an exact tracking number. Ascending: read backwards, they give
    // ORDER BY created_at DESC, id DESC (whose NULLS FIRST a DESC NULLS LAST index cannot).
    index("orders_created_idx").on(table.createdAt, table.id),
    index("orders_status_created_idx").on(table.status, table.createdAt, table.id),
    index("orders_payment_status_created_idx").on(table.paymentStatus, table.createdAt, table.id),
    index("orders_tracking_number_idx")
      .on(table.trackingNumber)
      .where(sql`${table.trackingNumber} IS NOT NULL`),
    check("orders_status_check", sql`${table.status} IN (${inList(ORDER_STATUSES)})`),
    check("orders_payment_status_check", sql`${table.paymentStatus} IN (${inList(PAYMENT_STATUSES)})`),
    check("orders_payment_method_check", sql`${table.paymentMethod} IN (${inList(PAYMENT_METHODS)})`),
    check("orders_total_check", sql`${table.totalAmount} >= 0`),
  ],
);

export const orderItems = pgTable(
  "order_items",
  {
    orderId: uuid("order_id")
      .notNull()
      .references(() => orders.id, { onDelete: "cascade" }),
    productId: text("product_id").notNull(),
    productName: text("product_name").notNull(),
    price: minor("price"),
    quantity: integer("quantity").notNull(),
    totalPrice: minor("total_price"),
    image: text("image"),
  },
  (table) => [
    primaryKey({ columns: [table.orderId, table.productId] }),
    check("order_items_quantity_check", sql`${table.quantity} > 0`),
  ],
);

/** Every status change: who (null actor = the system), when, from, to, and a note. */
export const orderStatusHistory = pgTable(
  "order_status_history",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    orderId: uuid("order_id")
      .notNull()
      .references(() => orders.id, { onDelete: "cascade" }),
    fromStatus: text("from_status").$type<OrderStatus>(),
    toStatus: text("to_status").$type<OrderStatus>().notNull(),
    actorId: bigint("actor_id", { mode: "number" }),
    actorRole: text("actor_role").$type<"USER" | "ADMIN" | "SYSTEM">().notNull(),
    note: text("note"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (table) => [index("order_status_history_order_idx").on(table.orderId, table.id)],
);

/** One row per payment attempt. Only the card's last four digits are ever stored. */
export const payments = pgTable(
  "payments",
  {
    id: uuid("id").primaryKey(),
    orderId: uuid("order_id")
      .notNull()
      .references(() => orders.id, { onDelete: "cascade" }),
    attempt: integer("attempt").notNull(),
    method: text("method").$type<PaymentMethod>().notNull(),
    status: text("status").$type<AttemptStatus>().notNull(),
    /** What identifies the instrument without being a secret: card last4, UPI id, bank code. */
    reference: text("reference"),
    amount: minor("amount"),
    currency: char("currency", { length: 3 }).notNull(),
    declineReason: text("decline_reason"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    settledAt: timestamp("settled_at", { withTimezone: true, mode: "date" }),
    /** Re-submissions to a gateway that never acknowledged the attempt; each waits longer for the next. */
    resubmissions: integer("resubmissions").notNull().default(0),
    resubmittedAt: timestamp("resubmitted_at", { withTimezone: true, mode: "date" }),
  },
  (table) => [
    // One row per attempt of an order: a payment retry numbers its attempt from the order as read,
    // and its batch's version check already keeps two retries from taking one number.
    uniqueIndex("payments_order_attempt_idx").on(table.orderId, table.attempt),
    // The sweep's look-up of gateway attempts still pending: few rows, so a small partial index.
    index("payments_pending_idx")
      .on(table.createdAt)
      .where(sql`${table.status} = 'pending' AND ${table.method} <> 'cash_on_delivery'`),
    check("payments_status_check", sql`${table.status} IN (${inList(ATTEMPT_STATUSES)})`),
  ],
);

/** Idempotency keys, unique per user; the completed response is written with the order itself. */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    userId: bigint("user_id", { mode: "number" }).notNull(),
    key: text("key").notNull(),
    scope: text("scope").notNull(),
    requestHash: text("request_hash").notNull(),
    /** Whose request holds the key: a taken-over key can no longer be completed by its first holder. */
    claimToken: uuid("claim_token"),
    responseStatus: integer("response_status"),
    responseBody: jsonb("response_body"),
    lockedUntil: timestamp("locked_until", { withTimezone: true, mode: "date" }),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.userId, table.key] }),
    index("idempotency_keys_expiry_idx").on(table.expiresAt),
  ],
);

/** Notification events written in the same transaction as the order change; relayed to the queue later. */
export const outbox = pgTable(
  "outbox",
  {
    id: uuid("id").primaryKey(),
    orderId: uuid("order_id").notNull(),
    userId: bigint("user_id", { mode: "number" }).notNull(),
    type: text("type").$type<OutboxType>().notNull(),
    payload: jsonb("payload").$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    publishedAt: timestamp("published_at", { withTimezone: true, mode: "date" }),
  },
  (table) => [
    index("outbox_unpublished_idx").on(table.createdAt).where(sql`${table.publishedAt} IS NULL`),
    // Serves the sweep's pruning of events relayed longer ago than the retention period.
    index("outbox_published_idx").on(table.publishedAt).where(sql`${table.publishedAt} IS NOT NULL`),
    check("outbox_type_check", sql`${table.type} IN (${inList(OUTBOX_TYPES)})`),
  ],
);

/**
 * Notifications the consumer gave up on (a permanent refusal, a malformed message, or retries
 * exhausted), kept for operators to list and replay. The id is the event's id, so a replayed event
 * that dies again updates its row; a message that was not an event is keyed by its queue message id.
 */
export const deadLetters = pgTable(
  "dead_letters",
  {
    id: text("id").primaryKey(),
    /** Null when the message was not a well-formed event (it cannot be replayed). */
    eventType: text("event_type").$type<OutboxType>(),
    orderId: text("order_id"),
    userId: bigint("user_id", { mode: "number" }),
    /** The message body exactly as the queue delivered it. */
    body: jsonb("body").$type<unknown>(),
    attempts: integer("attempts").notNull(),
    lastError: text("last_error").notNull(),
    failedAt: timestamp("failed_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    replayedAt: timestamp("replayed_at", { withTimezone: true, mode: "date" }),
    replays: integer("replays").notNull().default(0),
  },
  (table) => [index("dead_letters_failed_idx").on(table.failedAt.desc(), table.id.desc())],
);

/**
 * Stock owed back to the product service, retried by the sweep until a release succeeds: written by
 * a cancellation (in its transaction), or by a checkout whose compensation failed, in which case
 * `order_id` names the order that was never placed (so it references no row).
 */
export const stockReleases = pgTable(
  "stock_releases",
  {
    orderId: uuid("order_id").notNull(),
    productId: text("product_id").notNull(),
    quantity: integer("quantity").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    /**
     * When a worker took this release on, committed before it calls the product service: a release is
     * claimed once. Claimed but never released means the worker died or the call's outcome is unknown:
     * in doubt, for an operator (the delta is not idempotent, so it is never retried blindly).
     */
    claimedAt: timestamp("claimed_at", { withTimezone: true, mode: "date" }),
    /** When the product service confirmed the release. */
    releasedAt: timestamp("released_at", { withTimezone: true, mode: "date" }),
    /** Refusals so far; each pushes the next attempt further out, so stuck ones never block the rest. */
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ columns: [table.orderId, table.productId] }),
    index("stock_releases_due_idx")
      .on(table.nextAttemptAt)
      .where(sql`${table.releasedAt} IS NULL AND ${table.claimedAt} IS NULL`),
    index("stock_releases_claimed_idx")
      .on(table.claimedAt)
      .where(sql`${table.releasedAt} IS NULL AND ${table.claimedAt} IS NOT NULL`),
  ],
);

/**
 * Orders a later checkout gave up on: it took over their cart's lapsed lock and found no such order.
 * A placement of one of them that arrives after all refuses, so one cart is never ordered twice.
 * Pruned by the sweep after a day (no checkout runs that long).
 */
export const abandonedCheckouts = pgTable("abandoned_checkouts", {
  orderId: uuid("order_id").primaryKey(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
});

// The one place SQL lives: every read and write of the order tables, one module per concern.
export * from "./queries/admin-orders.ts";
export * from "./queries/clock.ts";
export * from "./queries/idempotency.ts";
export * from "./queries/order-reads.ts";
export * from "./queries/orders.ts";
export * from "./queries/outbox.ts";
export * from "./queries/payments.ts";
export * from "./queries/refusals.ts";
export * from "./queries/status-change.ts";
export * from "./queries/stock.ts";

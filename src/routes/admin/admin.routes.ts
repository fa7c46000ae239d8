import { createRoute } from "@hono/zod-openapi";
import {
  AdminOrderDetailSchema,
  AdminOrderSearchQuerySchema,
  AdminSummaryQuerySchema,
  AdminSummarySchema,
} from "../../schemas/admin-order.ts";
import { envelope } from "../../schemas/common.ts";
import {
  DeadLetterIdParamSchema,
  DeadLetterPageSchema,
  DeadLetterViewSchema,
  ListDeadLettersQuerySchema,
} from "../../schemas/dead-letter.ts";
import { OrderIdParamSchema, OrderPageSchema } from "../../schemas/order.ts";
import { bearerAuth, errorResponses, jsonResponse, SIGNED_IN, WRITE } from "../openapi.ts";

const OrderPageEnvelope = envelope(OrderPageSchema, "AdminOrderPageResponse");

const tags = ["Admin"];

export const searchOrders = createRoute({
  operationId: "searchOrders",
  method: "get",
  path: "/api/admin/orders",
  tags,
  summary: "Every user's orders, filtered (admins)",
  description:
    "Newest first; the filters combine with AND. status, paymentStatus and paymentMethod take one or more " +
    "values, comma-separated or repeated. q is an order id or an exact tracking number. createdFrom is " +
    "inclusive, createdTo exclusive (from after to: 400). nextCursor pages the same search: sent with other " +
    "filters it is refused (400).",
  security: bearerAuth,
  request: { query: AdminOrderSearchQuerySchema },
  responses: {
    200: jsonResponse(OrderPageEnvelope, "One page, newest first"),
    ...errorResponses(...SIGNED_IN, 400, 403),
  },
});

export const orderSummary = createRoute({
  operationId: "summarizeOrders",
  method: "get",
  path: "/api/admin/orders/summary",
  tags,
  summary: "What needs attention (admins)",
  description:
    "In the window (default: the week before createdTo, itself by default now): orders by status and by " +
    "payment status, and the revenue of paid-or-later orders by currency. Whatever their age: pending orders " +
    "past their deadline, dead letters not replayed, and the outbox backlog. One statement.",
  security: bearerAuth,
  request: { query: AdminSummaryQuerySchema },
  responses: {
    200: jsonResponse(envelope(AdminSummarySchema, "AdminOrderSummaryResponse"), "The summary"),
    ...errorResponses(...SIGNED_IN, 400, 403),
  },
});

export const getOrder = createRoute({
  operationId: "getAdminOrder",
  method: "get",
  path: "/api/admin/orders/{order_id}",
  tags,
  summary: "An order with its history and payment attempts (admins)",
  description:
    "Items, every change with who made it, every payment attempt, and the statuses it may move to now.",
  security: bearerAuth,
  request: { params: OrderIdParamSchema },
  responses: {
    200: jsonResponse(envelope(AdminOrderDetailSchema, "AdminOrderDetailResponse"), "The order"),
    ...errorResponses(...SIGNED_IN, 400, 403, 404),
  },
});

export const listDeadLetters = createRoute({
  operationId: "listDeadLetters",
  method: "get",
  path: "/api/admin/dead-letters",
  tags,
  summary: "Notifications the consumer gave up on (admins)",
  description: "Most recent failure first. By default only those not replayed since they last failed.",
  security: bearerAuth,
  request: { query: ListDeadLettersQuerySchema },
  responses: {
    200: jsonResponse(envelope(DeadLetterPageSchema, "DeadLetterPageResponse"), "One page"),
    ...errorResponses(...SIGNED_IN, 400, 403),
  },
});

export const replayDeadLetter = createRoute({
  operationId: "replayDeadLetter",
  method: "post",
  path: "/api/admin/dead-letters/{dead_letter_id}/replay",
  tags,
  summary: "Send a dead letter's event to the notification service again (admins)",
  description:
    "Queues the event again under its own id (the Idempotency-Key), so the receiver drops it if an earlier " +
    "attempt got through. If it fails again it returns to the dead letters.",
  security: bearerAuth,
  request: { params: DeadLetterIdParamSchema },
  responses: {
    200: jsonResponse(envelope(DeadLetterViewSchema, "DeadLetterResponse"), "Queued again"),
    ...errorResponses(...SIGNED_IN, ...WRITE, 400, 403, 404, 409),
  },
});

import { createRoute } from "@hono/zod-openapi";
import { requireJson } from "../../middleware/json-body.ts";
import { envelope, IdempotencyKeyHeaderSchema } from "../../schemas/common.ts";
import {
  CreateOrderBodySchema,
  ListOrdersQuerySchema,
  OrderIdParamSchema,
  OrderPageSchema,
  OrderSchema,
  RetryPaymentBodySchema,
  TrackingSchema,
  UpdateStatusBodySchema,
} from "../../schemas/order.ts";
import {
  bearerAuth,
  errorResponses,
  jsonBody,
  jsonResponse,
  replayedHeader,
  SIGNED_IN,
  WRITE,
} from "../openapi.ts";

const tags = ["Orders"];
const OrderEnvelope = envelope(OrderSchema, "OrderResponse");

export const createOrder = createRoute({
  operationId: "createOrder",
  method: "post",
  path: "/api/orders",
  tags,
  summary: "Place an order from the cart",
  description:
    "Re-prices the cart from the product service, reserves stock (all lines or none) and creates a pending order; " +
    "the mock gateway settles the payment asynchronously. Send an Idempotency-Key to retry safely.",
  security: bearerAuth,
  middleware: [requireJson] as const,
  request: { headers: IdempotencyKeyHeaderSchema, body: jsonBody(CreateOrderBodySchema) },
  responses: {
    201: jsonResponse(OrderEnvelope, "The order, pending payment", replayedHeader),
    ...errorResponses(...SIGNED_IN, ...WRITE, 400, 409, 415),
  },
});

export const listOrders = createRoute({
  operationId: "listOrders",
  method: "get",
  path: "/api/orders",
  tags,
  summary: "The caller's orders, newest first",
  security: bearerAuth,
  request: { query: ListOrdersQuerySchema },
  responses: {
    200: jsonResponse(
      envelope(OrderPageSchema, "OrderPageResponse"),
      "One page; pass nextCursor for the next",
    ),
    ...errorResponses(...SIGNED_IN, 400),
  },
});

export const getOrder = createRoute({
  operationId: "getOrder",
  method: "get",
  path: "/api/orders/{order_id}",
  tags,
  summary: "One order (its owner or an admin)",
  security: bearerAuth,
  request: { params: OrderIdParamSchema },
  responses: { 200: jsonResponse(OrderEnvelope, "The order"), ...errorResponses(...SIGNED_IN, 400, 404) },
});

export const updateStatus = createRoute({
  operationId: "updateOrderStatus",
  method: "put",
  path: "/api/orders/{order_id}/status",
  tags,
  summary: "Move an order along its status flow",
  description:
    "Admins: pending → paid → processing → shipped (trackingNumber required) → delivered; pending → processing " +
    "for cash on delivery; pending | paid | processing → cancelled. Owners may cancel a pending or paid order.",
  security: bearerAuth,
  middleware: [requireJson] as const,
  request: { params: OrderIdParamSchema, body: jsonBody(UpdateStatusBodySchema) },
  responses: {
    200: jsonResponse(OrderEnvelope, "The updated order"),
    ...errorResponses(...SIGNED_IN, ...WRITE, 400, 403, 404, 409, 415),
  },
});

export const getTracking = createRoute({
  operationId: "getOrderTracking",
  method: "get",
  path: "/api/orders/{order_id}/tracking",
  tags,
  summary: "Tracking and the full status history",
  security: bearerAuth,
  request: { params: OrderIdParamSchema },
  responses: {
    200: jsonResponse(envelope(TrackingSchema, "TrackingResponse"), "Tracking"),
    ...errorResponses(...SIGNED_IN, 400, 404),
  },
});

export const retryPayment = createRoute({
  operationId: "retryOrderPayment",
  method: "post",
  path: "/api/orders/{order_id}/payment",
  tags,
  summary: "Pay again for a pending order whose payment failed",
  security: bearerAuth,
  middleware: [requireJson] as const,
  request: {
    params: OrderIdParamSchema,
    headers: IdempotencyKeyHeaderSchema,
    body: jsonBody(RetryPaymentBodySchema),
  },
  responses: {
    200: jsonResponse(OrderEnvelope, "The order, its new payment pending", replayedHeader),
    ...errorResponses(...SIGNED_IN, ...WRITE, 400, 404, 409, 415),
  },
});

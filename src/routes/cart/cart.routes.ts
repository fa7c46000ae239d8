import { createRoute } from "@hono/zod-openapi";
import {
  AUTHENTICATED,
  bearerAuth,
  errorResponses,
  jsonBody,
  jsonResponse,
  replayedHeader,
  WRITE,
} from "../../lib/openapi.ts";
import { requireJson } from "../../middleware/json-body.ts";
import {
  AddItemBodySchema,
  CartItemSchema,
  CartSchema,
  ItemIdParamSchema,
  UpdateItemBodySchema,
} from "../../schemas/cart.ts";
import { envelope, IdempotencyKeyHeaderSchema } from "../../schemas/common.ts";

const tags = ["Cart"];
const CartEnvelope = envelope(CartSchema, "CartResponse");
const CartItemEnvelope = envelope(CartItemSchema, "CartItemResponse");

export const getCart = createRoute({
  operationId: "getCart",
  method: "get",
  path: "/api/cart",
  tags,
  summary: "The caller's cart",
  security: bearerAuth,
  responses: {
    200: jsonResponse(CartEnvelope, "The cart, with totals in minor units"),
    ...errorResponses(...AUTHENTICATED),
  },
});

export const addItem = createRoute({
  operationId: "addCartItem",
  method: "post",
  path: "/api/cart/items",
  tags,
  summary: "Add a product, or grow its line",
  description:
    "Name, price and image come from the product service. Adding a product already in the cart grows that line.",
  security: bearerAuth,
  middleware: [requireJson] as const,
  request: { headers: IdempotencyKeyHeaderSchema, body: jsonBody(AddItemBodySchema) },
  responses: {
    201: jsonResponse(CartItemEnvelope, "A new line", replayedHeader),
    200: jsonResponse(CartItemEnvelope, "An existing line grew", replayedHeader),
    ...errorResponses(...AUTHENTICATED, ...WRITE, 400, 404, 409, 415),
  },
});

export const updateItem = createRoute({
  operationId: "updateCartItem",
  method: "put",
  path: "/api/cart/items/{item_id}",
  tags,
  summary: "Set a line's quantity",
  security: bearerAuth,
  middleware: [requireJson] as const,
  request: { params: ItemIdParamSchema, body: jsonBody(UpdateItemBodySchema) },
  responses: {
    200: jsonResponse(CartItemEnvelope, "The updated line"),
    ...errorResponses(...AUTHENTICATED, ...WRITE, 400, 404, 409, 415),
  },
});

export const removeItem = createRoute({
  operationId: "removeCartItem",
  method: "delete",
  path: "/api/cart/items/{item_id}",
  tags,
  summary: "Remove a line",
  security: bearerAuth,
  request: { params: ItemIdParamSchema },
  responses: {
    200: jsonResponse(CartEnvelope, "The cart without the line"),
    ...errorResponses(...AUTHENTICATED, ...WRITE, 400, 404),
  },
});

export const clearCart = createRoute({
  operationId: "clearCart",
  method: "delete",
  path: "/api/cart",
  tags,
  summary: "Empty the cart",
  security: bearerAuth,
  responses: {
    200: jsonResponse(CartEnvelope, "The empty cart"),
    ...errorResponses(...AUTHENTICATED, ...WRITE),
  },
});

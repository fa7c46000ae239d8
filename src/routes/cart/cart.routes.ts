import { createRoute } from "@hono/zod-openapi";
import { requireJson } from "../../middleware/json-body.ts";
import {
  AddItemBodySchema,
  CartItemSchema,
  CartSchema,
  ItemIdParamSchema,
  MergeCartBodySchema,
  MergeResultSchema,
  UpdateItemBodySchema,
} from "../../schemas/cart.ts";
import { envelope, IdempotencyKeyHeaderSchema } from "../../schemas/common.ts";
import {
  AUTHENTICATED,
  bearerAuth,
  bearerOrGuestAuth,
  errorResponses,
  jsonBody,
  jsonResponse,
  replayedHeader,
  SIGNED_IN,
  WRITE,
} from "../openapi.ts";

const tags = ["Cart"];
const CartEnvelope = envelope(CartSchema, "CartResponse");
const CartItemEnvelope = envelope(CartItemSchema, "CartItemResponse");

export const getCart = createRoute({
  operationId: "getCart",
  method: "get",
  path: "/api/cart",
  tags,
  summary: "The caller's cart",
  security: bearerOrGuestAuth,
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
  security: bearerOrGuestAuth,
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
  security: bearerOrGuestAuth,
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
  security: bearerOrGuestAuth,
  request: { params: ItemIdParamSchema },
  responses: {
    200: jsonResponse(CartEnvelope, "The cart without the line"),
    ...errorResponses(...AUTHENTICATED, ...WRITE, 400, 404, 409),
  },
});

export const clearCart = createRoute({
  operationId: "clearCart",
  method: "delete",
  path: "/api/cart",
  tags,
  summary: "Empty the cart",
  security: bearerOrGuestAuth,
  responses: {
    200: jsonResponse(CartEnvelope, "The empty cart"),
    ...errorResponses(...AUTHENTICATED, ...WRITE, 409),
  },
});

export const mergeCart = createRoute({
  operationId: "mergeGuestCart",
  method: "post",
  path: "/api/cart/merge",
  tags,
  summary: "Take a guest's cart over at sign-in",
  description:
    "With the user's token, and the guest token in the body. merge (the default) adds the guest's lines " +
    "to the user's cart, keeping the larger quantity for a product in both; replace makes the guest's " +
    "lines the user's cart. Every line is checked against the product service (fresh) and the cart's " +
    "limits; what cannot be applied in full is cut or dropped and listed in adjustments. The guest's cart " +
    "is empty afterwards, so merging it again changes nothing; of two users merging one guest cart at once, " +
    "one gets its lines. 400 names guestToken when it is not a valid, unexpired guest token; 409 " +
    "CHECKOUT_IN_PROGRESS while a checkout holds the user's cart (the guest's cart is left as it was); 503 " +
    "while the product service is down (both carts are left as they were).",
  security: bearerAuth,
  middleware: [requireJson] as const,
  request: { headers: IdempotencyKeyHeaderSchema, body: jsonBody(MergeCartBodySchema) },
  responses: {
    200: jsonResponse(
      envelope(MergeResultSchema, "MergeResultResponse"),
      "The user's cart after the merge",
      replayedHeader,
    ),
    ...errorResponses(...SIGNED_IN, ...WRITE, 400, 409, 415),
  },
});

import type { AppRouteHandler as Handler } from "../openapi.ts";
import type * as routes from "./cart.routes.ts";

export const getCart: Handler<typeof routes.getCart> = async (c) => {
  const cart = await c.var.services.cart.get(c.var.caller);
  return c.json({ success: true as const, message: "Cart retrieved", data: cart }, 200);
};

export const addItem: Handler<typeof routes.addItem> = async (c) => {
  const { productId, quantity } = c.req.valid("json");
  const key = c.req.valid("header")["idempotency-key"];
  const { item, created, replayed } = await c.var.services.cart.addItem(
    c.var.caller,
    productId,
    quantity,
    key,
  );
  if (replayed) c.header("Idempotent-Replayed", "true");
  return created
    ? c.json({ success: true as const, message: "Item added to cart", data: item }, 201)
    : c.json({ success: true as const, message: "Cart item quantity increased", data: item }, 200);
};

export const updateItem: Handler<typeof routes.updateItem> = async (c) => {
  const { item_id } = c.req.valid("param");
  const { quantity } = c.req.valid("json");
  const item = await c.var.services.cart.setQuantity(c.var.caller, item_id, quantity);
  return c.json({ success: true as const, message: "Cart item updated", data: item }, 200);
};

export const removeItem: Handler<typeof routes.removeItem> = async (c) => {
  const { item_id } = c.req.valid("param");
  const cart = await c.var.services.cart.removeItem(c.var.caller, item_id);
  return c.json({ success: true as const, message: "Item removed from cart", data: cart }, 200);
};

export const clearCart: Handler<typeof routes.clearCart> = async (c) => {
  const cart = await c.var.services.cart.clear(c.var.caller);
  return c.json({ success: true as const, message: "Cart cleared", data: cart }, 200);
};

export const mergeCart: Handler<typeof routes.mergeCart> = async (c) => {
  const { guestToken, mode } = c.req.valid("json");
  const key = c.req.valid("header")["idempotency-key"];
  const { replayed, ...merged } = await c.var.services.cart.merge(c.var.user.id, guestToken, mode, key);
  if (replayed) c.header("Idempotent-Replayed", "true");
  return c.json({ success: true as const, message: "Guest cart merged", data: merged }, 200);
};

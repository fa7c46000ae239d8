import { z } from "@hono/zod-openapi";
import { Currency, int32, MinorUnits, Timestamp, UserId } from "./common.ts";
import { ProductId } from "./product.ts";

export const MAX_LINE_QUANTITY = 99;
export const MAX_CART_LINES = 50;

const Quantity = z
  .number({ error: "must be an integer" })
  .int("must be an integer")
  .min(1, "must be at least 1")
  .max(MAX_LINE_QUANTITY, `must be at most ${MAX_LINE_QUANTITY}`)
  .openapi({ example: 1, format: "int32" });

// Unknown fields (a client's price, name or userId) are stripped, never applied.
export const AddItemBodySchema = z
  .object({ productId: ProductId.openapi({ example: "507f1f77bcf86cd799439012" }), quantity: Quantity })
  .openapi("AddCartItem");

export const UpdateItemBodySchema = z.object({ quantity: Quantity }).openapi("UpdateCartItem");

export const ItemIdParamSchema = z.object({
  item_id: z
    .uuid("must be a cart item id")
    .max(36)
    .openapi({ param: { name: "item_id", in: "path" }, example: "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b" }),
});

export const CartItemSchema = z
  .object({
    id: z.string(),
    productId: z.string(),
    productName: z.string(),
    price: MinorUnits,
    currency: Currency,
    quantity: int32(1, MAX_LINE_QUANTITY),
    totalPrice: MinorUnits,
    image: z.string().nullable(),
  })
  .openapi("CartItem");

export const CartSchema = z
  .object({
    id: z.string(),
    userId: UserId,
    items: z.array(CartItemSchema).max(MAX_CART_LINES),
    totalItems: int32(0, MAX_CART_LINES * MAX_LINE_QUANTITY).openapi({
      description: "Sum of the lines' quantities",
    }),
    totalAmount: MinorUnits,
    currency: Currency,
    updatedAt: Timestamp,
  })
  .openapi("Cart");

export type CartItem = z.infer<typeof CartItemSchema>;
export type Cart = z.infer<typeof CartSchema>;

/** What the worker hands the cart object when adding: the product as the product service just described it. */
export interface ProductSnapshot {
  productId: string;
  name: string;
  price: number;
  currency: string;
  image: string | null;
  stock: number;
}

export type CartRejection =
  | "CART_ITEM_NOT_FOUND"
  | "CART_LIMIT_EXCEEDED"
  | "INSUFFICIENT_STOCK"
  | "CURRENCY_MISMATCH"
  | "EMPTY_CART"
  | "IDEMPOTENCY_KEY_REUSED"
  | "CHECKOUT_IN_PROGRESS";

export type CartResult<T> = { ok: true; value: T } | { ok: false; code: CartRejection; message: string };

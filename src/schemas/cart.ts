import { z } from "@hono/zod-openapi";
import { Currency, GuestId, int32, MinorUnits, Timestamp, UserId } from "./common.ts";
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
    userId: UserId.nullable().openapi({ description: "The owner's user id; null for a guest's cart" }),
    guestId: GuestId.nullable().openapi({ description: "The guest's id; null for a user's cart" }),
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

export const MergeModeSchema = z.enum(["merge", "replace"]).openapi({
  description:
    "merge: the guest's lines join the user's cart, and for a product in both the larger quantity is kept; " +
    "replace: the guest's lines become the user's cart. An empty guest cart changes nothing in either mode.",
});
export type MergeMode = z.infer<typeof MergeModeSchema>;

export const MergeCartBodySchema = z
  .object({
    guestToken: z
      .string()
      .max(4096)
      .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, "must be a JWT")
      .openapi({ description: "The guest token (POST /api/guest) whose cart to take over" }),
    mode: MergeModeSchema.default("merge"),
  })
  .openapi("MergeCart");

export const ADJUSTMENT_REASONS = [
  "OUT_OF_STOCK",
  "INSUFFICIENT_STOCK",
  "UNAVAILABLE",
  "QUANTITY_LIMIT",
  "LINE_LIMIT",
] as const;

export const MergeAdjustmentSchema = z
  .object({
    productId: z.string(),
    requestedQuantity: int32(1, MAX_LINE_QUANTITY).openapi({
      description: "The quantity the merge aimed for (in merge mode, the larger of the two carts')",
    }),
    quantity: int32(0, MAX_LINE_QUANTITY).openapi({
      description: "The quantity the user's cart now holds; 0 when the line was dropped",
    }),
    reason: z.enum(ADJUSTMENT_REASONS).openapi({
      description:
        "OUT_OF_STOCK: none left; INSUFFICIENT_STOCK: fewer left; UNAVAILABLE: unknown, inactive or priced " +
        "in another currency than the cart; QUANTITY_LIMIT: over 99 a line; LINE_LIMIT: the cart has 50 lines",
    }),
  })
  .openapi("MergeAdjustment");
export type MergeAdjustment = z.infer<typeof MergeAdjustmentSchema>;

export const MergeResultSchema = z
  .object({
    cart: CartSchema,
    adjustments: z.array(MergeAdjustmentSchema).max(MAX_CART_LINES),
  })
  .openapi("MergeResult");
export type MergeResult = z.infer<typeof MergeResultSchema>;

/** Whose cart an object holds: a signed-in user's, or a guest's (SPEC §4 Guests). */
export type CartOwner = { userId: number } | { guestId: string };

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
  | "IDEMPOTENCY_KEY_IN_FLIGHT"
  | "CHECKOUT_IN_PROGRESS"
  | "MERGE_IN_PROGRESS";

export type CartResult<T> = { ok: true; value: T } | { ok: false; code: CartRejection; message: string };

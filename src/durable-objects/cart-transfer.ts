import {
  MAX_CART_LINES,
  MAX_LINE_QUANTITY,
  type MergeAdjustment,
  type MergeMode,
  type ProductSnapshot,
} from "../schemas/cart.ts";
import type { ItemRow } from "./cart-storage.ts";

/**
 * A guest cart's lines on their way into a user's cart (POST /api/cart/merge). The guest's object
 * takes its lines out of the cart into a transfer in one transaction (GuestCartObject.beginTransfer),
 * the user's object decides the transfer once, applied or refused, and remembers the decision
 * (CartObject.applyTransfer); the guest's object then drops the transfer (applied) or puts its
 * lines back (refused). Until then the lines are in the transfer, and whoever comes next finishes
 * it with the same decision: the same user's next merge, or the guest object's alarm. So every line
 * is in exactly one of the two carts, or in a transfer that will be finished, never in both.
 */
export interface CartTransfer {
  id: string;
  userId: number;
  mode: MergeMode;
  /** The guest's lines, in cart order. */
  lines: ItemRow[];
  /** Each line's product as the product service answered just before: null when unknown or inactive. */
  products: Record<string, ProductSnapshot | null>;
  createdAt: number;
}

/** What the user's object decided for a transfer. */
export type TransferDecision =
  | { applied: true; adjustments: MergeAdjustment[] }
  | { applied: false; code: "CHECKOUT_IN_PROGRESS" | "IDEMPOTENCY_KEY_REUSED"; message: string };

/**
 * A transfer older than this is presumed abandoned (its request died) and the guest object's
 * alarm finishes it. Far longer than a merge request runs (a product read is capped by
 * UPSTREAM_TIMEOUT_MS, 3 s at most, and the rest are Durable Object calls), though either may
 * finish it first: the decision is the user object's, made once.
 */
export const TRANSFER_GRACE_MS = 60_000;

export interface MergePlan {
  /** Every line of the user's cart goes first (mode replace). */
  replace: boolean;
  /** Lines to write, with their new quantity. */
  writes: { product: ProductSnapshot; quantity: number; existing: ItemRow | undefined }[];
  adjustments: MergeAdjustment[];
}

/**
 * What merging `transfer` into a cart holding `cart` does, under the cart rules (SPEC §4 Guests): a
 * product in both carts keeps the larger quantity (mode merge); every line is checked against its
 * fresh product and the cart's limits, and what cannot be applied in full is cut or dropped, with
 * the reason. A merge never shrinks a line the user already had.
 */
export function planMerge(cart: ItemRow[], transfer: CartTransfer): MergePlan {
  const replace = transfer.mode === "replace";
  const kept = new Map((replace ? [] : cart).map((row) => [row.product_id, row]));
  let lines = kept.size;
  let currency = kept.values().next().value?.currency ?? null;
  const writes: MergePlan["writes"] = [];
  const adjustments: MergeAdjustment[] = [];

  for (const line of transfer.lines) {
    const productId = line.product_id;
    const existing = kept.get(productId);
    const current = existing?.quantity ?? 0;
    const requestedQuantity = Math.max(current, line.quantity);
    const product = transfer.products[productId] ?? null;

    let reason: MergeAdjustment["reason"] | null = null;
    let target = requestedQuantity;
    if (!product || (currency !== null && product.currency !== currency)) {
      reason = "UNAVAILABLE";
      target = 0;
    } else if (!existing && lines >= MAX_CART_LINES) {
      reason = "LINE_LIMIT";
      target = 0;
    } else {
      if (target > MAX_LINE_QUANTITY) {
        reason = "QUANTITY_LIMIT";
        target = MAX_LINE_QUANTITY;
      }
      const inStock = Math.max(product.stock, 0);
      if (target > inStock) {
        reason = inStock === 0 ? "OUT_OF_STOCK" : "INSUFFICIENT_STOCK";
        target = inStock;
      }
    }
    const quantity = Math.max(target, current);
    if (quantity < requestedQuantity && reason) {
      adjustments.push({ productId, requestedQuantity, quantity, reason });
    }
    if (product && quantity > current) {
      writes.push({ product, quantity, existing });
      if (!existing) lines += 1;
      currency ??= product.currency;
    }
  }
  return { replace, writes, adjustments };
}

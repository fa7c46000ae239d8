import type { ProductClient } from "../clients/product.ts";
import type { Database } from "../db/client.ts";
import { claimStockRelease, pendingStockReleases } from "../db/queries.ts";
import { ApiError } from "../lib/errors.ts";
import { describeError, log } from "../lib/log.ts";

export interface StockLine {
  productId: string;
  quantity: number;
}

const COMPENSATION_ATTEMPTS = 3;

/**
 * Reserves every line or none. Lines are reserved in product-id order (the order every checkout
 * uses), and if one fails, every reservation already made is released before the error is thrown.
 * A reservation whose outcome is unknown (the call itself failed) is not released: releasing stock
 * that was never taken would oversell.
 */
export async function reserveAll(products: ProductClient, lines: StockLine[]): Promise<StockLine[]> {
  const ordered = [...lines].sort((a, b) =>
    a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0,
  );
  const reserved: StockLine[] = [];
  try {
    for (const line of ordered) {
      const change = await products.adjustStock(line.productId, -line.quantity).catch((error: unknown) => {
        if (error instanceof ApiError && error.code === "PRODUCT_NOT_FOUND") {
          throw new ApiError("PRODUCT_UNAVAILABLE", `Product ${line.productId} is no longer sold`);
        }
        throw error;
      });
      if (!change.ok) {
        throw new ApiError("INSUFFICIENT_STOCK", `Not enough stock of product ${line.productId}`, [
          { path: `items.${line.productId}`, message: "not enough stock" },
        ]);
      }
      reserved.push(line);
    }
    return reserved;
  } catch (error) {
    await releaseAll(products, reserved);
    throw error;
  }
}

/** Gives reserved stock back, retrying each line a few times; what still fails is logged for operators. */
export async function releaseAll(products: ProductClient, lines: StockLine[]): Promise<void> {
  await Promise.all(
    lines.map(async (line) => {
      for (let attempt = 1; attempt <= COMPENSATION_ATTEMPTS; attempt++) {
        try {
          await products.adjustStock(line.productId, line.quantity);
          return;
        } catch (error) {
          if (attempt === COMPENSATION_ATTEMPTS) {
            log("error", "stock compensation failed", {
              productId: line.productId,
              quantity: line.quantity,
              ...describeError(error),
            });
          }
        }
      }
    }),
  );
}

/**
 * Applies the stock releases that cancellations recorded (in their own transaction) and marks
 * each done. A release is claimed and applied in one transaction: if the product service call
 * fails, the claim rolls back and the next sweep tries again.
 */
export async function applyStockReleases(
  database: Database,
  products: ProductClient,
  options: { orderId?: string; limit?: number } = {},
): Promise<{ released: number; failed: number }> {
  const pending = await pendingStockReleases(database.db, options.limit ?? 100, options.orderId);
  let released = 0;
  let failed = 0;
  for (const release of pending) {
    try {
      await database.db.transaction(async (tx) => {
        if (!(await claimStockRelease(tx, release.orderId, release.productId))) return;
        await products.adjustStock(release.productId, release.quantity);
        released += 1;
      });
    } catch (error) {
      failed += 1;
      log("warn", "stock release deferred", {
        orderId: release.orderId,
        productId: release.productId,
        ...describeError(error),
      });
    }
  }
  return { released, failed };
}

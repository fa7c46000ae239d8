import { outcomeUnknown } from "../clients/http.ts";
import type { ProductClient } from "../clients/product.ts";
import type { Database } from "../db/client.ts";
import {
  claimStockRelease,
  countStockReleasesInDoubt,
  deferStockRelease,
  insertStockReleases,
  markStockReleased,
  pendingStockReleases,
} from "../db/queries.ts";
import { mapConcurrently, type Slots } from "../lib/concurrency.ts";
import { ApiError } from "../lib/errors.ts";
import { describeError, log } from "../lib/log.ts";

export interface StockLine {
  productId: string;
  quantity: number;
}

const RELEASE_ATTEMPTS = 3;

/**
 * Stock deltas are not idempotent at the product service, so a call that timed out may or may not
 * have been applied. The rule everywhere here: when in doubt, leave stock reserved rather than
 * risk releasing it twice (a leak is recoverable by hand; an oversell is a broken promise).
 */

/**
 * Stock calls (reservations or releases) a checkout makes at the same time. Each is an atomic change
 * of its own at the product service (no lock is held between calls), so they need no order among
 * them; the cap stays under workerd's six connections per request, so that no call waits for a
 * connection while its timeout runs (a call that timed out counts as possibly applied, and is never
 * released). The price of reserving at once rather than in product-id order: two carts competing for
 * the last units of the same two products can each get one and both be refused (each then releases
 * what it got), where in order one of them would have won; a retry then succeeds.
 */
const STOCK_CALL_CONCURRENCY = 4;

/**
 * Reserves every line or none, a few at a time, in product-id order. Once one fails, no further line
 * is started, every reservation that was made is released, and the failure is thrown. A reservation
 * whose outcome is unknown is not released (see above), only logged. Releases that cannot be made are recorded as
 * owed under `orderId`, for the sweep to retry.
 */
export async function reserveAll(
  products: ProductClient,
  lines: StockLine[],
  owed: OwedStock,
): Promise<StockLine[]> {
  const ordered = [...lines].sort((a, b) =>
    a.productId < b.productId ? -1 : a.productId > b.productId ? 1 : 0,
  );
  const reserved: StockLine[] = [];
  let failed: { error: unknown } | undefined;
  await mapConcurrently(ordered, STOCK_CALL_CONCURRENCY, async (line) => {
    if (failed) return;
    try {
      await reserve(products, line, owed.orderId);
      reserved.push(line);
    } catch (error) {
      failed ??= { error };
    }
  });
  if (!failed) return reserved;
  await releaseAll(products, reserved, owed);
  throw failed.error;
}

/**
 * Reserves each line through `slots`, alongside whatever else the request has asked through them
 * (`alongside`, e.g. the products' reads), and waits for all of it: answers `alongside`'s value and
 * the lines reserved, or, when anything failed, releases every reservation that was made (see
 * releaseAll) and throws the first failure, `alongside`'s before the reservations'. Unlike
 * reserveAll, nothing waits for anything else to start: a refusal costs the other reservations a
 * release each.
 */
export async function reserveAlongside<T>(
  products: ProductClient,
  lines: StockLine[],
  owed: OwedStock,
  slots: Slots,
  alongside: Promise<T>,
): Promise<{ value: T; reserved: StockLine[] }> {
  const reserving = lines.map((line) => slots.run(() => reserve(products, line, owed.orderId)));
  const [value, ...reservations] = await Promise.allSettled([alongside, ...reserving]);
  const reserved = lines.filter((_, index) => reservations[index]?.status === "fulfilled");
  const failed = [value, ...reservations].find((settled) => settled.status === "rejected");
  if (!failed && value.status === "fulfilled") return { value: value.value, reserved };
  await releaseAll(products, reserved, owed);
  throw failed?.reason;
}

async function reserve(products: ProductClient, line: StockLine, orderId: string): Promise<void> {
  const change = await products.adjustStock(line.productId, -line.quantity).catch((error: unknown) => {
    if (error instanceof ApiError && error.code === "PRODUCT_NOT_FOUND") {
      throw new ApiError("PRODUCT_UNAVAILABLE", `Product ${line.productId} is no longer sold`);
    }
    // It may have been applied (a timeout, a dropped connection): not released, so it is logged
    // with what it may hold, for an operator to settle as for a release whose outcome is unknown.
    if (outcomeUnknown(error)) {
      log("error", "stock reservation outcome unknown", {
        productId: line.productId,
        quantity: line.quantity,
        orderId,
        ...describeError(error),
      });
    }
    throw error;
  });
  if (!change.ok) {
    throw new ApiError("INSUFFICIENT_STOCK", `Not enough stock of product ${line.productId}`, [
      { path: `items.${line.productId}`, message: "not enough stock" },
    ]);
  }
}

/** Where releases that failed are recorded for the sweep: the database, under an order id. */
export interface OwedStock {
  database: Database;
  orderId: string;
}

/**
 * Gives reserved stock back. A refused or unanswered call is retried a few times, then recorded
 * as owed (stock_releases) for the sweep; a call that timed out is not repeated (see above).
 */
export async function releaseAll(
  products: ProductClient,
  lines: StockLine[],
  owed: OwedStock,
): Promise<void> {
  const unreleased: StockLine[] = [];
  // Capped like the reservations: a release that waited for a connection while its timeout ran would
  // count as possibly applied, and be left unreleased.
  await mapConcurrently(lines, STOCK_CALL_CONCURRENCY, async (line) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await products.adjustStock(line.productId, line.quantity);
        return;
      } catch (error) {
        if (outcomeUnknown(error)) {
          log("error", "stock release outcome unknown", {
            ...line,
            orderId: owed.orderId,
            ...describeError(error),
          });
          return;
        }
        if (attempt === RELEASE_ATTEMPTS) {
          unreleased.push(line);
          return;
        }
      }
    }
  });
  if (unreleased.length === 0) return;
  try {
    await owed.database.once((db) => insertStockReleases(db, owed.orderId, unreleased));
    log("warn", "stock release deferred to the sweep", { orderId: owed.orderId, lines: unreleased });
  } catch (error) {
    log("error", "stock release lost", { orderId: owed.orderId, lines: unreleased, ...describeError(error) });
  }
}

/** A claimed release still unconfirmed after this is in doubt: no release call runs this long. */
const RELEASE_IN_DOUBT_MS = 10 * 60_000;

/**
 * Applies the stock releases recorded as owed. Each is claimed (committed) before the call and
 * marked released once the product service confirms, so it is applied at most once: a refusal
 * un-claims it for a later sweep, with backoff; an unknown outcome, a product that no longer
 * exists, or a worker that died mid-call leaves it claimed and unconfirmed (in doubt), logged and
 * counted for operators instead of looking done.
 */
export async function applyStockReleases(
  database: Database,
  products: ProductClient,
  options: { orderId?: string; limit?: number } = {},
): Promise<{ released: number; failed: number }> {
  const pending = await database.once((db) =>
    pendingStockReleases(db, options.limit ?? 100, options.orderId),
  );
  let released = 0;
  let failed = 0;
  for (const release of pending) {
    const { orderId, productId, quantity } = release;
    if (!(await database.once((db) => claimStockRelease(db, orderId, productId)))) continue;
    try {
      await products.adjustStock(productId, quantity);
      released += 1;
      await database
        .once((db) => markStockReleased(db, orderId, productId))
        .catch((markError: unknown) =>
          log("error", "stock released but not recorded; it stays in doubt", {
            orderId,
            productId,
            quantity,
            ...describeError(markError),
          }),
        );
    } catch (error) {
      if (outcomeUnknown(error) || (error instanceof ApiError && error.code === "PRODUCT_NOT_FOUND")) {
        log("error", "stock release not confirmed", {
          orderId,
          productId,
          quantity,
          ...describeError(error),
        });
        continue;
      }
      failed += 1;
      log("warn", "stock release deferred", {
        orderId,
        productId,
        attempts: release.attempts + 1,
        ...describeError(error),
      });
      await database
        .once((db) => deferStockRelease(db, orderId, productId))
        .catch((deferError: unknown) =>
          log("error", "stock release lost", { orderId, productId, quantity, ...describeError(deferError) }),
        );
    }
  }
  return { released, failed };
}

/** How many owed releases are in doubt (claimed long ago, never confirmed); the sweep reports them. */
export async function stockReleasesInDoubt(database: Database, now = Date.now()): Promise<number> {
  return database.once((db) => countStockReleasesInDoubt(db, new Date(now - RELEASE_IN_DOUBT_MS)));
}

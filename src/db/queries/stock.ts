import { and, asc, eq, isNull, lt, lte, type SQL, sql } from "drizzle-orm";
import type { HttpDb, Queryable } from "../client.ts";
import { stockReleases } from "../schema.ts";

/** Stock owed back to the product service. */

export async function insertStockReleases(
  db: Queryable,
  orderId: string,
  items: { productId: string; quantity: number }[],
) {
  if (items.length === 0) return;
  await db
    .insert(stockReleases)
    .values(items.map((item) => ({ orderId, productId: item.productId, quantity: item.quantity })))
    .onConflictDoNothing();
}

/** Owed releases due for an attempt, longest waiting first. */
export async function pendingStockReleases(db: Queryable, limit: number, orderId?: string) {
  const conditions: SQL[] = [
    isNull(stockReleases.releasedAt),
    isNull(stockReleases.claimedAt),
    lte(stockReleases.nextAttemptAt, sql`now()`),
  ];
  if (orderId) conditions.push(eq(stockReleases.orderId, orderId));
  return db
    .select()
    .from(stockReleases)
    .where(and(...conditions))
    .orderBy(asc(stockReleases.nextAttemptAt), asc(stockReleases.productId))
    .limit(limit);
}

const releaseOf = (orderId: string, productId: string) =>
  and(eq(stockReleases.orderId, orderId), eq(stockReleases.productId, productId));

/**
 * Claims a release before it is attempted (committed on its own), so that it can never be applied
 * twice; answers false when another worker claimed it first.
 */
export async function claimStockRelease(db: HttpDb, orderId: string, productId: string): Promise<boolean> {
  const rows = await db
    .update(stockReleases)
    .set({ claimedAt: sql`now()` })
    .where(
      and(releaseOf(orderId, productId), isNull(stockReleases.releasedAt), isNull(stockReleases.claimedAt)),
    )
    .returning({ productId: stockReleases.productId });
  return rows.length > 0;
}

/** Records that the product service confirmed a claimed release. */
export async function markStockReleased(db: Queryable, orderId: string, productId: string): Promise<void> {
  await db.update(stockReleases).set({ releasedAt: sql`now()` }).where(releaseOf(orderId, productId));
}

/**
 * Releases claimed before `claimedBefore` and never confirmed: their worker died between claim and
 * call, or the call's outcome is unknown. Operators settle them by hand (docs/operations.md, "Stock in doubt").
 */
export async function countStockReleasesInDoubt(db: Queryable, claimedBefore: Date): Promise<number> {
  const [row] = await db
    .select({ count: sql<number>`count(*)::int` })
    .from(stockReleases)
    .where(and(isNull(stockReleases.releasedAt), lt(stockReleases.claimedAt, claimedBefore)));
  return row?.count ?? 0;
}

/** Un-claims a release the product service refused, to be tried again after a growing delay (max 1 h). */
export async function deferStockRelease(db: Queryable, orderId: string, productId: string): Promise<void> {
  await db
    .update(stockReleases)
    .set({
      claimedAt: null,
      attempts: sql`${stockReleases.attempts} + 1`,
      nextAttemptAt: sql`now() + least(interval '1 hour', interval '30 seconds' * power(2, least(${stockReleases.attempts}, 7)))`,
    })
    .where(releaseOf(orderId, productId));
}

import { and, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { Executor, Tx } from "../client.ts";
import { idempotencyKeys } from "../schema.ts";

/** Idempotency keys. */

export type IdempotencyRow = typeof idempotencyKeys.$inferSelect;

export interface IdempotencyClaim {
  userId: number;
  key: string;
  scope: string;
  requestHash: string;
  claimToken: string;
  lockSeconds: number;
  ttlSeconds: number;
}

/**
 * Claims a key: inserts it, or takes over one that expired or whose holder died mid-request
 * (lock lapsed, no response). Answers the row when this request now owns the key, else undefined.
 */
export async function claimIdempotencyKey(
  db: Executor,
  claim: IdempotencyClaim,
): Promise<IdempotencyRow | undefined> {
  const lockedUntil = sql`now() + make_interval(secs => ${claim.lockSeconds})`;
  const expiresAt = sql`now() + make_interval(secs => ${claim.ttlSeconds})`;
  const [row] = await db
    .insert(idempotencyKeys)
    .values({
      userId: claim.userId,
      key: claim.key,
      scope: claim.scope,
      requestHash: claim.requestHash,
      claimToken: claim.claimToken,
      lockedUntil,
      expiresAt,
    })
    .onConflictDoUpdate({
      target: [idempotencyKeys.userId, idempotencyKeys.key],
      set: {
        scope: claim.scope,
        requestHash: claim.requestHash,
        claimToken: claim.claimToken,
        lockedUntil,
        expiresAt,
        responseStatus: null,
        responseBody: null,
        createdAt: sql`now()`,
      },
      setWhere: or(
        lt(idempotencyKeys.expiresAt, sql`now()`),
        and(
          isNull(idempotencyKeys.responseStatus),
          lt(idempotencyKeys.lockedUntil, sql`now()`),
          eq(idempotencyKeys.requestHash, claim.requestHash),
        ),
      ),
    })
    .returning();
  return row;
}

export async function findIdempotencyKey(
  db: Executor,
  userId: number,
  key: string,
): Promise<IdempotencyRow | undefined> {
  const [row] = await db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.userId, userId), eq(idempotencyKeys.key, key)));
  return row;
}

/**
 * Stores the response of the request holding the key; answers false when the key was taken over
 * meanwhile (its lock lapsed), in which case the caller must roll its change back.
 */
export async function completeIdempotencyKey(
  tx: Tx,
  claim: { userId: number; key: string; claimToken: string },
  status: number,
  body: unknown,
): Promise<boolean> {
  const rows = await tx
    .update(idempotencyKeys)
    .set({ responseStatus: status, responseBody: body, lockedUntil: null })
    .where(
      and(
        eq(idempotencyKeys.userId, claim.userId),
        eq(idempotencyKeys.key, claim.key),
        eq(idempotencyKeys.claimToken, claim.claimToken),
        isNull(idempotencyKeys.responseStatus),
      ),
    )
    .returning({ key: idempotencyKeys.key });
  return rows.length > 0;
}

/** Frees a key whose request failed, so the client may retry with it (unless another request took it over). */
export async function releaseIdempotencyKey(db: Executor, userId: number, key: string, claimToken: string) {
  await db
    .delete(idempotencyKeys)
    .where(
      and(
        eq(idempotencyKeys.userId, userId),
        eq(idempotencyKeys.key, key),
        isNull(idempotencyKeys.responseStatus),
        eq(idempotencyKeys.claimToken, claimToken),
      ),
    );
}

export async function deleteExpiredIdempotencyKeys(db: Executor): Promise<void> {
  await db.delete(idempotencyKeys).where(lt(idempotencyKeys.expiresAt, sql`now()`));
}

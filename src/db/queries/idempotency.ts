import { and, eq, isNull, lt, or, sql } from "drizzle-orm";
import type { HttpDb, Queryable } from "../client.ts";
import { idempotencyKeys } from "../schema.ts";
import { stampedJson } from "./clock.ts";
import { refuseWhen } from "./refusals.ts";

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
  db: Queryable,
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
  db: Queryable,
  userId: number,
  key: string,
): Promise<IdempotencyRow | undefined> {
  const [row] = await db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.userId, userId), eq(idempotencyKeys.key, key)));
  return row;
}

export interface KeyHolder {
  userId: number;
  key: string;
  claimToken: string;
}

/** What storing a response writes, and the row it may change: none once the key was taken over (its lock lapsed). */
const completion = (holder: KeyHolder, status: number, body: unknown, stamped: readonly string[] = []) => ({
  set: {
    responseStatus: status,
    responseBody: stamped.length > 0 ? stampedJson(body, stamped) : body,
    lockedUntil: null,
  },
  where: and(
    eq(idempotencyKeys.userId, holder.userId),
    eq(idempotencyKeys.key, holder.key),
    eq(idempotencyKeys.claimToken, holder.claimToken),
    isNull(idempotencyKeys.responseStatus),
  ),
});

/**
 * Stores the response of the request holding the key, as one statement of the batch that makes the
 * change it describes; it aborts the batch (IDEMPOTENCY_KEY_IN_FLIGHT) if the key was taken over
 * meanwhile (its lock lapsed), so the change rolls back.
 */
export function completeIdempotencyKeyInBatch(
  db: HttpDb,
  holder: KeyHolder,
  status: number,
  body: unknown,
  stamped: readonly string[] = [],
) {
  const { set, where } = completion(holder, status, body, stamped);
  // Embedded in SQL, drizzle puts the update in parentheses itself.
  const completed = db.update(idempotencyKeys).set(set).where(where).returning({ key: idempotencyKeys.key });
  return db.execute(
    sql`WITH completed AS ${completed} ${refuseWhen({
      when: sql`NOT EXISTS (SELECT 1 FROM completed)`,
      code: "IDEMPOTENCY_KEY_IN_FLIGHT",
      message: "This request took too long; its Idempotency-Key was taken over",
    })}`,
  );
}

/** Frees a key whose request failed, so the client may retry with it (unless another request took it over). */
export async function releaseIdempotencyKey(db: Queryable, userId: number, key: string, claimToken: string) {
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

export async function deleteExpiredIdempotencyKeys(db: Queryable): Promise<void> {
  await db.delete(idempotencyKeys).where(lt(idempotencyKeys.expiresAt, sql`now()`));
}

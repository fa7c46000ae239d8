import { and, eq, isNull, lt, or, type SQL, sql } from "drizzle-orm";
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

/** A key a request may take: it expired, or its holder died mid-request (lock lapsed, no response). */
const takeable = (requestHash: string) =>
  or(
    lt(idempotencyKeys.expiresAt, sql`now()`),
    and(
      isNull(idempotencyKeys.responseStatus),
      lt(idempotencyKeys.lockedUntil, sql`now()`),
      eq(idempotencyKeys.requestHash, requestHash),
    ),
  );

/** The row a claim writes, inserted or taking a takeable key over; `state` is what it holds so far. */
function claimRow(
  claim: Omit<IdempotencyClaim, "lockSeconds">,
  state: { lockedUntil: SQL | null; responseStatus?: number; responseBody?: unknown },
) {
  const row = {
    scope: claim.scope,
    requestHash: claim.requestHash,
    claimToken: claim.claimToken,
    expiresAt: sql`now() + make_interval(secs => ${claim.ttlSeconds})`,
    ...state,
  };
  return {
    values: { userId: claim.userId, key: claim.key, ...row },
    onConflict: {
      target: [idempotencyKeys.userId, idempotencyKeys.key],
      set: {
        ...row,
        responseStatus: row.responseStatus ?? null,
        responseBody: row.responseBody ?? null,
        createdAt: sql`now()`,
      },
      setWhere: takeable(claim.requestHash),
    },
  };
}

/**
 * Claims a key: inserts it, or takes over one that expired or whose holder died mid-request
 * (lock lapsed, no response). Answers the row when this request now owns the key, else undefined.
 */
export async function claimIdempotencyKey(
  db: Queryable,
  claim: IdempotencyClaim,
): Promise<IdempotencyRow | undefined> {
  const { values, onConflict } = claimRow(claim, {
    lockedUntil: sql`now() + make_interval(secs => ${claim.lockSeconds})`,
  });
  const [row] = await db.insert(idempotencyKeys).values(values).onConflictDoUpdate(onConflict).returning();
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

/**
 * Claims a key and stores its response at once, as one statement of the batch that makes the change
 * the response describes: for a request that did not claim its key before the change. The key is
 * taken as `claimIdempotencyKey` would take it; when it is another request's (answered or in
 * flight), the statement aborts the batch (IDEMPOTENCY_KEY_IN_FLIGHT, with KEY_TAKEN as its
 * message), and the key's own answer is for the caller to look up.
 */
export function claimCompletedIdempotencyKeyInBatch(
  db: HttpDb,
  claim: Omit<IdempotencyClaim, "lockSeconds">,
  status: number,
  body: unknown,
  stamped: readonly string[] = [],
) {
  const { values, onConflict } = claimRow(claim, {
    lockedUntil: null,
    responseStatus: status,
    responseBody: stamped.length > 0 ? stampedJson(body, stamped) : body,
  });
  const claimed = db
    .insert(idempotencyKeys)
    .values(values)
    .onConflictDoUpdate(onConflict)
    .returning({ key: idempotencyKeys.key });
  return db.execute(
    sql`WITH claimed AS ${claimed} ${refuseWhen({
      when: sql`NOT EXISTS (SELECT 1 FROM claimed)`,
      code: "IDEMPOTENCY_KEY_IN_FLIGHT",
      message: KEY_TAKEN,
    })}`,
  );
}

/** The message of the refusal `claimCompletedIdempotencyKeyInBatch` raises. */
export const KEY_TAKEN = "This Idempotency-Key is another request's";

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

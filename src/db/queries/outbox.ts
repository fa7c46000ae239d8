import { and, desc, eq, inArray, isNotNull, isNull, lt, or, type SQL, sql } from "drizzle-orm";
import type { HttpDb, Queryable, Tx } from "../client.ts";
import { deadLetters, outbox } from "../schema.ts";

/** The outbox (order events waiting to be relayed to the queue) and the dead letters. */

export type OutboxRow = typeof outbox.$inferSelect;
export type NewOutbox = typeof outbox.$inferInsert;
export type DeadLetterRow = typeof deadLetters.$inferSelect;
export type NewDeadLetter = typeof deadLetters.$inferInsert;

/** Inserts an event of a change, stamped `at` (the change's stamp, see updateOrder in orders.ts). */
export async function insertOutbox(tx: Tx, event: NewOutbox, at: SQL): Promise<OutboxRow> {
  const [row] = await tx
    .insert(outbox)
    .values({ ...event, createdAt: at })
    .returning();
  return row as OutboxRow;
}

/**
 * Locks up to `limit` events nobody relayed since `olderThan`, oldest first, skipping rows another
 * transaction holds: two sweeps relaying at once never claim the same event.
 */
export async function claimUnpublished(tx: Tx, olderThan: Date, limit: number): Promise<OutboxRow[]> {
  return tx
    .select()
    .from(outbox)
    .where(and(isNull(outbox.publishedAt), lt(outbox.createdAt, olderThan)))
    .orderBy(outbox.createdAt)
    .limit(limit)
    .for("update", { skipLocked: true });
}

export async function markPublished(db: Queryable, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db
    .update(outbox)
    .set({ publishedAt: sql`now()` })
    .where(and(inArray(outbox.id, ids), isNull(outbox.publishedAt)));
}

/** Deletes up to `limit` events relayed before `before`; answers how many went. */
export async function prunePublished(db: HttpDb, before: Date, limit: number): Promise<number> {
  const doomed = db
    .select({ id: outbox.id })
    .from(outbox)
    .where(and(isNotNull(outbox.publishedAt), lt(outbox.publishedAt, before)))
    .limit(limit);
  const deleted = await db.delete(outbox).where(inArray(outbox.id, doomed)).returning({ id: outbox.id });
  return deleted.length;
}

/** How many events wait to be relayed, and how long the oldest has waited. */
export async function outboxBacklog(
  db: Queryable,
): Promise<{ unsent: number; oldestAgeSeconds: number | null }> {
  const [row] = await db
    .select({
      unsent: sql<number>`count(*)::int`,
      oldestAgeSeconds: sql<number | null>`floor(extract(epoch from now() - min(${outbox.createdAt})))::int`,
    })
    .from(outbox)
    .where(isNull(outbox.publishedAt));
  return { unsent: row?.unsent ?? 0, oldestAgeSeconds: row?.oldestAgeSeconds ?? null };
}

/** Records dead letters; one that dies again (after a replay) is updated, not duplicated. */
export async function upsertDeadLetters(db: Queryable, letters: NewDeadLetter[]): Promise<void> {
  if (letters.length === 0) return;
  await db
    .insert(deadLetters)
    .values(letters)
    .onConflictDoUpdate({
      target: deadLetters.id,
      set: {
        body: sql`excluded.body`,
        attempts: sql`excluded.attempts`,
        lastError: sql`excluded.last_error`,
        failedAt: sql`excluded.failed_at`,
        replayedAt: null,
      },
    });
}

export interface DeadLetterPageQuery {
  limit: number;
  /** Only those not replayed since they last failed. */
  pendingOnly: boolean;
  after?: { failedAt: Date; id: string };
}

/** Dead letters, most recent failure first, by keyset on (failed_at, id). */
export async function listDeadLetters(db: Queryable, query: DeadLetterPageQuery): Promise<DeadLetterRow[]> {
  const conditions: SQL[] = [];
  if (query.pendingOnly) conditions.push(isNull(deadLetters.replayedAt));
  if (query.after) {
    const { failedAt, id } = query.after;
    conditions.push(
      or(
        lt(deadLetters.failedAt, failedAt),
        and(eq(deadLetters.failedAt, failedAt), lt(deadLetters.id, id)),
      ) as SQL,
    );
  }
  return db
    .select()
    .from(deadLetters)
    .where(and(...conditions))
    .orderBy(desc(deadLetters.failedAt), desc(deadLetters.id))
    .limit(query.limit);
}

export async function findDeadLetter(db: Queryable, id: string): Promise<DeadLetterRow | undefined> {
  const [row] = await db.select().from(deadLetters).where(eq(deadLetters.id, id));
  return row;
}

/**
 * Marks a dead letter replayed, unless it failed again since `failedAt` (its replay already came
 * back here): then it stays pending.
 */
export async function markReplayed(
  db: Queryable,
  id: string,
  failedAt: Date,
): Promise<DeadLetterRow | undefined> {
  const [row] = await db
    .update(deadLetters)
    .set({ replayedAt: sql`now()`, replays: sql`${deadLetters.replays} + 1` })
    // Compared at the millisecond precision `failedAt` was read with (Postgres keeps microseconds).
    .where(
      and(eq(deadLetters.id, id), sql`date_trunc('milliseconds', ${deadLetters.failedAt}) = ${failedAt}`),
    )
    .returning();
  return row;
}

import type { Database } from "../db/client.ts";
import { type DeadLetterRow, findDeadLetter, listDeadLetters, markReplayed } from "../db/queries.ts";
import { decodeCursor, encodeCursor } from "../lib/cursor.ts";
import { ApiError } from "../lib/errors.ts";
import { describeError, log } from "../lib/log.ts";
import { OrderEventSchema } from "../queues/messages.ts";
import type { DeadLetter } from "../schemas/dead-letter.ts";

function toView(row: DeadLetterRow): DeadLetter {
  return {
    id: row.id,
    type: row.eventType,
    orderId: row.orderId,
    userId: row.userId,
    attempts: row.attempts,
    lastError: row.lastError,
    failedAt: row.failedAt.toISOString(),
    replayedAt: row.replayedAt?.toISOString() ?? null,
    replays: row.replays,
    body: row.body,
  };
}

/** Dead letters, the most recent failure first. */
export async function listDeadLetterPage(
  database: Database,
  query: { limit: number; cursor?: string; pending: boolean },
): Promise<{ deadLetters: DeadLetter[]; nextCursor: string | null }> {
  const cursor = query.cursor ? decodeCursor(query.cursor) : undefined;
  const rows = await database.once((db) =>
    listDeadLetters(db, {
      limit: query.limit + 1,
      pendingOnly: query.pending,
      after: cursor && { failedAt: cursor.at, id: cursor.id },
    }),
  );
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    deadLetters: page.map(toView),
    nextCursor: rows.length > query.limit && last ? encodeCursor(last.failedAt, last.id) : null,
  };
}

/**
 * Puts a dead letter's event back on the notifications queue, with its own id, so the receiver
 * still drops it if an earlier attempt did get through. If it fails again, it comes back here.
 */
export async function replayDeadLetter(env: Env, database: Database, id: string): Promise<DeadLetter> {
  const row = await database.once((db) => findDeadLetter(db, id));
  if (!row) throw new ApiError("DEAD_LETTER_NOT_FOUND", "No such dead letter");
  const event = OrderEventSchema.safeParse(row.body);
  if (!event.success) {
    throw new ApiError(
      "DEAD_LETTER_NOT_REPLAYABLE",
      "This dead letter is not an order event and cannot be sent",
    );
  }
  try {
    await env.NOTIFICATIONS.send(event.data, { contentType: "json" });
  } catch (error) {
    log("error", "could not replay a dead letter", { id, ...describeError(error) });
    throw new ApiError(
      "UPSTREAM_UNAVAILABLE",
      "The notifications queue is unavailable, please retry shortly",
    );
  }
  const replayed =
    (await database.once((db) => markReplayed(db, id, row.failedAt))) ??
    // It failed again before we could mark it: it is back in the list, as it should be.
    (await database.once((db) => findDeadLetter(db, id))) ??
    row;
  log("info", "dead letter replayed", { id, type: row.eventType, orderId: row.orderId });
  return toView(replayed);
}

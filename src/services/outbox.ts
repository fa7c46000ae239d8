import type { Database } from "../db/client.ts";
import { claimUnpublished, markPublished, prunePublished } from "../db/queries.ts";
import { describeError, log } from "../lib/log.ts";
import { type OrderEvent, toOrderEvent } from "../queues/messages.ts";
import { enqueue, SEND_BATCH } from "../queues/producer.ts";
import { pushLive } from "./live.ts";

/**
 * The sweep relays only events older than this: younger ones are still being published by the
 * request (or alarm) that committed them, and relaying those too would only send duplicates.
 */
export const RELAY_GRACE_MS = 10_000;
/** At most this many batches per sweep, so one run stays well inside its invocation's time. */
const RELAY_ROUNDS = 20;
/** Relayed events are kept this long (for inspection), then pruned by the sweep. */
export const OUTBOX_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * Publishes events whose change has committed: onto the notifications queue, then marks them
 * published and pushes them to their owners' open WebSockets. Never throws: an event that could not
 * be queued stays unpublished in the outbox and the sweep relays it (and pushes it live) later.
 */
export async function publishEvents(env: Env, database: Database, events: OrderEvent[]): Promise<void> {
  if (events.length === 0) return;
  try {
    await enqueue(env, events);
  } catch (error) {
    log("warn", "events left in the outbox for the sweep", {
      events: events.length,
      ...describeError(error),
    });
    return;
  }
  const ids = events.map((event) => event.id);
  await Promise.all([
    database
      .once((db) => markPublished(db, ids))
      // Queued already: the sweep will queue them again, and the receiver drops the duplicates by key.
      .catch((error: unknown) =>
        log("warn", "could not mark events published", { ids, ...describeError(error) }),
      ),
    pushLive(env, events),
  ]);
}

/**
 * Publishes the events a request or an alarm committed, in the background of that invocation:
 * `drain()` (awaited in `waitUntil` before the request's database closes) waits for all of it.
 */
export class EventPublisher {
  private readonly pending: Promise<void>[] = [];

  private readonly env: Env;
  private readonly database: Database;

  constructor(env: Env, database: Database) {
    this.env = env;
    this.database = database;
  }

  publish(events: OrderEvent[]): void {
    if (events.length > 0) this.pending.push(publishEvents(this.env, this.database, events));
  }

  async drain(): Promise<void> {
    while (this.pending.length > 0) await Promise.all(this.pending.splice(0));
  }
}

/**
 * The sweep's relay: queues what no request published (it died between commit and enqueue, or the
 * queue was down). Each batch is claimed with FOR UPDATE SKIP LOCKED and marked published in the
 * same transaction, after the send succeeded: concurrent sweeps never send one batch twice, and a
 * failed send leaves the batch for the next run.
 */
export async function relayOutbox(env: Env, database: Database, now = Date.now()): Promise<number> {
  const olderThan = new Date(now - RELAY_GRACE_MS);
  let relayed = 0;
  for (let round = 0; round < RELAY_ROUNDS; round++) {
    // Not re-run after a conflict: the batch has been sent by then, and the next sweep relays it.
    const events = await database.transaction(
      async (tx) => {
        const claimed = (await claimUnpublished(tx, olderThan, SEND_BATCH)).map(toOrderEvent);
        await enqueue(env, claimed);
        await markPublished(
          tx,
          claimed.map((event) => event.id),
        );
        return claimed;
      },
      { retryOnConflict: false },
    );
    relayed += events.length;
    await pushLive(env, events);
    if (events.length < SEND_BATCH) break;
  }
  return relayed;
}

/** Deletes events relayed longer ago than the retention period. */
export async function pruneOutbox(database: Database, now = Date.now()): Promise<number> {
  return database.once((db) => prunePublished(db, new Date(now - OUTBOX_RETENTION_MS), 1000));
}

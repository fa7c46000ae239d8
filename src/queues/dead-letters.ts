import { getConfig } from "../config.ts";
import { Database } from "../db/client.ts";
import { type NewDeadLetter, upsertDeadLetters } from "../db/queries.ts";
import { describeError, log } from "../lib/log.ts";
import { backoffSeconds } from "./backoff.ts";
import { DeadLetterSchema, OrderEventSchema } from "./messages.ts";
import { NOTIFICATION_MAX_RETRIES } from "./notifications.ts";

const MAX_ERROR_LENGTH = 1000;
/**
 * Storing dead letters waits out a database outage: 30 s, 1 min, 2 min … up to an hour apart, so the
 * queue's 100 retries (wrangler.toml) cover about four days.
 */
const STORE_RETRY_BASE_SECONDS = 30;
const STORE_RETRY_MAX_SECONDS = 60 * 60;

/** One dead letter as stored: keyed by its event's id, or by its queue message id when it is no event. */
function toRow(message: Message<unknown>): NewDeadLetter {
  const envelope = DeadLetterSchema.safeParse(message.body);
  // Without the consumer's envelope, the queue forwarded the message itself after its last retry.
  const { messageId, body, attempts, lastError } = envelope.success
    ? envelope.data
    : {
        messageId: message.id,
        body: message.body,
        attempts: NOTIFICATION_MAX_RETRIES + 1,
        lastError: "delivery attempts exhausted",
      };
  const event = OrderEventSchema.safeParse(body);
  return {
    id: event.success ? event.data.id : `message:${messageId}`,
    eventType: event.success ? event.data.type : null,
    orderId: event.success ? event.data.orderId : null,
    userId: event.success ? event.data.userId : null,
    body: body ?? null,
    attempts,
    lastError: lastError.slice(0, MAX_ERROR_LENGTH),
    failedAt: new Date(),
  };
}

/** The dead-letter queue's consumer: keeps each dead letter in Postgres, where operators list and replay them. */
export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  // One event can arrive twice in a batch (at-least-once delivery): one row each, the last kept, as
  // a single upsert cannot touch one row twice.
  const rows = [...new Map(batch.messages.map(toRow).map((row) => [row.id, row])).values()];
  const database = new Database(getConfig(env));
  try {
    await database.once((db) => upsertDeadLetters(db, rows));
    batch.ackAll();
    for (const row of rows) {
      log("error", "notification dead-lettered", {
        id: row.id,
        type: row.eventType,
        orderId: row.orderId,
        attempts: row.attempts,
        lastError: row.lastError,
      });
    }
  } catch (error) {
    for (const message of batch.messages) {
      message.retry({
        delaySeconds: backoffSeconds(message.attempts, STORE_RETRY_BASE_SECONDS, {
          maxSeconds: STORE_RETRY_MAX_SECONDS,
        }),
      });
    }
    log("error", "could not store dead letters; retrying", {
      messages: rows.length,
      ...describeError(error),
    });
  } finally {
    await database.close();
  }
}

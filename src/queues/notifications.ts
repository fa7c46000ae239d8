import { NotificationClient } from "../clients/notification.ts";
import { getConfig } from "../config.ts";
import { mapConcurrently } from "../lib/concurrency.ts";
import { log } from "../lib/log.ts";
import { backoffSeconds } from "./backoff.ts";
import { type DeadLetter, OrderEventSchema } from "./messages.ts";

/**
 * wrangler.toml's `max_retries` for the notifications queue: the queue delivers a message at most
 * this many times plus one. On that last delivery the consumer dead-letters a failure itself, so
 * that the dead letter records the last error (one the queue forwarded on its own would not).
 */
export const NOTIFICATION_MAX_RETRIES = 10;

/**
 * Calls in flight at once. A Worker invocation keeps about six outbound connections open and queues
 * the rest, and a queued call's timeout would run while it waits.
 */
const DELIVERY_CONCURRENCY = 6;

type Verdict = "acked" | "retried" | "deadLettered";

/**
 * The notifications consumer: each event goes to the notification service with its id as the
 * Idempotency-Key. 2xx acks; a timeout, 5xx, 408 or 429 retries with growing delays; any other
 * answer, or a message that is not an event, goes straight to the dead-letter queue.
 */
export async function consumeNotifications(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const started = Date.now();
  const config = getConfig(env);
  const client = new NotificationClient(config.NOTIFICATION_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS);

  const deliver = async (message: Message<unknown>): Promise<Verdict> => {
    const event = OrderEventSchema.safeParse(message.body);
    if (!event.success)
      return deadLetter(env, message, `malformed message: ${event.error.issues[0]?.message}`);
    const delivery = await client.send(event.data);
    if (delivery.ok) {
      message.ack();
      return "acked";
    }
    if (!delivery.retryable || message.attempts > NOTIFICATION_MAX_RETRIES) {
      return deadLetter(env, message, delivery.error);
    }
    message.retry({
      delaySeconds: backoffSeconds(message.attempts, config.NOTIFICATION_RETRY_BASE_SECONDS, {
        atLeastSeconds: delivery.retryAfterSeconds,
      }),
    });
    return "retried";
  };

  const verdicts = await mapConcurrently(batch.messages, DELIVERY_CONCURRENCY, deliver);
  const count = (verdict: Verdict) => verdicts.filter((each) => each === verdict).length;
  log(count("acked") === verdicts.length ? "info" : "warn", "notification batch", {
    queue: batch.queue,
    messages: verdicts.length,
    acked: count("acked"),
    retried: count("retried"),
    deadLettered: count("deadLettered"),
    durationMs: Date.now() - started,
  });
}

async function deadLetter(env: Env, message: Message<unknown>, lastError: string): Promise<Verdict> {
  const letter: DeadLetter = {
    deadLetter: true,
    messageId: message.id,
    body: message.body,
    attempts: message.attempts,
    lastError,
  };
  try {
    await env.DEAD_LETTERS.send(letter, { contentType: "json" });
    message.ack();
    return "deadLettered";
  } catch {
    // Not lost: retried, and forwarded by the queue itself once its retries run out.
    message.retry();
    return "retried";
  }
}

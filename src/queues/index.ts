import { consumeDeadLetters } from "./dead-letters.ts";
import { consumeNotifications } from "./notifications.ts";

/**
 * The worker's queue handler. It consumes two queues (wrangler.toml): the notifications queue and
 * its dead-letter queue, whose name ends in `-dlq` in every environment.
 */
export async function handleQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.queue.endsWith("-dlq")) await consumeDeadLetters(batch, env);
  else await consumeNotifications(batch, env);
}

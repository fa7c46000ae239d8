import type { OrderEvent } from "./messages.ts";

/** Queues accept at most 100 messages in one sendBatch. */
export const SEND_BATCH = 100;

/** Sends events onto the notifications queue, SEND_BATCH messages per call. */
export async function enqueue(env: Env, events: OrderEvent[]): Promise<void> {
  for (let start = 0; start < events.length; start += SEND_BATCH) {
    const chunk = events.slice(start, start + SEND_BATCH);
    await env.NOTIFICATIONS.sendBatch(chunk.map((body) => ({ body, contentType: "json" as const })));
  }
}

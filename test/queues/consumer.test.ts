import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { NOTIFICATION_MAX_RETRIES } from "../../src/queues/notifications.ts";
import { newUserId } from "../helpers/auth.ts";
import {
  deadLetterRow,
  deliveries,
  eventFor,
  failNotifications,
  received,
} from "../helpers/notifications.ts";
import { eventually } from "../helpers/orders.ts";

const QUEUE = "order-notifications";

/**
 * Runs the worker's queue handler on one message, as the queue would deliver it. The plugin's
 * result does not keep a retry's delay, so the message's retry() is watched for it.
 */
async function consume(body: unknown, attempts = 1, id = crypto.randomUUID()) {
  const batch = createMessageBatch(QUEUE, [{ id, timestamp: new Date(), attempts, body }]);
  const retryDelays: (number | undefined)[] = [];
  for (const message of batch.messages) {
    const retry = message.retry.bind(message);
    message.retry = (options) => {
      retryDelays.push(options?.delaySeconds);
      retry(options);
    };
  }
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  return { ...(await getQueueResult(batch, ctx)), retryDelays };
}

/** The dead letter of `id`, once the dead-letter queue's consumer has stored it. */
function storedDeadLetter(id: string) {
  return eventually(
    () => deadLetterRow(id),
    (row) => row !== undefined,
  );
}

describe("notifications consumer", () => {
  it("sends the event in the sibling's contract with its id as Idempotency-Key, then acks", async () => {
    const userId = newUserId();
    const event = eventFor(userId, {
      type: "order_confirmation",
      data: { status: "pending", paymentStatus: "pending" },
    });
    const result = await consume(event);
    expect(result.explicitAcks).toEqual([expect.any(String)]);
    expect(result.retryMessages).toEqual([]);
    expect(await received({ userId })).toEqual([
      {
        key: event.id,
        user_id: userId,
        order_id: event.orderId,
        type: "order_confirmation",
        data: { status: "pending", paymentStatus: "pending" },
        receivedAt: expect.any(String),
      },
    ]);
  });

  it("retries a 5xx with a delay that grows with each attempt", async () => {
    const userId = newUserId();
    const event = eventFor(userId);
    await failNotifications(userId, 3);
    const delays: number[] = [];
    for (const attempts of [1, 2, 3]) {
      const result = await consume(event, attempts);
      expect(result.explicitAcks).toEqual([]);
      expect(result.retryMessages).toHaveLength(1);
      delays.push(result.retryDelays[0] as number);
    }
    // Base 1 s (vitest.config.ts): about 1, 2, 4 s, each from the upper half of its window.
    expect(delays[0]).toBe(1);
    expect(delays[1]).toBeGreaterThanOrEqual(1);
    expect(delays[1]).toBeLessThanOrEqual(2);
    expect(delays[2]).toBeGreaterThanOrEqual(2);
    expect(delays[2]).toBeLessThanOrEqual(4);
    expect((await deliveries(userId)).map((d) => [d.key, d.outcome])).toEqual([
      [event.id, "failed"],
      [event.id, "failed"],
      [event.id, "failed"],
    ]);
    // The fourth attempt gets through.
    expect((await consume(event, 4)).explicitAcks).toHaveLength(1);
  });

  it("retries a 429 no sooner than the service asks, and a timeout like a 5xx", async () => {
    const userId = newUserId();
    await failNotifications(userId, 1, { status: 429 });
    const throttled = await consume(eventFor(userId));
    expect(throttled.retryMessages).toHaveLength(1);
    // The stand-in's Retry-After (7 s) outweighs the first backoff step (1 s).
    expect(throttled.retryDelays).toEqual([7]);

    await failNotifications(userId, 1, { mode: "slow" });
    const started = Date.now();
    const slow = await consume(eventFor(userId));
    expect(slow.retryMessages).toHaveLength(1);
    expect(slow.explicitAcks).toEqual([]);
    // Gave up at UPSTREAM_TIMEOUT_MS (3 s), not after the stand-in's 10 s.
    expect(Date.now() - started).toBeLessThan(9_000);
  });

  it("sends a permanent refusal straight to the dead letters, with its error", async () => {
    const userId = newUserId();
    const event = eventFor(userId);
    await failNotifications(userId, 1, { status: 422 });
    const result = await consume(event);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
    const row = await storedDeadLetter(event.id);
    expect(row).toMatchObject({ id: event.id, event_type: "order_status_update", attempts: 1 });
    expect(row?.last_error).toMatch(/^HTTP 422/);
  });

  it("dead-letters a malformed message without calling the service", async () => {
    const messageId = crypto.randomUUID();
    const result = await consume({ hello: "world" }, 1, messageId);
    expect(result.explicitAcks).toEqual([messageId]);
    const row = await storedDeadLetter(`message:${messageId}`);
    expect(row).toMatchObject({ event_type: null, attempts: 1 });
    expect(row?.last_error).toMatch(/^malformed message/);
  });

  it("dead-letters a failure on the last delivery the queue allows, keeping the last error", async () => {
    const userId = newUserId();
    const event = eventFor(userId);
    await failNotifications(userId, 1);
    const result = await consume(event, NOTIFICATION_MAX_RETRIES + 1);
    expect(result.explicitAcks).toHaveLength(1);
    const row = await storedDeadLetter(event.id);
    expect(row).toMatchObject({ attempts: NOTIFICATION_MAX_RETRIES + 1 });
    expect(row?.last_error).toMatch(/^HTTP 503/);
  });

  it("stores an event dead-lettered twice in one batch once, with the rest of the batch", async () => {
    const userId = newUserId();
    const [twice, once] = [eventFor(userId), eventFor(userId)];
    const letter = (event: unknown, lastError: string) => ({
      id: crypto.randomUUID(),
      timestamp: new Date(),
      attempts: 1,
      body: { deadLetter: true, messageId: crypto.randomUUID(), body: event, attempts: 1, lastError },
    });
    const batch = createMessageBatch("order-notifications-dlq", [
      letter(twice, "HTTP 422: first"),
      letter(once, "HTTP 422"),
      letter(twice, "HTTP 422: second"),
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.ackAll).toBe(true);
    expect(result.retryMessages).toEqual([]);
    expect(await deadLetterRow(twice.id)).toMatchObject({ last_error: "HTTP 422: second" });
    expect(await deadLetterRow(once.id)).toMatchObject({ last_error: "HTTP 422" });
  });
});

import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { newUserId } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { deliveries, orphanedOutboxRow, received, receivedEventually } from "../helpers/notifications.ts";
import { query, runSweep } from "../helpers/orders.ts";

async function published(id: string): Promise<boolean> {
  const [row] = await query<{ published: boolean }>(
    sql`SELECT published_at IS NOT NULL AS published FROM outbox WHERE id = ${id}`,
  );
  return row?.published ?? false;
}

describe("outbox relay (the sweep)", () => {
  it("delivers an event whose request died between commit and enqueue", async () => {
    const userId = newUserId();
    const event = await orphanedOutboxRow(userId);
    await runSweep();
    expect(await published(event.id)).toBe(true);
    const [notification] = await receivedEventually({ userId }, 1);
    expect(notification).toMatchObject({
      key: event.id,
      user_id: userId,
      order_id: event.orderId,
      type: "order_status_update",
      data: { status: "processing", paymentStatus: "paid" },
    });
  });

  it("leaves an event its request is still publishing", async () => {
    const event = await orphanedOutboxRow(newUserId(), 0);
    await runSweep();
    expect(await published(event.id)).toBe(false);
  });

  it("never sends one event twice when two sweeps run at once", async () => {
    const userId = newUserId();
    const events = [];
    for (let i = 0; i < 30; i++) events.push(await orphanedOutboxRow(userId));
    await Promise.all([runSweep(), runSweep()]);

    const notifications = await receivedEventually({ userId }, 30);
    expect(notifications.map((n) => n.key).sort()).toEqual(events.map((e) => e.id).sort());
    // Give a second copy, had one been queued, time to arrive: the queue batches within 1 s.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const calls = await deliveries(userId);
    expect(calls).toHaveLength(30);
    expect(calls.every((call) => call.outcome === "received")).toBe(true);
  });

  it("prunes events relayed more than 7 days ago", async () => {
    const userId = newUserId();
    const old = await orphanedOutboxRow(userId);
    const recent = await orphanedOutboxRow(userId);
    await query(sql`UPDATE outbox SET published_at = now() - interval '8 days' WHERE id = ${old.id}`);
    await query(sql`UPDATE outbox SET published_at = now() - interval '6 days' WHERE id = ${recent.id}`);
    await runSweep();
    const left = await query<{ id: string }>(sql`SELECT id FROM outbox WHERE user_id = ${userId}`);
    expect(left.map((row) => row.id)).toEqual([recent.id]);
    expect(await received({ userId })).toEqual([]);
  });

  it("reports the backlog in readiness", async () => {
    // Younger than the relay's 10 s grace, so no sweep (of this file or another) takes it meanwhile.
    await orphanedOutboxRow(newUserId(), 5_000);
    const ready = await api("GET", "/health/ready");
    expect(ready.status).toBe(200);
    expect(ready.body.outbox.unsent).toBeGreaterThanOrEqual(1);
    expect(ready.body.outbox.oldestUnsentAgeSeconds).toBeGreaterThanOrEqual(5);
  });
});

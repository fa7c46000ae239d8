import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { uuidv7 } from "../../src/lib/ids.ts";
import { eventually, query } from "./orders.ts";

/** What the notification stand-in accepted (one per Idempotency-Key). */
export interface Received {
  key: string;
  user_id: number | string;
  order_id: string;
  type: string;
  data: Record<string, unknown>;
}

/** Every well-formed call the stand-in got, failed and duplicate ones included. */
export interface Delivery {
  key: string;
  order_id: string;
  type: string;
  outcome: "received" | "duplicate" | "failed";
}

async function standIn<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(`${env.NOTIFICATION_SERVICE_URL}${path}`, init);
  if (!response.ok) throw new Error(`notification stand-in answered ${response.status} to ${path}`);
  return response.json() as Promise<T>;
}

export async function received(filter: { userId?: number; orderId?: string }): Promise<Received[]> {
  const params = new URLSearchParams();
  if (filter.userId !== undefined) params.set("user_id", String(filter.userId));
  if (filter.orderId) params.set("order_id", filter.orderId);
  return (await standIn<{ notifications: Received[] }>(`/__admin/notifications?${params}`)).notifications;
}

export async function deliveries(userId: number): Promise<Delivery[]> {
  return (await standIn<{ deliveries: Delivery[] }>(`/__admin/deliveries?user_id=${userId}`)).deliveries;
}

/** Waits until the stand-in has accepted at least `count` notifications matching the filter. */
export async function receivedEventually(
  filter: { userId?: number; orderId?: string },
  count: number,
  timeoutMs = 20_000,
): Promise<Received[]> {
  return eventually(
    () => received(filter),
    (list) => list.length >= count,
    timeoutMs,
  );
}

/** Makes the stand-in fail this user's next `failNext` sends. */
export async function failNotifications(
  userId: number,
  failNext: number,
  options: { status?: number; mode?: "error" | "slow" } = {},
): Promise<void> {
  await standIn("/__admin/faults", {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ userId, failNext, ...options }),
  });
}

/** An order event of a made-up order, as the outbox relays it. */
export function eventFor(userId: number, overrides: Record<string, unknown> = {}) {
  return {
    id: uuidv7(),
    type: "order_status_update",
    userId,
    orderId: uuidv7(),
    data: { status: "processing", paymentStatus: "paid" },
    at: new Date().toISOString(),
    ...overrides,
  };
}

/**
 * An outbox row as a request that died between its commit and its enqueue leaves it: unpublished,
 * written `ageMs` ago.
 */
export async function orphanedOutboxRow(userId: number, ageMs = 60_000) {
  const event = eventFor(userId);
  await query(sql`
    INSERT INTO outbox (id, order_id, user_id, type, payload, created_at)
    VALUES (${event.id}, ${event.orderId}, ${userId}, ${event.type}, ${JSON.stringify(event.data)}::jsonb,
            now() - make_interval(secs => ${ageMs / 1000}))`);
  return event;
}

export async function deadLetterRow(id: string) {
  const [row] = await query<{ id: string; event_type: string | null; attempts: number; last_error: string }>(
    sql`SELECT id, event_type, attempts, last_error FROM dead_letters WHERE id = ${id}`,
  );
  return row;
}

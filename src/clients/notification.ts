import type { OrderEvent } from "../queues/messages.ts";

export type Delivery =
  | { ok: true }
  | { ok: false; retryable: boolean; error: string; retryAfterSeconds?: number };

/** Statuses worth trying again: the service is down, overloaded or slow, not refusing the message. */
const RETRYABLE = (status: number) => status >= 500 || status === 429 || status === 408;

/**
 * The notification service (SPEC §2). Answers a verdict instead of throwing: the consumer decides
 * between ack, retry and dead letter from it.
 */
export class NotificationClient {
  private readonly url: string;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, timeoutMs: number) {
    this.url = `${baseUrl.replace(/\/+$/, "")}/api/notifications/send`;
    this.timeoutMs = timeoutMs;
  }

  /** Sends one event in the sibling's snake_case contract; its id is the Idempotency-Key. */
  async send(event: OrderEvent): Promise<Delivery> {
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": event.id },
        body: JSON.stringify({
          user_id: event.userId,
          order_id: event.orderId,
          type: event.type,
          data: event.data,
        }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const timedOut =
        error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      return {
        ok: false,
        retryable: true,
        error: timedOut ? `timeout after ${this.timeoutMs} ms` : "network error",
      };
    }
    const text = await response.text().catch(() => "");
    if (response.ok) return { ok: true };
    const error = `HTTP ${response.status}${text ? `: ${text.slice(0, 300)}` : ""}`;
    const retryAfter = Number(response.headers.get("retry-after"));
    return {
      ok: false,
      retryable: RETRYABLE(response.status),
      error,
      ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterSeconds: retryAfter } : {}),
    };
  }
}

import type { LiveOrderEvent, Order, OrderClient } from "./client.js";

/** What watchOrders needs of a WebSocket: the standard constructor (browsers, Node 22's global). */
export type WebSocketLike = {
  readonly readyState: number;
  addEventListener(
    type: "open" | "close" | "error" | "message",
    listener: (event: { readonly type: string; readonly data?: unknown }) => void,
  ): void;
  close(code?: number, reason?: string): void;
};
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface WatchOptions {
  /** Each status change of the user's orders: live, or found on re-reading after a reconnect. */
  onEvent: (event: LiveOrderEvent & { missed?: boolean }) => void;
  /** Connection state, for a storefront's indicator. */
  onState?: (state: "connecting" | "open" | "closed") => void;
  /** Stops watching: the socket is closed and nothing is emitted afterwards. */
  signal?: AbortSignal;
  /** The WebSocket constructor (default: the global one). */
  WebSocket?: WebSocketConstructor;
  /** Reconnection backoff: the first wait, doubled each failed try (default 500 ms), up to maxDelayMs (30 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** How many of the newest orders to re-read after a reconnect (default 100; at most 100). */
  resyncLimit?: number;
}

const OPEN_STATUSES = new Set(["pending", "paid", "processing", "shipped"]);
/** A socket closed sooner than this after opening counts as a failed try (backoff, not a tight loop). */
const STABLE_MS = 2000;

type Seen = { status: string; paymentStatus: string };

/**
 * Watches the live status of the signed-in user's orders (GET /api/orders/live), and keeps
 * watching: when the socket drops (a network change, a deploy, the server closing an old socket or
 * one whose token expired), it reconnects with a fresh ticket, with backoff, and then re-reads the
 * user's newest orders, emitting a change for each order whose status or payment status moved
 * while it was away (marked `missed: true`), so no change goes unseen. Resolves when `signal` aborts.
 */
export async function watchOrders(client: OrderClient, options: WatchOptions): Promise<void> {
  const Socket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Socket) throw new Error("No WebSocket here: pass options.WebSocket");
  const { signal } = options;
  const baseDelay = options.baseDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 30_000;
  const seen = new Map<string, Seen>();
  const remember = (orderId: string, state: Seen) => seen.set(orderId, state);

  /** Emits what changed since `seen` among the newest orders, then remembers them. */
  async function resync(emit: boolean): Promise<void> {
    const { orders } = await client.listOrders({ limit: Math.min(options.resyncLimit ?? 100, 100) });
    for (const order of orders as Order[]) {
      const before = seen.get(order.id);
      const changed =
        !before || before.status !== order.status || before.paymentStatus !== order.paymentStatus;
      // An order first seen now was placed while away, or is older than anything watched so far.
      if (emit && changed && (before || OPEN_STATUSES.has(order.status))) {
        options.onEvent({
          type: "order.status",
          orderId: order.id,
          status: order.status,
          paymentStatus: order.paymentStatus,
          at: order.updatedAt,
          missed: true,
        });
      }
      remember(order.id, { status: order.status, paymentStatus: order.paymentStatus });
    }
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      });
    });

  let failures = 0;
  let connectedBefore = false;
  while (!signal?.aborted) {
    options.onState?.("connecting");
    try {
      const { ticket } = await client.liveTicket();
      const url = new URL(`${client.options.baseUrl.replace(/\/+$/, "")}/api/orders/live`);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      url.searchParams.set("ticket", ticket);
      await new Promise<void>((resolve, reject) => {
        const socket = new Socket(url.toString());
        let openedAt = 0;
        const stop = () => socket.close(1000, "stopped");
        signal?.addEventListener("abort", stop, { once: true });
        socket.addEventListener("open", () => {
          openedAt = Date.now();
          options.onState?.("open");
          // The first connection learns the orders as they are; a later one emits what it missed.
          resync(connectedBefore).catch(() => {});
          connectedBefore = true;
        });
        socket.addEventListener("message", ({ data }) => {
          let event: LiveOrderEvent;
          try {
            event = JSON.parse(String(data)) as LiveOrderEvent;
          } catch {
            return;
          }
          if (event.type !== "order.status") return;
          remember(event.orderId, { status: event.status, paymentStatus: event.paymentStatus });
          options.onEvent(event);
        });
        socket.addEventListener("error", () => {});
        socket.addEventListener("close", () => {
          signal?.removeEventListener("abort", stop);
          options.onState?.("closed");
          if (openedAt === 0) reject(new Error("the live socket closed before it opened"));
          else if (Date.now() - openedAt < STABLE_MS) reject(new Error("the live socket closed at once"));
          else {
            failures = 0;
            resolve();
          }
        });
      });
    } catch {
      failures += 1;
    }
    if (signal?.aborted) break;
    // A socket that opened and later closed reconnects at once; failed tries back off.
    if (failures > 0) {
      const delay = Math.min(maxDelay, baseDelay * 2 ** (failures - 1));
      await sleep(Math.round(delay * (0.5 + Math.random() / 2)));
    }
  }
}

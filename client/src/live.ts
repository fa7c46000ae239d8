import type { LiveOrderEvent, Order, OrderClient } from "./client.js";
import { OrderServiceError } from "./errors.js";

/** What watchOrders needs of a WebSocket: the standard constructor (browsers, Node 22's global). */
export type WebSocketLike = {
  readonly readyState: number;
  addEventListener(
    type: "open" | "close" | "error" | "message",
    listener: (event: { readonly type: string; readonly data?: unknown; readonly code?: number }) => void,
  ): void;
  close(code?: number, reason?: string): void;
};
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface WatchOptions {
  /** Each status change of the user's orders: live, or found on re-reading after a reconnect (`missed`). */
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
}

const OPEN_STATUSES = ["pending", "paid", "processing", "shipped"] as const;
/** A socket closed sooner than this after opening counts as a failed try (backoff, not a tight loop). */
const STABLE_MS = 2000;
/** The server's close codes (src/durable-objects/live-channel.ts). */
const SUPERSEDED = 4000;
/** Pages of one open status read on a resync, 100 orders each. */
const MAX_PAGES = 5;

type Known = { status: string; paymentStatus: string; at: number };

/**
 * Watches the live status of the signed-in user's orders (GET /api/orders/live), and keeps
 * watching: when the socket drops (a network change, a deploy, the server closing a socket whose
 * token expired or that reached its maximum age), it reconnects with a fresh ticket, with backoff,
 * then re-reads the user's open orders (and those it knew open) and emits, marked `missed: true`,
 * each status or payment-status change it did not see, so none goes unseen. Each change is
 * reported once: a state older than, or the same as, what was last reported is dropped, whichever
 * way (live or re-read) it arrives. Resolves when `signal` aborts, or when the server closes the
 * socket because the user opened too many elsewhere (it does not fight the newer one); rejects
 * when the token is refused (401, or 403 for a guest), which retrying cannot mend.
 */
export async function watchOrders(client: OrderClient, options: WatchOptions): Promise<void> {
  const Found = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Found) throw new Error("No WebSocket here: pass options.WebSocket");
  const Socket: WebSocketConstructor = Found;
  const { signal } = options;
  const stopped = () => signal?.aborted === true;
  const baseDelay = options.baseDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 30_000;
  const known = new Map<string, Known>();
  /** Whether `known` holds the orders as they were when watching began (the first read succeeded). */
  let baseline = false;

  /** Reports a state of an order unless it is older than, or the same as, the one last reported. */
  function see(event: LiveOrderEvent, emit: boolean, missed: boolean): void {
    const at = Date.parse(event.at) || 0;
    const before = known.get(event.orderId);
    if (before && at < before.at) return;
    known.set(event.orderId, { status: event.status, paymentStatus: event.paymentStatus, at });
    const same = before && before.status === event.status && before.paymentStatus === event.paymentStatus;
    if (emit && !same && !stopped()) options.onEvent(missed ? { ...event, missed: true } : event);
  }

  const asEvent = (order: Order): LiveOrderEvent => ({
    type: "order.status",
    orderId: order.id,
    status: order.status,
    paymentStatus: order.paymentStatus,
    at: order.updatedAt,
  });

  /**
   * Reads the user's open orders, and those it knew open that are not any more, and reports what
   * changed (nothing on the first read, which only learns them).
   */
  async function resync(): Promise<void> {
    const orders: Order[] = [];
    for (const status of OPEN_STATUSES) {
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const found = await client.listOrders({ status, limit: 100, ...(cursor ? { cursor } : {}) });
        orders.push(...found.orders);
        if (!found.nextCursor) break;
        cursor = found.nextCursor;
      }
    }
    const stillOpen = new Set(orders.map((order) => order.id));
    const closedSince = [...known]
      .filter(
        ([id, state]) => (OPEN_STATUSES as readonly string[]).includes(state.status) && !stillOpen.has(id),
      )
      .map(([id]) => id);
    for (const id of closedSince) {
      orders.push(await client.getOrder(id));
    }
    for (const order of orders) see(asEvent(order), baseline, true);
    baseline = true;
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done, { once: true });
    });

  /** One connection: resolves when it closes, with whether it was stable and whether to stop. */
  function connect(url: string): Promise<{ stable: boolean; superseded: boolean }> {
    return new Promise((resolve) => {
      const socket = new Socket(url);
      let openedAt = 0;
      const stop = () => socket.close(1000, "stopped");
      signal?.addEventListener("abort", stop, { once: true });
      socket.addEventListener("open", () => {
        openedAt = Date.now();
        options.onState?.("open");
        // The socket is open first, so nothing changes unseen between the read and the live events;
        // a read that fails closes it, and the reconnect reads again.
        resync().catch(() => socket.close(1000, "resync failed"));
      });
      socket.addEventListener("message", ({ data }) => {
        let event: LiveOrderEvent;
        try {
          event = JSON.parse(String(data)) as LiveOrderEvent;
        } catch {
          return;
        }
        if (event.type === "order.status") see(event, true, false);
      });
      socket.addEventListener("error", () => {});
      socket.addEventListener("close", ({ code }) => {
        signal?.removeEventListener("abort", stop);
        options.onState?.("closed");
        resolve({
          stable: openedAt > 0 && Date.now() - openedAt >= STABLE_MS,
          superseded: code === SUPERSEDED,
        });
      });
    });
  }

  let failures = 0;
  while (!stopped()) {
    options.onState?.("connecting");
    let stable = false;
    try {
      const { ticket } = await client.liveTicket();
      if (stopped()) break;
      const url = new URL(`${client.options.baseUrl.replace(/\/+$/, "")}/api/orders/live`);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      url.searchParams.set("ticket", ticket);
      const closed = await connect(url.toString());
      if (closed.superseded) break;
      stable = closed.stable;
    } catch (error) {
      // A refused token stays refused: retrying cannot help, the caller must sign in again.
      if (error instanceof OrderServiceError && (error.status === 401 || error.status === 403)) throw error;
    }
    if (stopped()) break;
    // A connection that lasted reconnects at once; a failed try, or one closed at once, backs off.
    failures = stable ? 0 : failures + 1;
    if (failures > 0) {
      const delay = Math.min(maxDelay, baseDelay * 2 ** (failures - 1));
      await sleep(Math.round(delay * (0.5 + Math.random() / 2)));
    }
  }
  options.onState?.("closed");
}

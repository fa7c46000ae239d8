import createClient from "openapi-fetch";
import { errorOf, OrderServiceError } from "./errors.js";
import type { components, operations, paths } from "./schema.js";

export type Schemas = components["schemas"];
export type Cart = Schemas["Cart"];
export type CartItem = Schemas["CartItem"];
export type Order = Schemas["Order"];
export type OrderPage = Schemas["OrderPage"];
export type Tracking = Schemas["Tracking"];
export type GuestToken = Schemas["GuestToken"];
export type MergeResult = Schemas["MergeResult"];
export type LiveTicket = Schemas["LiveTicket"];
export type LiveOrderEvent = Schemas["LiveOrderEvent"];
export type AdminOrderSummary = Schemas["AdminOrderSummary"];
export type AdminOrderDetail = Schemas["AdminOrderDetail"];
export type DeadLetter = Schemas["DeadLetter"];
export type DeadLetterPage = Schemas["DeadLetterPage"];

type Body<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody?: { content: { "application/json": infer B } };
}
  ? B
  : never;
type Query<O extends keyof operations> = NonNullable<operations[O]["parameters"]["query"]>;

export type CreateOrderBody = Body<"/api/orders", "post">;
export type UpdateStatusBody = Body<"/api/orders/{order_id}/status", "put">;
export type RetryPaymentBody = Body<"/api/orders/{order_id}/payment", "post">;
export type MergeCartBody = Body<"/api/cart/merge", "post">;
export type ListOrdersQuery = Query<"listOrders">;
export type SearchOrdersQuery = Query<"searchOrders">;
export type SummaryQuery = Query<"summarizeOrders">;
export type DeadLettersQuery = Query<"listDeadLetters">;

export interface RetryOptions {
  /** Tries per call, the first included (default 4). */
  attempts?: number;
  /** The first backoff without a Retry-After, doubled each time, with jitter (default 250 ms). */
  baseDelayMs?: number;
  /** The longest wait between two tries (default 10 s); a longer Retry-After is not waited for. */
  maxDelayMs?: number;
  /** How to wait; replaceable in tests. */
  sleep?: (ms: number) => Promise<void>;
}

export interface OrderClientOptions {
  /** The service's origin (and path prefix, if any), e.g. `https://orders.example.com`. */
  baseUrl: string;
  /** The bearer token to send: the signed-in user's, a guest's, or none (undefined). Asked before every request. */
  getToken: () => string | undefined | Promise<string | undefined>;
  /** A fetch to use instead of the global one. */
  fetch?: (request: Request) => Promise<Response>;
  retry?: RetryOptions;
}

/** Whether a failed call may be sent again as it was. */
type Policy =
  /** GETs: retried on 429, 503 and network failures. */
  | "read"
  /** POSTs with an Idempotency-Key: the same, with the same key; also while the first is in flight. */
  | "keyed"
  /** Everything else: sent once. */
  | "once";

const RETRY_STATUSES = new Set([429, 503]);

type Answer<D> = { data?: D; error?: unknown; response: Response };

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A typed client for every operation of the order service. Each method returns the answer's `data`
 * and throws an OrderServiceError otherwise. Checkout, payment retry and merge send an
 * Idempotency-Key generated once per call and kept across that call's own retries, so a retried
 * request never places a second order; GETs and those keyed POSTs are retried on 429, 503 and
 * network failures, waiting as Retry-After says (else an exponential backoff); nothing else is
 * retried.
 */
export function createOrderClient(options: OrderClientOptions) {
  const api = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  api.use({
    async onRequest({ request, schemaPath }) {
      // A guest token is had without one: no bearer token is sent there.
      if (schemaPath === "/api/guest") return request;
      const token = await options.getToken();
      if (token) request.headers.set("authorization", `Bearer ${token}`);
      return request;
    },
  });

  const retry = {
    attempts: options.retry?.attempts ?? 4,
    baseDelayMs: options.retry?.baseDelayMs ?? 250,
    maxDelayMs: options.retry?.maxDelayMs ?? 10_000,
    sleep: options.retry?.sleep ?? wait,
  };

  function backoff(attempt: number, retryAfter: number | null): number {
    if (retryAfter !== null) return retryAfter * 1000;
    const exponential = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(exponential * (0.5 + Math.random() / 2));
  }

  async function call<D extends { data: unknown }>(
    send: () => Promise<Answer<D>>,
    policy: Policy,
  ): Promise<D["data"]> {
    for (let attempt = 1; ; attempt++) {
      const last = policy === "once" || attempt >= retry.attempts;
      let answer: Answer<D>;
      try {
        answer = await send();
      } catch (cause) {
        if (last) {
          throw new OrderServiceError(
            {
              status: 0,
              code: "NETWORK_ERROR",
              message: `The service could not be reached: ${String(cause)}`,
            },
            { cause },
          );
        }
        await retry.sleep(backoff(attempt, null));
        continue;
      }
      const { response } = answer;
      if (response.ok && answer.data !== undefined) return answer.data.data;
      const failure = errorOf(response, answer.error);
      const retryable =
        RETRY_STATUSES.has(response.status) ||
        // Our own retry of a keyed POST whose first try is still running: it answers once that ends.
        (policy === "keyed" && failure.code === "IDEMPOTENCY_KEY_IN_FLIGHT");
      const delay = backoff(attempt, failure.retryAfter);
      if (last || !retryable || delay > retry.maxDelayMs) throw failure;
      await retry.sleep(delay);
    }
  }

  const keyed = () => ({ "idempotency-key": crypto.randomUUID() });
  const order = (orderId: string) => ({ params: { path: { order_id: orderId } } });

  return {
    /** A new guest and its token, for a cart before sign-in. */
    createGuest: () => call(() => api.POST("/api/guest"), "once"),

    getCart: () => call(() => api.GET("/api/cart"), "read"),
    /** Adds a product (or grows its line); keyed, so a retry never adds twice. */
    addItem: (productId: string, quantity: number) => {
      const headers = keyed();
      return call(() => api.POST("/api/cart/items", { headers, body: { productId, quantity } }), "keyed");
    },
    updateItem: (itemId: string, quantity: number) =>
      call(
        () =>
          api.PUT("/api/cart/items/{item_id}", { params: { path: { item_id: itemId } }, body: { quantity } }),
        "once",
      ),
    removeItem: (itemId: string) =>
      call(() => api.DELETE("/api/cart/items/{item_id}", { params: { path: { item_id: itemId } } }), "once"),
    clearCart: () => call(() => api.DELETE("/api/cart"), "once"),
    /** Takes a guest's cart over into the signed-in user's (see mergeGuestCart in the document). */
    mergeCart: (body: MergeCartBody) => {
      const headers = keyed();
      return call(() => api.POST("/api/cart/merge", { headers, body }), "keyed");
    },

    /** Places an order from the cart; one Idempotency-Key per call, reused by its retries. */
    placeOrder: (body: CreateOrderBody) => {
      const headers = keyed();
      return call(() => api.POST("/api/orders", { headers, body }), "keyed");
    },
    listOrders: (query: ListOrdersQuery = {}) =>
      call(() => api.GET("/api/orders", { params: { query } }), "read"),
    getOrder: (orderId: string) => call(() => api.GET("/api/orders/{order_id}", order(orderId)), "read"),
    getTracking: (orderId: string) =>
      call(() => api.GET("/api/orders/{order_id}/tracking", order(orderId)), "read"),
    updateOrderStatus: (orderId: string, body: UpdateStatusBody) =>
      call(() => api.PUT("/api/orders/{order_id}/status", { ...order(orderId), body }), "once"),
    /** Retries a declined payment; one Idempotency-Key per call, reused by its retries. */
    retryPayment: (orderId: string, body: RetryPaymentBody) => {
      const headers = keyed();
      return call(
        () => api.POST("/api/orders/{order_id}/payment", { ...order(orderId), headers, body }),
        "keyed",
      );
    },
    /** A single-use ticket for the live status socket (watchOrders takes them itself). */
    liveTicket: () => call(() => api.POST("/api/orders/live/ticket"), "once"),

    admin: {
      searchOrders: (query: SearchOrdersQuery = {}) =>
        call(() => api.GET("/api/admin/orders", { params: { query } }), "read"),
      summary: (query: SummaryQuery = {}) =>
        call(() => api.GET("/api/admin/orders/summary", { params: { query } }), "read"),
      getOrder: (orderId: string) =>
        call(() => api.GET("/api/admin/orders/{order_id}", order(orderId)), "read"),
      listDeadLetters: (query: DeadLettersQuery = {}) =>
        call(() => api.GET("/api/admin/dead-letters", { params: { query } }), "read"),
      replayDeadLetter: (deadLetterId: string) =>
        call(
          () =>
            api.POST("/api/admin/dead-letters/{dead_letter_id}/replay", {
              params: { path: { dead_letter_id: deadLetterId } },
            }),
          "once",
        ),
    },

    /** The client's settings, for watchOrders. */
    options,
  };
}

export type OrderClient = ReturnType<typeof createOrderClient>;

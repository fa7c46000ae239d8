import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createOrderClient, OrderServiceError, watchOrders } from "../../client/src/index.ts";
import { newUser } from "../helpers/auth.ts";
import { CASH_ON_DELIVERY, cartWith, eventually } from "../helpers/orders.ts";
import { createProduct } from "../helpers/products.ts";
import { WorkerSocket } from "./live-socket.ts";

const BASE = "https://orders.test";
const worker = (request: Request) => exports.default.fetch(request);

/** A client of the worker; `through` sees (and may replace) every request. */
function clientFor(
  token: string | undefined,
  through: (request: Request, send: typeof worker) => Promise<Response> = (request, send) => send(request),
  sleeps: number[] = [],
) {
  return createOrderClient({
    baseUrl: BASE,
    getToken: () => token,
    fetch: (request) => through(request, worker),
    retry: {
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    },
  });
}

const unavailable = (retryAfter?: string) =>
  new Response(JSON.stringify({ success: false, message: "Down", error: { code: "UPSTREAM_UNAVAILABLE" } }), {
    status: 503,
    headers: { "content-type": "application/json", ...(retryAfter ? { "retry-after": retryAfter } : {}) },
  });

describe("the typed client", () => {
  it("takes a guest's cart through sign-in to an order", async () => {
    const product = await createProduct({ price: 1500 });
    const anonymous = clientFor(undefined);
    const guest = await anonymous.createGuest();
    const asGuest = clientFor(guest.token);
    const line = await asGuest.addItem(product.id, 2);
    expect(line).toMatchObject({ productId: product.id, quantity: 2, totalPrice: 3000 });

    const user = await newUser();
    const asUser = clientFor(user.token);
    const merged = await asUser.mergeCart({ guestToken: guest.token });
    expect(merged.adjustments).toEqual([]);
    expect(merged.cart.items.map((item) => item.quantity)).toEqual([2]);
    const order = await asUser.placeOrder(CASH_ON_DELIVERY);
    expect(order).toMatchObject({ status: "pending", totalAmount: 3000 });
    expect((await asUser.getOrder(order.id)).id).toBe(order.id);
    expect((await asGuest.getCart()).items).toEqual([]);
  });

  it("throws one error class with the status, code, details and request id", async () => {
    const user = await newUser();
    const client = clientFor(user.token);
    const missing = await client.getOrder(crypto.randomUUID()).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(OrderServiceError);
    expect(missing).toMatchObject({ status: 404, code: "ORDER_NOT_FOUND", details: [], retryAfter: null });
    expect((missing as OrderServiceError).requestId).toMatch(/\S/);

    const invalid = await client.addItem("", 0).catch((error: unknown) => error);
    expect(invalid).toMatchObject({ status: 400, code: "VALIDATION_FAILED" });
    expect(new Set((invalid as OrderServiceError).details.map((detail) => detail.path))).toEqual(
      new Set(["productId", "quantity"]),
    );
    const guestOnOrders = await clientFor((await clientFor(undefined).createGuest()).token)
      .listOrders()
      .catch((error: unknown) => error);
    expect(guestOnOrders).toMatchObject({ status: 403, code: "SIGN_IN_REQUIRED" });
  });

  it("sends a checkout's retries with its one Idempotency-Key, so a lost answer places one order", async () => {
    const user = await newUser();
    await cartWith(user, 1);
    const keys: (string | null)[] = [];
    let lose = true;
    const client = clientFor(user.token, async (request, send) => {
      if (request.method !== "POST" || !request.url.endsWith("/api/orders")) return send(request);
      keys.push(request.headers.get("idempotency-key"));
      const response = await send(request);
      if (!lose) return response;
      lose = false;
      throw new TypeError("network connection lost");
    });

    const order = await client.placeOrder(CASH_ON_DELIVERY);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
    const { orders } = await client.listOrders();
    expect(orders.map((listed) => listed.id)).toEqual([order.id]);

    // The next checkout is another logical call: another key.
    await cartWith(user, 1);
    await client.placeOrder(CASH_ON_DELIVERY);
    expect(keys[2]).not.toBe(keys[0]);
  });

  it("retries reads on 429 and 503 as Retry-After says, and backs off without it", async () => {
    const user = await newUser();
    const sleeps: number[] = [];
    let failures = 2;
    const client = clientFor(
      user.token,
      async (request, send) => {
        if (request.method === "GET" && failures > 0) {
          failures -= 1;
          return failures === 1 ? unavailable("2") : unavailable();
        }
        return send(request);
      },
      sleeps,
    );
    const cart = await client.getCart();
    expect(cart.userId).toBe(user.id);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBe(2000);
    expect(sleeps[1]).toBeGreaterThan(0);
    expect(sleeps[1]).toBeLessThanOrEqual(500);
  });

  it("sends a status change, an unkeyed write, once; and gives up on reads after its tries", async () => {
    const admin = await newUser("ADMIN");
    let sent = 0;
    const client = clientFor(admin.token, async () => {
      sent += 1;
      return unavailable("1");
    });
    const change = await client
      .updateOrderStatus(crypto.randomUUID(), { status: "processing" })
      .catch((error: unknown) => error);
    expect(change).toMatchObject({ status: 503, code: "UPSTREAM_UNAVAILABLE", retryAfter: 1 });
    expect(sent).toBe(1);
    await client.clearCart().catch(() => {});
    expect(sent).toBe(2);

    sent = 0;
    const unreachable = clientFor(admin.token, async () => {
      sent += 1;
      throw new TypeError("fetch failed");
    });
    const read = await unreachable.admin.summary().catch((error: unknown) => error);
    expect(read).toMatchObject({ status: 0, code: "NETWORK_ERROR" });
    expect(sent).toBe(4);
  });
});

describe("watchOrders", () => {
  it("delivers live changes, and after a dropped socket the ones it missed", async () => {
    const user = await newUser();
    const admin = await newUser("ADMIN");
    await cartWith(user, 1);
    const client = clientFor(user.token);
    const order = await client.placeOrder(CASH_ON_DELIVERY);
    const events: { orderId: string; status: string; missed?: boolean }[] = [];
    const states: string[] = [];
    const stop = new AbortController();
    const watching = watchOrders(client, {
      onEvent: (event) => events.push(event),
      onState: (state) => states.push(state),
      signal: stop.signal,
      WebSocket: WorkerSocket,
      baseDelayMs: 10,
    });
    await eventually(
      async () => states,
      (seen) => seen.includes("open"),
    );

    const move = (status: string, extra = {}) =>
      clientFor(admin.token).updateOrderStatus(order.id, { status, ...extra } as never);
    await move("processing");
    await eventually(
      async () => events,
      (seen) => seen.some((event) => event.status === "processing"),
    );
    expect(events.at(-1)).toMatchObject({ orderId: order.id, status: "processing" });
    expect(events.at(-1)?.missed).toBeUndefined();

    // The network drops; the order ships while the client cannot connect.
    WorkerSocket.hold();
    WorkerSocket.drop();
    await eventually(
      async () => states,
      (seen) => seen.lastIndexOf("closed") > seen.lastIndexOf("open"),
    );
    await move("shipped", { trackingNumber: "TRK-CLIENT-1", carrier: "DHL" });
    WorkerSocket.let();
    const found = await eventually(
      async () => events,
      (seen) => seen.some((event) => event.status === "shipped"),
    );
    expect(found.find((event) => event.status === "shipped")).toMatchObject({
      orderId: order.id,
      status: "shipped",
      missed: true,
    });

    stop.abort();
    await watching;
    expect(states.at(-1)).toBe("closed");
  });
});

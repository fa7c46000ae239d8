import { listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signTicket } from "../../src/lib/tickets.ts";
import { cartStub } from "../../src/services/cart.ts";
import { newUser, newUserId } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { cartWith, eventually, placeOrder } from "../helpers/orders.ts";

type User = Awaited<ReturnType<typeof newUser>>;

async function ticketFor(user: User): Promise<string> {
  const res = await api("POST", "/api/orders/live/ticket", { headers: user.headers });
  expect(res.status).toBe(201);
  return res.body.data.ticket;
}

function upgrade(ticket: string | null, headers: Record<string, string> = { upgrade: "websocket" }) {
  const query = ticket === null ? "" : `?ticket=${encodeURIComponent(ticket)}`;
  return exports.default.fetch(new Request(`https://orders.test/api/orders/live${query}`, { headers }));
}

/** Opens a live socket and collects every event it receives. */
async function listen(user: User) {
  const response = await upgrade(await ticketFor(user));
  expect(response.status).toBe(101);
  const socket = response.webSocket as WebSocket;
  const events: { type: string; orderId: string; status: string; paymentStatus: string; at: string }[] = [];
  socket.addEventListener("message", (message) => {
    if (message.data !== "pong") events.push(JSON.parse(message.data as string));
  });
  socket.accept();
  return { socket, events };
}

async function refusal(response: Response) {
  return {
    status: response.status,
    body: (await response.json()) as { success: boolean; error: { code: string } },
  };
}

describe("live order status", () => {
  it("pushes every change of the user's own orders, and nothing of anyone else's", async () => {
    const user = await newUser();
    const other = await newUser();
    const { socket, events } = await listen(user);

    await cartWith(other, 1);
    const theirs = (await placeOrder(other)).body.data;
    await cartWith(user, 1);
    const mine = (await placeOrder(user)).body.data;

    await eventually(
      async () => events,
      (list) => list.length >= 2 && list.some((event) => event.status === "paid"),
    );
    // Pushed by the request and by the gateway's alarm, which may race: in commit order by `at`.
    const inOrder = [...events].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    expect(
      inOrder.map(({ type, orderId, status, paymentStatus }) => ({ type, orderId, status, paymentStatus })),
    ).toEqual([
      { type: "order.status", orderId: mine.id, status: "pending", paymentStatus: "pending" },
      { type: "order.status", orderId: mine.id, status: "paid", paymentStatus: "paid" },
    ]);
    expect(events.every((event) => !Number.isNaN(Date.parse(event.at)))).toBe(true);
    expect(events.some((event) => event.orderId === theirs.id)).toBe(false);
    socket.close(1000, "done");
  });

  it("reaches every open socket of the user, and answers ping", async () => {
    const user = await newUser();
    const first = await listen(user);
    const second = await listen(user);
    const pong = new Promise((resolve) =>
      first.socket.addEventListener("message", (m) => m.data === "pong" && resolve(m.data)),
    );
    first.socket.send("ping");
    expect(await pong).toBe("pong");

    await cartWith(user, 1);
    await placeOrder(user);
    await eventually(
      async () => [first.events.length, second.events.length],
      ([a, b]) => (a ?? 0) >= 1 && (b ?? 0) >= 1,
    );
    expect(first.events[0]?.status).toBe("pending");
    expect(second.events[0]?.status).toBe("pending");
  });

  it("issues tickets only to an authenticated user", async () => {
    const res = await api("POST", "/api/orders/live/ticket");
    expect(res.status).toBe(401);
    const user = await newUser();
    const issued = await api("POST", "/api/orders/live/ticket", { headers: user.headers });
    expect(issued.status).toBe(201);
    const expiresIn = Date.parse(issued.body.data.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(25_000);
    expect(expiresIn).toBeLessThanOrEqual(30_000);
    expect(issued.body.data.ticket).toMatch(
      new RegExp(`^${user.id}\\.\\d{13}\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}$`),
    );
  });

  it("refuses a used ticket", async () => {
    const user = await newUser();
    const ticket = await ticketFor(user);
    expect((await upgrade(ticket)).status).toBe(101);
    expect(await refusal(await upgrade(ticket))).toMatchObject({
      status: 401,
      body: { success: false, error: { code: "UNAUTHORIZED" } },
    });
  });

  it("refuses a ticket its object no longer holds as unexpired", async () => {
    const user = await newUser();
    const ticket = await ticketFor(user);
    await runInDurableObject(cartStub(env, user.id), (_object, state) => {
      state.storage.sql.exec("UPDATE live_ticket_grants SET expires_at = ?", Date.now() - 1);
    });
    expect((await refusal(await upgrade(ticket))).status).toBe(401);
  });

  it("refuses forged, malformed and missing tickets, and another user's ticket under one's own id", async () => {
    const user = await newUser();
    const other = await newUser();
    const theirs = await ticketFor(other);
    const [, expiresAt, nonce, mac] = theirs.split(".");
    const forged = [
      `${user.id}.${expiresAt}.${nonce}.${mac}`,
      `${other.id}.${Number(expiresAt) + 60_000}.${nonce}.${mac}`,
      `${other.id}.${expiresAt}.${nonce}.${"A".repeat(43)}`,
      "not-a-ticket",
      "",
    ];
    for (const ticket of forged) {
      expect(await refusal(await upgrade(ticket))).toMatchObject({
        status: 401,
        body: { error: { code: "UNAUTHORIZED" } },
      });
    }
    expect((await refusal(await upgrade(null))).status).toBe(401);
    // The other user's ticket was not used up by the attempts under other ids or expiries.
    expect((await upgrade(theirs)).status).toBe(101);
  });

  it("refuses a forged ticket without touching any user's object", async () => {
    const stranger = newUserId();
    const forged = `${stranger}.${Date.now() + 20_000}.${"B".repeat(22)}.${"C".repeat(43)}`;
    expect((await upgrade(forged)).status).toBe(401);
    const ids = await listDurableObjectIds(env.CART);
    expect(ids.some((id) => id.equals(env.CART.idFromName(`user:${stranger}`)))).toBe(false);
  });

  it("refuses a ticket signed as ours once its 30 s have passed", async () => {
    const user = await newUser();
    const nonce = "D".repeat(22);
    const lapsed = await signTicket(env.JWT_SECRET, "live-ticket/v1", {
      userId: user.id,
      expiresAt: Date.now() - 1,
      nonce,
    });
    expect((await refusal(await upgrade(lapsed))).status).toBe(401);
  });

  it("answers 426 to a request that is not a WebSocket upgrade, without using the ticket", async () => {
    const user = await newUser();
    const ticket = await ticketFor(user);
    const res = await upgrade(ticket, {});
    expect(await refusal(res)).toMatchObject({ status: 426, body: { error: { code: "UPGRADE_REQUIRED" } } });
    expect(res.headers.get("upgrade")).toBe("websocket");
    expect((await upgrade(ticket)).status).toBe(101);
  });
});

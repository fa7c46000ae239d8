import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cartStub } from "../../src/services/cart.ts";
import { newUser } from "../helpers/auth.ts";
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
      (list) => list.some((event) => event.status === "paid"),
    );
    expect(
      events.map(({ type, orderId, status, paymentStatus }) => ({ type, orderId, status, paymentStatus })),
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
    expect(issued.body.data.ticket).toMatch(new RegExp(`^${user.id}\\.[A-Za-z0-9_-]{43}$`));
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

  it("refuses an expired ticket", async () => {
    const user = await newUser();
    const ticket = await ticketFor(user);
    await runInDurableObject(cartStub(env, user.id), (_object, state) => {
      state.storage.sql.exec("UPDATE live_tickets SET expires_at = ?", Date.now() - 1);
    });
    expect((await refusal(await upgrade(ticket))).status).toBe(401);
  });

  it("refuses forged, malformed and missing tickets, and another user's ticket under one's own id", async () => {
    const user = await newUser();
    const other = await newUser();
    const theirs = await ticketFor(other);
    const forged = [`${user.id}.${"A".repeat(43)}`, `${user.id}.${theirs.split(".")[1]}`, "not-a-ticket", ""];
    for (const ticket of forged) {
      expect(await refusal(await upgrade(ticket))).toMatchObject({
        status: 401,
        body: { error: { code: "UNAUTHORIZED" } },
      });
    }
    expect((await refusal(await upgrade(null))).status).toBe(401);
    // The other user's ticket was not used up by the attempt under another id.
    expect((await upgrade(theirs)).status).toBe(101);
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

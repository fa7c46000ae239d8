import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { newUser, newUserId, tokenFor } from "../helpers/auth.ts";
import { cartWith, eventually, placeOrder } from "../helpers/orders.ts";

type Headers = Record<string, string>;

/** A ticket from a worker with these settings (the suite's own when none). */
async function ticketFor(headers: Headers, overrides: Record<string, string> = {}): Promise<string> {
  const ctx = createExecutionContext();
  const response = await createApp().fetch(
    new Request("https://orders.test/api/orders/live/ticket", { method: "POST", headers }),
    { ...env, ...overrides },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  expect(response.status).toBe(201);
  return ((await response.json()) as { data: { ticket: string } }).data.ticket;
}

/** Opens a live socket; records the events it gets and how it was closed. */
async function open(ticket: string) {
  const response = await exports.default.fetch(
    new Request(`https://orders.test/api/orders/live?ticket=${encodeURIComponent(ticket)}`, {
      headers: { upgrade: "websocket" },
    }),
  );
  expect(response.status).toBe(101);
  const socket = response.webSocket as WebSocket;
  const state = {
    events: [] as { status: string }[],
    closed: null as { code: number; reason: string } | null,
  };
  socket.addEventListener("message", (message) => {
    if (message.data !== "pong") state.events.push(JSON.parse(message.data as string));
  });
  socket.addEventListener("close", (event) => {
    state.closed = { code: event.code, reason: event.reason };
  });
  socket.accept();
  return { socket, state };
}

const closedWithin = (state: { closed: unknown }, ms: number) =>
  eventually(
    async () => state.closed,
    (closed) => closed !== null,
    ms,
  );

describe("live sockets: how many, and for how long", () => {
  it("keeps at most 5 open sockets per user, closing the oldest first", async () => {
    const user = await newUser();
    const sockets = [];
    for (let i = 0; i < 6; i++) sockets.push(await open(await ticketFor(user.headers)));
    const [oldest, ...rest] = sockets;
    expect(await closedWithin(oldest?.state ?? { closed: null }, 5_000)).toMatchObject({ code: 4000 });
    expect(rest.every(({ state }) => state.closed === null)).toBe(true);

    await cartWith(user, 1);
    await placeOrder(user);
    await eventually(
      async () => rest.map(({ state }) => state.events.length),
      (counts) => counts.every((count) => count >= 1),
    );
    expect(oldest?.state.events).toEqual([]);
    for (const { socket } of rest) socket.close(1000, "done");
  });

  it("closes a socket when the token that bought its ticket expires", async () => {
    const id = newUserId();
    const expiresAt = Math.floor(Date.now() / 1000) + 5;
    const token = await tokenFor(id, { expiresIn: expiresAt });
    const { state } = await open(await ticketFor({ authorization: `Bearer ${token}` }));
    expect(state.closed).toBeNull();
    expect(await closedWithin(state, 10_000)).toMatchObject({ code: 4001 });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt * 1000 - 50);
  });

  it("closes a socket once it reaches LIVE_SOCKET_MAX_AGE_SECONDS, whatever its token's lifetime", async () => {
    const user = await newUser();
    const openedAt = Date.now();
    const { state } = await open(await ticketFor(user.headers, { LIVE_SOCKET_MAX_AGE_SECONDS: "2" }));
    expect(await closedWithin(state, 10_000)).toMatchObject({ code: 4001 });
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(1_900);
  });
});

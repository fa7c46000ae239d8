import { describe, expect, it } from "vitest";
import { type OrderClient, OrderServiceError, watchOrders } from "../../client/src/index.ts";

// watchOrders' own logic, against a scripted socket and client: the orderings and failures that a
// live worker only produces by chance (test/client/client.test.ts drives it against the worker).

type Listener = (event: { type: string; data?: unknown; code?: number }) => void;

class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  closed = false;
  private listeners = new Map<string, Listener[]>();
  readonly url: string;
  constructor(url: string) {
    this.url = url;
    FakeSocket.all.push(this);
  }
  addEventListener(type: string, listener: Listener) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  private fire(type: string, extra: { data?: unknown; code?: number } = {}) {
    for (const listener of this.listeners.get(type) ?? []) listener({ type, ...extra });
  }
  open() {
    this.readyState = 1;
    this.fire("open");
  }
  send(event: object) {
    this.fire("message", { data: JSON.stringify(event) });
  }
  close(code = 1000) {
    if (this.closed) return;
    this.closed = true;
    this.readyState = 3;
    queueMicrotask(() => this.fire("close", { code }));
  }
}

const tick = (ms = 5) => new Promise((resolve) => setTimeout(resolve, ms));
const at = (second: number) => new Date(Date.UTC(2026, 11, 4, 12, 0, second)).toISOString();
const order = (id: string, status: string, paymentStatus: string, second: number) => ({
  id,
  status,
  paymentStatus,
  updatedAt: at(second),
});
const live = (orderId: string, status: string, paymentStatus: string, second: number) => ({
  type: "order.status",
  orderId,
  status,
  paymentStatus,
  at: at(second),
});
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

type FakeOrder = ReturnType<typeof order>;

/** A client whose orders are whatever `orders()` says at each read. */
function fakeClient(
  orders: (read: number) => FakeOrder[] | Promise<FakeOrder[]>,
  liveTicket: () => Promise<unknown> = async () => ({ ticket: "t", expiresAt: "" }),
) {
  let reads = 0;
  let current: FakeOrder[] = [];
  const client = {
    options: { baseUrl: "http://orders.test" },
    liveTicket,
    async listOrders({ status }: { status?: string } = {}) {
      if (status === "pending") {
        reads += 1;
        current = await orders(reads);
      }
      return { orders: current.filter((o) => !status || o.status === status), nextCursor: null };
    },
    async getOrder(id: string) {
      const found = current.find((o) => o.id === id);
      if (!found) throw new Error("no such order");
      return found;
    },
  };
  return { client: client as unknown as OrderClient, reads: () => reads };
}

function watch(client: OrderClient, stop = new AbortController()) {
  FakeSocket.all = [];
  const events: { orderId: string; status: string; missed?: boolean }[] = [];
  const watching = watchOrders(client, {
    onEvent: (event) => events.push(event),
    signal: stop.signal,
    WebSocket: FakeSocket as never,
    baseDelayMs: 1,
  });
  return { events, watching, stop };
}

/** Opens the first socket, lets it learn the orders, drops it, and opens the second. */
async function reconnect() {
  await tick();
  FakeSocket.all[0]?.open();
  await tick();
  FakeSocket.all[0]?.close(1006);
  await tick(20);
  const second = FakeSocket.all[1];
  if (!second) throw new Error("no reconnect");
  second.open();
  return second;
}

describe("watchOrders, against a scripted socket", () => {
  it("does not undo a live change with an older state read after a reconnect", async () => {
    const slow = deferred<FakeOrder[]>();
    const { client } = fakeClient((read) =>
      read === 1 ? [order("o1", "pending", "pending", 1)] : slow.promise,
    );
    const { events, watching, stop } = watch(client);
    const second = await reconnect();
    second.send(live("o1", "paid", "paid", 3));
    slow.resolve([order("o1", "pending", "pending", 1)]);
    await tick();
    stop.abort();
    await watching;
    expect(events.map((e) => e.status)).toEqual(["paid"]);
  });

  it("reports a change once when the re-read sees it before its live event arrives", async () => {
    const { client } = fakeClient((read) => [
      read === 1 ? order("o1", "pending", "pending", 1) : order("o1", "paid", "paid", 3),
    ]);
    const { events, watching, stop } = watch(client);
    const second = await reconnect();
    await tick();
    second.send(live("o1", "paid", "paid", 3));
    await tick();
    stop.abort();
    await watching;
    expect(events).toEqual([expect.objectContaining({ orderId: "o1", status: "paid", missed: true })]);
  });

  it("reconnects and reads again when the re-read after a reconnect fails", async () => {
    const { client, reads } = fakeClient((read) => {
      if (read === 2) throw new Error("503 after all tries");
      return [read === 1 ? order("o1", "pending", "pending", 1) : order("o1", "paid", "paid", 3)];
    });
    const { events, watching, stop } = watch(client);
    await reconnect();
    await tick(30);
    FakeSocket.all[2]?.open();
    await tick(20);
    stop.abort();
    await watching;
    expect(reads()).toBe(3);
    expect(events.map((e) => e.status)).toEqual(["paid"]);
  });

  it("finds a change to an open order however old, and one that closed while away", async () => {
    const delivered = Array.from({ length: 150 }, (_, i) => order(`new-${i}`, "delivered", "paid", 50));
    const { client } = fakeClient((read) => [
      ...delivered,
      read === 1 ? order("old", "shipped", "paid", 1) : order("old", "delivered", "paid", 9),
      read === 1 ? order("open", "processing", "paid", 1) : order("open", "shipped", "paid", 8),
    ]);
    const { events, watching, stop } = watch(client);
    await reconnect();
    await tick();
    stop.abort();
    await watching;
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ orderId: "old", status: "delivered", missed: true }),
        expect.objectContaining({ orderId: "open", status: "shipped", missed: true }),
      ]),
    );
    expect(events).toHaveLength(2);
  });

  it("opens no socket and reports nothing once aborted while its ticket was on the way", async () => {
    const ticket = deferred<unknown>();
    const { client } = fakeClient(
      () => [],
      () => ticket.promise,
    );
    const { events, watching, stop } = watch(client);
    await tick();
    stop.abort();
    ticket.resolve({ ticket: "t", expiresAt: "" });
    await watching;
    expect(FakeSocket.all).toEqual([]);
    expect(events).toEqual([]);
  });

  it("gives up on a refused token, and stops when a newer socket supersedes its own", async () => {
    const refused = new OrderServiceError({
      status: 401,
      code: "UNAUTHORIZED",
      message: "The token has expired",
    });
    const { client: expired } = fakeClient(
      () => [],
      async () => {
        throw refused;
      },
    );
    await expect(watch(expired).watching).rejects.toBe(refused);

    const { client } = fakeClient(() => []);
    const { watching } = watch(client);
    await tick();
    FakeSocket.all[0]?.open();
    await tick();
    FakeSocket.all[0]?.close(4000);
    await watching;
    expect(FakeSocket.all).toHaveLength(1);
  });
});

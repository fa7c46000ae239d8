// The drills' load: a few users, each a client that loops "add one or two products to the cart, check
// out", as a storefront would. Every write carries an Idempotency-Key and is retried with the same key
// after a 5xx, a network error or a timeout (and after 409 IDEMPOTENCY_KEY_IN_FLIGHT /
// CHECKOUT_IN_PROGRESS), until it gets a definitive answer or the drill's deadline passes. Each
// client keeps the cart it believes it has (what was added, minus what its orders took), so the
// drill can compare it with the cart the service holds.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";

export const SHIPPING = {
  shippingAddress: {
    street: "123 Main St",
    city: "Mumbai",
    state: "Maharashtra",
    postalCode: "400001",
    country: "India",
  },
  paymentMethod: "credit_card",
  paymentDetails: { cardNumber: "**** **** **** 1234", expiryDate: "12/30" },
};

/** 503s with these codes are the documented answers of a dependency outage. */
export const DOCUMENTED_503 = new Set(["UPSTREAM_UNAVAILABLE", "DATABASE_UNAVAILABLE"]);
const RETRY_409 = new Set(["IDEMPOTENCY_KEY_IN_FLIGHT", "CHECKOUT_IN_PROGRESS"]);
const REQUEST_TIMEOUT_MS = 15_000;

export interface LoadUser {
  id: number;
  token: string;
}

export interface PlacedOrder {
  userId: number;
  key: string;
  orderId: string;
  items: { productId: string; quantity: number }[];
  /** Answered from the key's record (Idempotent-Replayed): placed by an earlier attempt. */
  replayed: boolean;
  /** What the answer's totals break: a line not price × quantity, a total not the sum of its lines. */
  totalsWrong: string[];
}

/** What the clients saw, for the invariants. */
export interface LoadReport {
  /** `<route> <status> <code>` → count, every answer and every network error. */
  answers: Map<string, number>;
  /** 5xx answers other than the documented 503s, with a sample of each. */
  undocumented: { what: string; requestId: string | null; body: string }[];
  networkErrors: number;
  /** Every 201 of a checkout, retries and replays included. */
  placed: PlacedOrder[];
  /** Checkout keys answered 201, with every order id they were answered with. */
  orderIdsByKey: Map<string, Set<string>>;
  /** Writes that had no definitive answer by the deadline. */
  unresolved: { userId: number; what: string; key: string; last: string }[];
  /** Each user's cart as the client believes it is (productId → quantity). */
  carts: Map<number, Map<string, number>>;
  /** The write a client stopped at, unanswered: its cart may also differ by what that write did. */
  uncertain: Map<number, { productId: string; quantity: number } | "checkout" | "clear">;
  /** A checkout answered EMPTY_CART although the client's cart held lines. */
  vanishedCarts: { userId: number; expected: string }[];
  checkouts: number;
  adds: number;
}

export interface LoadOptions {
  base: () => string;
  users: LoadUser[];
  products: string[];
  /** No new cycle starts after this (epoch ms). */
  stopAt: number;
  /** Retries give up after this (epoch ms). */
  resolveBy: number;
}

interface Answer {
  status: number;
  code: string;
  body: Record<string, unknown> | undefined;
  text: string;
  requestId: string | null;
  replayed: boolean;
}

export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  const report: LoadReport = {
    answers: new Map(),
    undocumented: [],
    networkErrors: 0,
    placed: [],
    orderIdsByKey: new Map(),
    unresolved: [],
    carts: new Map(opts.users.map((user) => [user.id, new Map()])),
    uncertain: new Map(),
    vanishedCarts: [],
    checkouts: 0,
    adds: 0,
  };
  const count = (what: string) => report.answers.set(what, (report.answers.get(what) ?? 0) + 1);

  /** One request, retried under the same key until it has a definitive answer (or the deadline). */
  async function write(user: LoadUser, route: string, method: string, path: string, body: unknown) {
    const key = randomUUID();
    let last = "";
    for (let attempt = 0; Date.now() < opts.resolveBy; attempt++) {
      if (attempt > 0) await sleep(Math.min(1000, 100 * 2 ** Math.min(attempt, 4)) * (0.5 + Math.random()));
      let answer: Answer;
      try {
        const res = await fetch(new URL(path, opts.base()), {
          method,
          headers: {
            authorization: `Bearer ${user.token}`,
            "content-type": "application/json",
            "idempotency-key": key,
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await res.text();
        let parsed: Record<string, unknown> | undefined;
        try {
          parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {}
        const error = parsed?.error as { code?: string } | undefined;
        answer = {
          status: res.status,
          code: error?.code ?? "",
          body: parsed,
          text,
          requestId: res.headers.get("x-request-id"),
          replayed: res.headers.get("idempotent-replayed") === "true",
        };
        if (answer.replayed) count(`${route} replayed`);
      } catch (error) {
        report.networkErrors++;
        last = `network error: ${(error as Error).message}`;
        count(`${route} network error`);
        continue;
      }
      count(`${route} ${answer.status} ${answer.code}`.trimEnd());
      last = `${answer.status} ${answer.code}`;
      if (answer.status >= 500) {
        if (answer.status !== 503 || !DOCUMENTED_503.has(answer.code))
          report.undocumented.push({
            what: `${route} ${answer.status} ${answer.code}`,
            requestId: answer.requestId,
            body: answer.text.slice(0, 300),
          });
        continue;
      }
      if (answer.status === 409 && RETRY_409.has(answer.code)) continue;
      return { key, answer };
    }
    report.unresolved.push({ userId: user.id, what: route, key, last });
    return { key, answer: undefined };
  }

  async function client(user: LoadUser): Promise<void> {
    const cart = report.carts.get(user.id) as Map<string, number>;
    const stop = (write: { productId: string; quantity: number } | "checkout" | "clear") => {
      report.uncertain.set(user.id, write);
    };
    while (Date.now() < opts.stopAt && !report.uncertain.has(user.id)) {
      const lines = 1 + Math.floor(Math.random() * 2);
      for (let i = 0; i < lines; i++) {
        const productId = opts.products[Math.floor(Math.random() * opts.products.length)] as string;
        const quantity = 1 + Math.floor(Math.random() * 2);
        report.adds++;
        const { answer } = await write(user, "add", "POST", "/api/cart/items", { productId, quantity });
        if (!answer) {
          stop({ productId, quantity });
          break;
        } else if (answer.status === 200 || answer.status === 201)
          cart.set(productId, (cart.get(productId) ?? 0) + quantity);
      }
      if (report.uncertain.has(user.id) || cart.size === 0) continue;
      report.checkouts++;
      const { key, answer } = await write(user, "checkout", "POST", "/api/orders", SHIPPING);
      if (!answer) {
        stop("checkout");
      } else if (answer.status === 201) {
        const order = (answer.body?.data ?? {}) as {
          id: string;
          totalAmount: number;
          items: { productId: string; quantity: number; price: number; totalPrice: number }[];
        };
        const ids = report.orderIdsByKey.get(key) ?? new Set<string>();
        ids.add(order.id);
        report.orderIdsByKey.set(key, ids);
        report.placed.push({
          userId: user.id,
          key,
          orderId: order.id,
          items: order.items.map(({ productId, quantity }) => ({ productId, quantity })),
          replayed: answer.replayed,
          totalsWrong: totalsWrong(order),
        });
        for (const item of order.items) {
          const left = (cart.get(item.productId) ?? 0) - item.quantity;
          if (left > 0) cart.set(item.productId, left);
          else cart.delete(item.productId);
        }
      } else if (answer.code === "EMPTY_CART") {
        report.vanishedCarts.push({ userId: user.id, expected: JSON.stringify([...cart]) });
        cart.clear();
      } else if (answer.status === 409 || answer.status === 404) {
        // Not enough stock (or a product gone): start over with an empty cart, as a shopper would.
        const cleared = await write(user, "clear", "DELETE", "/api/cart", undefined);
        if (cleared.answer?.status === 200) cart.clear();
        else stop("clear");
      }
      await sleep(50 + Math.random() * 100);
    }
  }

  await Promise.all(opts.users.map(client));
  return report;
}

/** Issue 21: an order's total is the sum of its lines, and each line its price times its quantity. */
function totalsWrong(order: {
  totalAmount: number;
  items: { productId: string; quantity: number; price: number; totalPrice: number }[];
}): string[] {
  const wrong = order.items
    .filter((item) => item.totalPrice !== item.price * item.quantity)
    .map((item) => `line ${item.productId}: ${item.totalPrice} ≠ ${item.price} × ${item.quantity}`);
  const sum = order.items.reduce((total, item) => total + item.totalPrice, 0);
  if (order.totalAmount !== sum) wrong.push(`total ${order.totalAmount} ≠ Σ lines ${sum}`);
  return wrong;
}

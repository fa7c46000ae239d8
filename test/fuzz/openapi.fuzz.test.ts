import { env, exports } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newGuest, newUser, tokenFor } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { eventFor } from "../helpers/notifications.ts";
import {
  addToCart,
  CASH_ON_DELIVERY,
  cartWith,
  DECLINED_CARD,
  eventually,
  paidOrder,
  placeOrder,
  query,
  SEED_ORDER,
} from "../helpers/orders.ts";
import { createProduct } from "../helpers/products.ts";
import { contractViolations, DOCUMENT, ROUTES, type Route } from "./contract.ts";
import {
  type Auth,
  type FreshOrder,
  isJsonContentType,
  judgeInputs,
  type Plan,
  type Pool,
  planOf,
  VALID_AUTH,
  type Value,
} from "./requests.ts";

/**
 * Generated requests to every operation of the OpenAPI document (SPEC §5, issue 10): valid and
 * mutated bodies, path parameters, queries and headers, with and without a token. Properties:
 * never a 5xx (every dependency is up here, so not even a 503), every answer's status documented
 * for its operation and its body valid against the schema documented for that status (the error
 * envelope on every 4xx), schema-valid input never refused as invalid, invalid input always 400
 * (413 past 64 KiB).
 *
 * Each operation is fuzzed twice: with any input (N runs), and with valid input only, from a user
 * or an admin, on orders freshly brought to each status (N/2 runs, each dearer). CI runs N = 100,
 * seeded; `npm run fuzz -- --runs N [--seed S]` runs more (FUZZ_RUNS, FUZZ_SEED). A failure prints
 * fast-check's seed and shrunk plan, and the request as sent.
 */
const RUNS = Number(env.FUZZ_RUNS || 0) || 100;
const SEED = Number(env.FUZZ_SEED || 0) || 20261128;

type User = Awaited<ReturnType<typeof newUser>>;
let user: User;
let admin: User;
let guest: Awaited<ReturnType<typeof newGuest>>;
const tokens = {} as Record<Exclude<Auth, "user" | "fresh" | "admin" | "none">, string>;
const pools: Record<Pool, string[]> = {
  items: [],
  orders: [],
  deadLetters: [],
  tickets: [],
  products: [],
  cursors: [],
  guests: [],
};

beforeAll(async () => {
  user = await newUser();
  admin = await newUser("ADMIN");
  guest = await newGuest();
  const other = await newUser();
  tokens.garbage = "Bearer not.a.jwt";
  tokens.basic = "Basic dXNlcjpwYXNz";
  tokens.expired = `Bearer ${await tokenFor(user.id, { expiresIn: Math.floor(Date.now() / 1000) - 3600 })}`;
  tokens.forged = `Bearer ${await tokenFor(user.id, { role: "ADMIN", secret: "x".repeat(40) })}`;
  tokens.oversized = `Bearer ${"a".repeat(9000)}`;
  // Signed with the right secret, but no user id and an unknown role: the user service is asked.
  tokens.badClaims = `Bearer ${await tokenFor("nobody", { role: "ROOT" as never })}`;
  // Two products at different prices, so that orders of both have lines that must add up (issue 21).
  for (const [stock, price] of [
    [1_000_000, 1250],
    [1_000_000, 799],
    [0, 1250],
  ])
    pools.products.push((await createProduct({ stock, price })).id);
  pools.products.push((await createProduct({ isActive: false })).id);
  // An order of the user's and one of someone else's, and a line left in the user's cart.
  for (const owner of [user, other]) {
    await cartWith(owner, 1);
    await addToCart(owner, pools.products[1] as string, 3);
    const placed = await placeOrder(owner, SEED_ORDER);
    expect(placed.status).toBe(201);
    pools.orders.push(placed.body.data.id);
  }
  // A paid order, and one an admin accepted into processing: further along the status flow.
  for (const next of [undefined, "processing"]) {
    await cartWith(user, 1);
    const paid = await paidOrder(user);
    if (next) {
      const moved = await api("PUT", `/api/orders/${paid.id}/status`, {
        headers: admin.headers,
        json: { status: next },
      });
      expect(moved.status).toBe(200);
    }
    pools.orders.push(paid.id);
  }
  // A declined payment, which the owner may retry.
  await cartWith(user, 1);
  const declined = await placeOrder(user, DECLINED_CARD);
  expect(declined.status).toBe(201);
  pools.orders.push(declined.body.data.id);
  pools.items.push(
    (
      await api("POST", "/api/cart/items", {
        headers: user.headers,
        json: { productId: pools.products[0], quantity: 2 },
      })
    ).body.data.id,
  );
  // Dead letters: one that is not an event (409 on replay), and an event of a made-up order.
  const letter = `message:fuzz-${user.id}`;
  const event = eventFor(user.id);
  await query(sql`INSERT INTO dead_letters (id, body, attempts, last_error, failed_at)
    VALUES (${letter}, '{}'::jsonb, 1, 'fuzz', now())`);
  await query(sql`INSERT INTO dead_letters (id, event_type, order_id, user_id, body, attempts, last_error)
    VALUES (${event.id}, ${event.type}, ${event.orderId}, ${user.id}, ${JSON.stringify(event)}::jsonb, 10, 'fuzz')`);
  pools.deadLetters.push(letter, event.id);
  // Cursors the API issued: the user has two orders, and there are two dead letters.
  for (const [path, who] of [
    ["/api/orders?limit=1", user],
    ["/api/admin/dead-letters?limit=1&pending=false", admin],
  ] as const) {
    const page = await api("GET", path, { headers: who.headers });
    expect(page.body.data.nextCursor).toEqual(expect.any(String));
    pools.cursors.push(page.body.data.nextCursor);
  }
  // Guests with a line in their carts, for merges; the first merge of each empties it.
  for (let n = 0; n < 4; n += 1) {
    const owner = await newGuest();
    await api("POST", "/api/cart/items", {
      headers: owner.headers,
      json: { productId: pools.products[n % 2], quantity: 1 },
    });
    pools.guests.push(owner.token);
  }
  for (let n = 0; n < 3; n += 1) {
    pools.tickets.push(
      (await api("POST", "/api/orders/live/ticket", { headers: user.headers })).body.data.ticket,
    );
  }
});

function pick(value: Value): string {
  if (typeof value === "string") return value;
  if ("raw" in value) return value.raw;
  const pool = pools[value.pool];
  return pool[value.index % pool.length] as string;
}

async function authorization(auth: Auth): Promise<string | undefined> {
  if (auth === "none") return undefined;
  if (auth === "user") return user.headers.authorization;
  if (auth === "admin") return admin.headers.authorization;
  if (auth === "fresh") return (await newUser()).headers.authorization;
  if (auth === "guest") return guest.headers.authorization;
  return tokens[auth];
}

/**
 * A new order of a new user's (one user could hold only 5 pending orders), brought to `status` the
 * way a customer and an admin would. That user then stands in for "user" in the request.
 */
async function freshOrder(status: FreshOrder): Promise<{ id: string; owner: User }> {
  const owner = await newUser();
  await cartWith(owner, 1);
  if (status === "pending" || status === "declined") {
    const placed = await placeOrder(owner, status === "declined" ? DECLINED_CARD : CASH_ON_DELIVERY);
    expect(placed.status).toBe(201);
    if (status === "declined") {
      await eventually(
        () => api("GET", `/api/orders/${placed.body.data.id}`, { headers: owner.headers }),
        (res) => res.body.data.paymentStatus === "failed",
      );
    }
    return { id: placed.body.data.id, owner };
  }
  const order = await paidOrder(owner);
  const steps = { paid: [], processing: ["processing"], shipped: ["processing", "shipped"] }[status];
  for (const step of steps) {
    const json = { status: step, ...(step === "shipped" ? { trackingNumber: "TRK-FUZZ" } : {}) };
    const moved = await api("PUT", `/api/orders/${order.id}/status`, { headers: admin.headers, json });
    expect(moved.status).toBe(200);
  }
  return { id: order.id, owner };
}

/** Sends a plan and returns what came back, with the request as sent for the failure message. */
async function send(route: Route, plan: Plan) {
  const params = Object.fromEntries(Object.entries(plan.params).map(([name, value]) => [name, pick(value)]));
  const fresh = plan.freshOrder ? await freshOrder(plan.freshOrder) : undefined;
  if (fresh) params.order_id = fresh.id;
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(plan.query)) if (value !== undefined) query[name] = pick(value);
  const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = plan.params[name];
    const raw = typeof value === "object" && "raw" in value && !(fresh && name === "order_id");
    return raw ? value.raw : encodeURIComponent(params[name] ?? "");
  });
  // What the router hands the route: a raw segment decoded where it can be.
  for (const [name, value] of Object.entries(plan.params)) {
    if (typeof value === "object" && "raw" in value && !(fresh && name === "order_id")) {
      try {
        params[name] = decodeURIComponent(value.raw);
      } catch {
        params[name] = value.raw;
      }
    }
  }
  const entries = Object.entries(query);
  if (plan.repeatQuery && entries[0]) entries.push([entries[0][0], "1"]);
  const search = new URLSearchParams(entries).toString();
  const url = `https://orders.test${path}${search ? `?${search}` : ""}`;

  const headers = new Headers();
  for (const [name, value] of Object.entries(plan.headers)) if (value !== undefined) headers.set(name, value);
  const auth =
    fresh && plan.auth === "user" ? fresh.owner.headers.authorization : await authorization(plan.auth);
  if (auth) headers.set("authorization", auth);
  if (plan.fillCart && auth) {
    for (const [index, quantity] of [
      [0, 1],
      [1, 2],
    ] as const) {
      await api("POST", "/api/cart/items", {
        headers: { authorization: auth },
        json: { productId: pools.products[index], quantity },
      });
    }
  }
  if (plan.contentType) headers.set("content-type", plan.contentType);
  let body: string | undefined;
  let json: unknown;
  if (plan.body && "json" in plan.body) {
    json = plan.body.json;
    if (plan.body.productPick !== undefined && json && typeof json === "object" && !Array.isArray(json)) {
      json = { ...json, productId: pick({ pool: "products", index: plan.body.productPick }) };
    }
    if (plan.body.guestPick !== undefined && json && typeof json === "object" && !Array.isArray(json)) {
      json = { ...json, guestToken: pick({ pool: "guests", index: plan.body.guestPick }) };
    }
    body = JSON.stringify(json);
  } else if (plan.body && "raw" in plan.body) {
    body = plan.body.raw;
  } else if (plan.body && "oversized" in plan.body) {
    body = `{"x":"${"y".repeat(plan.body.oversized - 8)}"}`;
  }

  const response = await exports.default.fetch(new Request(url, { method: route.method, headers, body }));
  if (response.webSocket) {
    response.webSocket.accept();
    response.webSocket.close(1000, "fuzz");
  }
  const text = response.status === 101 ? "" : await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: the contract check reports it
  }
  // Without a Content-Type of the plan's, workerd labels a string body text/plain.
  const type = plan.contentType ?? (body === undefined ? undefined : "text/plain;charset=UTF-8");
  const mediaRefused = route.body !== undefined && type !== undefined && !isJsonContentType(type);
  const isJson = json !== undefined && type !== undefined && isJsonContentType(type);
  const verdict = judgeInputs(route, {
    params,
    query,
    headers,
    body: json,
    json: isJson,
    repeatedQuery: entries.length > Object.keys(query).length,
  });
  const shown = body && body.length > 500 ? `${body.slice(0, 200)}… (${body.length} characters)` : body;
  const request = { method: route.method, url, headers: Object.fromEntries(headers), body: shown };
  return { status: response.status, headers: response.headers, body: parsed, verdict, mediaRefused, request };
}

/** Answers per operation and status, printed at the end (`npm run fuzz` shows them). */
const seen = new Map<string, Map<string, number>>();
function count(route: Route, status: number, body: any) {
  const byStatus = seen.get(route.id) ?? new Map<string, number>();
  const key = body?.error?.code ? `${status} ${body.error.code}` : String(status);
  byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
  seen.set(route.id, byStatus);
}

afterAll(() => {
  const lines = [...seen].map(([id, byStatus]) => {
    const counts = [...byStatus].sort(([a], [b]) => a.localeCompare(b)).map(([key, n]) => `${key}×${n}`);
    return `${id.padEnd(52)} ${counts.join("  ")}`;
  });
  console.log(`fuzz: seed ${SEED}, ${RUNS} runs per operation\n${lines.join("\n")}`);
});

/** Learns the ids a run made, so later requests can use them. */
function remember(route: Route, status: number, body: any) {
  const data = body?.data;
  if (status >= 300 || !data) return;
  if (route.id === "POST /api/cart/items" && data.id) pools.items.push(data.id);
  if (route.id === "POST /api/orders" && data.id) pools.orders.push(data.id);
  if (route.id === "POST /api/orders/live/ticket" && data.ticket) pools.tickets.push(data.ticket);
  if (data.nextCursor) pools.cursors.push(data.nextCursor);
}

/**
 * Rules the document states in words, which a JSON Schema cannot: a card's expiry not before the
 * current month, a cursor that this API issued, a guest token that it issued, and a window whose
 * start is not after its end. A 400 naming only those is kept.
 */
const STATED_RULES: [path: RegExp, message: RegExp][] = [
  [/paymentDetails\.expiryDate$/, /expired/],
  [/^cursor$/, /not a cursor this API issued/],
  [/^guestToken$/, /not a valid, unexpired guest token/],
  [/^createdFrom$/, /must not be after createdTo/],
];
function refusedForAStatedRule(body: any): boolean {
  const details: { path: string; message: string }[] = body?.error?.details ?? [];
  return (
    details.length > 0 &&
    details.every((d) => STATED_RULES.some(([path, message]) => path.test(d.path) && message.test(d.message)))
  );
}

type OrderLike = { id?: string; totalAmount?: unknown; items?: unknown };

/**
 * Issue 21: every order the API answers (one order, or a page of them) totals its lines, and each
 * line is its price times its quantity.
 */
function orderTotalProblems(body: any): string[] {
  const data = body?.data;
  const orders: OrderLike[] = Array.isArray(data?.orders) ? data.orders : data ? [data] : [];
  const problems: string[] = [];
  for (const order of orders) {
    if (typeof order?.totalAmount !== "number" || !Array.isArray(order.items)) continue;
    const items = order.items as { price: number; quantity: number; totalPrice: number }[];
    for (const item of items) {
      if (item.totalPrice !== item.price * item.quantity)
        problems.push(
          `order ${order.id}: line totalPrice ${item.totalPrice} ≠ ${item.price} × ${item.quantity}`,
        );
    }
    const sum = items.reduce((total, item) => total + item.totalPrice, 0);
    if (order.totalAmount !== sum)
      problems.push(`order ${order.id}: totalAmount ${order.totalAmount} ≠ Σ lines ${sum}`);
  }
  return problems;
}

function check(route: Route, plan: Plan, result: Awaited<ReturnType<typeof send>>) {
  const { status, verdict } = result;
  const problems = contractViolations(route, status, result.headers, result.body);
  if (status < 300) problems.push(...orderTotalProblems(result.body));
  if (status >= 500) problems.push(`answered ${status}`);
  if (!result.headers.get("x-request-id")) problems.push("no X-Request-Id");
  const guest = plan.auth === "guest";
  const authenticated = VALID_AUTH.includes(plan.auth) || (guest && route.guests);
  // The body limit is checked before the token (a large body is refused before any work).
  if (route.auth === "bearer" && guest && !route.guests) {
    if (
      ![403, 413].includes(status) ||
      (status === 403 &&
        (result.body as { error?: { code?: string } } | null)?.error?.code !== "SIGN_IN_REQUIRED")
    )
      problems.push(`guest token: ${status}, not 403 SIGN_IN_REQUIRED`);
  } else if (route.auth === "bearer" && !authenticated && ![401, 413].includes(status)) {
    problems.push(`${plan.auth} token: ${status}, not 401`);
  }
  if (route.auth === "bearer" && authenticated) {
    if (status === 401) problems.push("a valid token was refused");
    if (verdict === "valid" && status === 400 && !refusedForAStatedRule(result.body)) {
      problems.push("schema-valid input refused as invalid");
    }
    // 403 before 400: an admin route refuses anyone else whatever the input.
    const forbidden = route.path.startsWith("/api/admin/") && plan.auth !== "admin";
    const oversized = plan.body !== undefined && "oversized" in plan.body;
    if (forbidden && !oversized && status !== 403) problems.push(`a non-admin answered ${status}, not 403`);
    const expected = oversized ? 413 : forbidden ? 403 : result.mediaRefused ? 415 : 400;
    if (verdict === "invalid" && status !== expected)
      problems.push(`invalid input answered ${status}, not ${expected}`);
  }
  if (problems.length > 0) {
    throw new Error(
      `${route.id}: ${problems.join("; ")}\nrequest: ${JSON.stringify(result.request)}\n` +
        `response ${status}: ${JSON.stringify(result.body)}`,
    );
  }
}

describe("fuzzing every operation of the OpenAPI document", () => {
  it("serves the document the fuzzer reads", async () => {
    const served = await api("GET", "/openapi.json");
    expect(Object.keys(served.body.paths)).toEqual(Object.keys(DOCUMENT.paths));
    expect(ROUTES.length).toBeGreaterThanOrEqual(17);
  });

  it.each(
    ROUTES.flatMap((route) => (["any", "valid"] as const).map((mode) => [route.id, mode, route] as const)),
  )(
    "%s (%s input)",
    async (_, mode, route) => {
      await fc.assert(
        fc.asyncProperty(planOf(route, mode), async (plan) => {
          const result = await send(route, plan);
          remember(route, result.status, result.body);
          count(route, result.status, result.body);
          check(route, plan, result);
        }),
        { seed: SEED, numRuns: mode === "any" ? RUNS : Math.ceil(RUNS / 2), verbose: 1 },
      );
    },
    Math.max(60_000, RUNS * 2_000),
  );
});

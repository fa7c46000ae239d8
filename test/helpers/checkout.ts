// What the checkout tests share: a cart as its owner reads it, the stock calls a product took, the
// isolate's memory of the database, a key taken by another operation, and a checkout run as the
// route runs it on a database of the test's choosing.
import { env } from "cloudflare:workers";
import { neonConfig } from "@neondatabase/serverless";
import { expect } from "vitest";
import { getConfig } from "../../src/config.ts";
import type { Database } from "../../src/db/client.ts";
import { claimIdempotencyKey } from "../../src/db/queries.ts";
import type { CreateOrderBody } from "../../src/schemas/order.ts";
import { idempotentDeferred } from "../../src/services/idempotency.ts";
import { checkout } from "../../src/services/orders/checkout.ts";
import { api } from "./http.ts";
import { CASH_ON_DELIVERY, orderDeps, placeOrder, withDb } from "./orders.ts";
import { productCalls, type TestProduct } from "./products.ts";

type User = { headers: Record<string, string> };

/** The user's cart as [productId, quantity] pairs. */
export async function cartOf(user: User): Promise<[string, number][]> {
  return (await api("GET", "/api/cart", { headers: user.headers })).body.data.items.map(
    (item: { productId: string; quantity: number }) => [item.productId, item.quantity],
  );
}

/** How many stock changes (reservations and releases) the product service answered for `product`. */
export async function stockCalls(product: TestProduct, since = 0): Promise<number> {
  return (await productCalls(product.id)).slice(since).filter((call) => call.method === "PATCH").length;
}

/** The worker's isolate hears the database answer (readiness asks it), as a busy isolate has lately. */
export async function databaseAnswered(): Promise<void> {
  expect((await api("GET", "/health/ready")).status).toBe(200);
}

/**
 * Resolves once the product service has a call for `product` in flight: a checkout of it holds its
 * cart's lock by then (it reads and reserves only once locked). Fails after 5 s.
 */
export async function checkoutUnderway(product: TestProduct): Promise<void> {
  for (const started = Date.now(); Date.now() - started < 5000; ) {
    if ((await productCalls(product.id)).some((call) => call.endedAt === null)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no checkout of product ${product.id} got as far as the product service`);
}

/**
 * Retries the user's checkout with `key` and the same body, and expects the key's stored answer
 * replayed: `placed`'s answer, when given. Answers the retry.
 */
export async function expectReplay(
  user: User,
  key: string,
  placed?: { body: { data: unknown } },
  body: CreateOrderBody = CASH_ON_DELIVERY,
) {
  const retried = await placeOrder(user, body, { "idempotency-key": key });
  expect(retried.body.error?.code).toBeUndefined();
  expect(retried.status).toBe(201);
  expect(retried.headers.get("idempotent-replayed")).toBe("true");
  if (placed) expect(retried.body.data).toEqual(placed.body.data);
  return retried;
}

/** `key` of the user's, claimed in the database by another operation's request, still in flight. */
export async function keyTakenElsewhere(userId: number, key: string): Promise<void> {
  await withDb((database) =>
    database.once((db) =>
      claimIdempotencyKey(db, {
        userId,
        key,
        scope: "POST /api/orders/00000000-0000-7000-8000-000000000000/payment",
        requestHash: "another request",
        claimToken: crypto.randomUUID(),
        lockSeconds: 60,
        ttlSeconds: 60,
      }),
    ),
  );
}

/** A checkout with `key`, as the route runs it, on `database`; `answered` is called as it answers. */
export function checkoutWith(
  database: Database,
  userId: number,
  key: string,
  body: CreateOrderBody = CASH_ON_DELIVERY,
  answered: () => void = () => {},
) {
  const deps = orderDeps(database);
  return idempotentDeferred(database, { userId, key, scope: "POST /api/orders", body }, async (complete) => {
    const order = await checkout(deps, userId, body, complete);
    answered();
    return { status: 201, body: order };
  }).finally(() => deps.events.drain().finally(() => database.close()));
}

/** Requests to the SQL-over-HTTP endpoint (each a statement or a batch: a round trip) made by `work`. */
export async function sqlRequests<T>(work: () => Promise<T>): Promise<{ requests: number; result: T }> {
  const endpoint = getConfig(env).DATABASE_HTTP_ENDPOINT as string;
  const previous = neonConfig.fetchFunction;
  let requests = 0;
  neonConfig.fetchFunction = (input: RequestInfo | URL, init?: RequestInit) => {
    if (String(input instanceof Request ? input.url : input).startsWith(endpoint)) requests += 1;
    return fetch(input, init);
  };
  try {
    return { result: await work(), requests };
  } finally {
    neonConfig.fetchFunction = previous;
  }
}

import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { type SQL, sql } from "drizzle-orm";
import { expect } from "vitest";
import { ProductClient } from "../../src/clients/product.ts";
import { getConfig } from "../../src/config.ts";
import { Database, type Tx } from "../../src/db/client.ts";
import type { Placement } from "../../src/db/queries.ts";
import worker from "../../src/index.ts";
import { uuidv7 } from "../../src/lib/ids.ts";
import { newPlacement } from "../../src/services/orders/checkout.ts";
import type { OrderDeps } from "../../src/services/orders/deps.ts";
import { EventPublisher } from "../../src/services/outbox.ts";
import { api } from "./http.ts";
import { createProduct, type TestProduct } from "./products.ts";

/** SPEC §3's example body, exactly as written (with an expiry that has not passed). */
export const SEED_ORDER = {
  shippingAddress: {
    street: "123 Main St",
    city: "Mumbai",
    state: "Maharashtra",
    postalCode: "400001",
    country: "India",
  },
  paymentMethod: "credit_card",
  paymentDetails: { cardNumber: "**** **** **** 1234", expiryDate: "12/30" },
} as const;

export const DECLINED_CARD = {
  ...SEED_ORDER,
  paymentDetails: { cardNumber: "**** **** **** 0002", expiryDate: "12/30" },
};
export const CASH_ON_DELIVERY = {
  shippingAddress: SEED_ORDER.shippingAddress,
  paymentMethod: "cash_on_delivery" as const,
};

type User = { headers: Record<string, string> };

export async function addToCart(user: User, productId: string, quantity: number) {
  const res = await api("POST", "/api/cart/items", { headers: user.headers, json: { productId, quantity } });
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  return res.body.data;
}

/** A new product, `quantity` of which is in the user's cart. */
export async function cartWith(user: User, quantity = 1, product: Partial<TestProduct> = {}) {
  const created = await createProduct({ stock: 100, ...product });
  await addToCart(user, created.id, quantity);
  return created;
}

export async function placeOrder(
  user: User,
  body: unknown = SEED_ORDER,
  headers: Record<string, string> = {},
) {
  return api("POST", "/api/orders", { headers: { ...user.headers, ...headers }, json: body });
}

/** Polls until `check` passes (the mock gateway and the sweep work asynchronously). */
export async function eventually<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Places an order whose payment the mock gateway declines, and waits until it has. */
export async function declinedOrder(user: User, body: unknown = DECLINED_CARD) {
  const placed = await placeOrder(user, body);
  expect(placed.status).toBe(201);
  const order = await eventually(
    () => orderOf(user, placed.body.data.id),
    (current) => current.paymentStatus === "failed",
  );
  expect(order.paymentStatus).toBe("failed");
  return order;
}

/** Places the seed's card order and waits until the mock gateway has settled it as paid. */
export async function paidOrder(user: User) {
  const placed = await placeOrder(user);
  expect(placed.status).toBe(201);
  const order = await eventually(
    () => orderOf(user, placed.body.data.id),
    (current) => current.status === "paid",
  );
  expect(order.status).toBe("paid");
  return order;
}

export async function orderOf(user: User, orderId: string) {
  return (await api("GET", `/api/orders/${orderId}`, { headers: user.headers })).body.data;
}

/** The test run's own database, for asserting rows and arranging time (e.g. a passed payment deadline). */
export async function withDb<T>(work: (database: Database) => Promise<T>): Promise<T> {
  const database = new Database(getConfig(env));
  try {
    return await work(database);
  } finally {
    await database.close();
  }
}

/** What an order flow runs on, as a request builds it, with `database` in place of the request's own. */
export function orderDeps(database: Database): OrderDeps {
  const config = getConfig(env);
  return {
    env,
    config,
    database,
    products: new ProductClient(config.PRODUCT_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS),
    events: new EventPublisher(env, database),
  };
}

/** Rows of a query written with drizzle's `sql` tag (values are bound, never interpolated). */
export async function query<T = Record<string, unknown>>(statement: SQL): Promise<T[]> {
  return withDb(async (database) => (await database.db.execute(statement)).rows as T[]);
}

/** Resolves once a session waits for a lock that the transaction `tx` holds; fails after 5 s. */
export async function someoneWaitsOn(tx: Tx) {
  const [holder] = (await tx.execute(sql`SELECT pg_backend_pid() AS pid`)).rows as { pid: number }[];
  for (const started = Date.now(); Date.now() - started < 5000; ) {
    const [waiting] = await query<{ count: number }>(
      sql`SELECT count(*)::int AS count FROM pg_stat_activity WHERE ${holder?.pid}::int = ANY(pg_blocking_pids(pid))`,
    );
    if (waiting?.count) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("nobody came to wait for the order's lock");
}

/** Runs the worker's scheduled sweep, as the cron trigger does. */
export async function runSweep() {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "* * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

/**
 * The rows checkout hands to `placeOrder` for a cash-on-delivery order of one unit of `productId`,
 * for tests that place orders below the HTTP surface.
 */
export function placementFor(
  userId: number,
  { orderId = uuidv7(), productId = "p-test" } = {},
): Omit<Placement, "also"> {
  const line = { productId, productName: "Test", price: 100, quantity: 1, totalPrice: 100, image: null };
  return newPlacement(getConfig(env), {
    orderId,
    userId,
    body: CASH_ON_DELIVERY,
    lines: [line],
    currency: "USD",
  });
}

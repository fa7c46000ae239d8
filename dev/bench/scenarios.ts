// The bench's data and its scenarios: products, carts, orders, guests and admin data seeded through
// the worker, the product stand-in and SQL, and the requests each endpoint's load cycles through.
import { SignJWT } from "jose";
import { issueGuestToken } from "../../src/lib/guest-tokens.ts";
import { SEARCH_ORDERS, seedPaidOrders, seedSearchableOrders } from "./admin-orders.ts";
import type { RequestSpec, Scenario } from "./load.ts";
import { BENCH_JWT_SECRET } from "./stack.ts";

const SHIPPING = {
  shippingAddress: {
    street: "123 Main St",
    city: "Mumbai",
    state: "Maharashtra",
    postalCode: "400001",
    country: "India",
  },
  paymentMethod: "cash_on_delivery",
};

interface Product {
  id: string;
}

async function call(
  base: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(new URL(path, base), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function token(userId: number, role: "USER" | "ADMIN" = "USER"): Promise<string> {
  return new SignJWT({ role })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(String(userId))
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(BENCH_JWT_SECRET));
}

/** 198.18.0.0/15 is set aside for benchmarks (RFC 2544). */
const BENCH_ADDRESSES = Array.from({ length: 256 }, (_, i) => `198.18.${i >> 7}.${(i & 127) + 1}`);

/** Each request from one of BENCH_ADDRESSES in turn, as storefront clients would arrive. */
export function withAddresses(scenario: Scenario): Scenario {
  const address = (i: number) => BENCH_ADDRESSES[i % BENCH_ADDRESSES.length] as string;
  return {
    ...scenario,
    requests: scenario.requests.map((spec, i) => ({ ...spec, ip: address(i) })),
    ...(scenario.setup
      ? { setup: scenario.setup.map((specs) => specs.map((spec, i) => ({ ...spec, ip: address(i) }))) }
      : {}),
  };
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

const CART_READ_USERS = 64;
const CART_READ_LINES = 3;
const CART_ADD_USERS = 256;
const CART_ADD_PRODUCTS = 8;
const CART_UPDATE_USERS = 64;
const ORDER_USERS = 16;
const ORDERS_PER_USER = 3;
const CHECKOUT_LINES = 3;
/** Checkouts prepared (one fresh user and a 3-line cart each, filled between rounds): enough for every level. */
const CHECKOUT_USERS = 6000;
/** Merges prepared (a fresh user and a guest whose 3-line cart is filled between rounds). */
const MERGE_USERS = 4000;
/** Paid orders prepared for the status change row (each moved to processing once). */
const STATUS_CHANGES = 12_000;

export async function seed(
  worker: string,
  productService: string,
  databaseUrl: string,
): Promise<{ scenarios: Scenario[]; data: string }> {
  await seedSearchableOrders(databaseUrl);
  const paidOrders = await seedPaidOrders(databaseUrl, STATUS_CHANGES);
  const admin = await token(900_001, "ADMIN");
  const createProduct = async (name: string): Promise<Product> =>
    (await call(productService, "POST", "/__admin/products", undefined, {
      name,
      price: 1999,
      currency: "USD",
      stock: 1_000_000_000,
      isActive: true,
    })) as Product;
  const cartProducts = await Promise.all(
    range(1, CART_READ_LINES).map((i) => createProduct(`Bench cart ${i}`)),
  );
  const addProducts = await Promise.all(
    range(1, CART_ADD_PRODUCTS).map((i) => createProduct(`Bench add ${i}`)),
  );
  const orderProduct = await createProduct("Bench order");
  const mergeProducts = await Promise.all(range(1, 3).map((i) => createProduct(`Bench merge ${i}`)));
  const checkoutProducts = await Promise.all(
    range(1, CHECKOUT_LINES).map((i) => createProduct(`Bench checkout ${i}`)),
  );

  const [readUsers, addUsers, updateUsers, orderUsers, checkoutUsers] = [
    range(100_001, CART_READ_USERS),
    range(200_001, CART_ADD_USERS),
    range(250_001, CART_UPDATE_USERS),
    range(300_001, ORDER_USERS),
    range(1_000_001, CHECKOUT_USERS),
  ];
  const tokens = new Map<number, string>();
  for (const id of [...readUsers, ...addUsers, ...updateUsers, ...orderUsers, ...checkoutUsers])
    tokens.set(id, await token(id));
  const tokenOf = (id: number) => tokens.get(id) as string;

  // Warm carts: 3 lines each, for reads and for quantity updates (whose line ids are kept).
  const lines: { userId: number; itemId: string }[] = [];
  await mapLimit([...readUsers, ...updateUsers], 8, async (id) => {
    for (const product of cartProducts) {
      const added = (await call(worker, "POST", "/api/cart/items", tokenOf(id), {
        productId: product.id,
        quantity: 1,
      })) as { data: { id: string } };
      if (updateUsers.includes(id)) lines.push({ userId: id, itemId: added.data.id });
    }
  });

  // A few orders per user (each from a one-line cart).
  const orders: { userId: number; orderId: string }[] = [];
  await mapLimit(orderUsers, 8, async (userId) => {
    for (let n = 0; n < ORDERS_PER_USER; n++) {
      await call(worker, "POST", "/api/cart/items", tokenOf(userId), {
        productId: orderProduct.id,
        quantity: 1,
      });
      const placed = (await call(worker, "POST", "/api/orders", tokenOf(userId), SHIPPING)) as {
        data: { id: string };
      };
      orders.push({ userId, orderId: placed.data.id });
    }
  });

  // Adds: user-major rotation, so each (user, product) line grows by 1 only every
  // CART_ADD_USERS × CART_ADD_PRODUCTS requests (99 per line takes ~200k requests).
  const adds: RequestSpec[] = [];
  for (const product of addProducts)
    for (const id of addUsers)
      adds.push({
        method: "POST",
        path: "/api/cart/items",
        token: tokenOf(id),
        body: JSON.stringify({ productId: product.id, quantity: 1 }),
      });

  // Updates: each line cycles through quantities 1, 2, 3 (growing re-reads the product, shrinking does not).
  const updates: RequestSpec[] = [];
  for (const quantity of [2, 3, 1])
    for (const { userId, itemId } of lines)
      updates.push({
        method: "PUT",
        path: `/api/cart/items/${itemId}`,
        token: tokenOf(userId),
        body: JSON.stringify({ quantity }),
      });

  const orderReads = (suffix: string): RequestSpec[] =>
    orders.map(({ userId, orderId }) => ({
      method: "GET",
      path: `/api/orders/${orderId}${suffix}`,
      token: tokenOf(userId),
    }));

  // Merges: a fresh user each takes over a guest's 3-line cart, filled just before its round.
  const guestSecret = { JWT_SECRET: BENCH_JWT_SECRET, GUEST_TTL_DAYS: 1 };
  const mergeUsers = range(2_000_001, MERGE_USERS);
  const guests = await Promise.all(mergeUsers.map(() => issueGuestToken(guestSecret)));
  const merges: RequestSpec[] = [];
  const guestFills: RequestSpec[][] = [];
  for (const [i, userId] of mergeUsers.entries()) {
    const guest = (guests[i] as { token: string }).token;
    merges.push({
      method: "POST",
      path: "/api/cart/merge",
      token: await token(userId),
      body: JSON.stringify({ guestToken: guest }),
    });
    guestFills.push(
      mergeProducts.map((product) => ({
        method: "POST",
        path: "/api/cart/items",
        token: guest,
        body: JSON.stringify({ productId: product.id, quantity: 1 }),
      })),
    );
  }

  // Checkouts: a fresh user each, whose 3-line cart is filled just before its round (unmeasured),
  // with an Idempotency-Key as the typed client sends.
  const checkouts: RequestSpec[] = checkoutUsers.map((id) => ({
    method: "POST",
    path: "/api/orders",
    token: tokenOf(id),
    body: JSON.stringify(SHIPPING),
    idempotencyKey: `bench-checkout-${id}`,
  }));
  const fills: RequestSpec[][] = checkoutUsers.map((id) =>
    checkoutProducts.map((product) => ({
      method: "POST",
      path: "/api/cart/items",
      token: tokenOf(id),
      body: JSON.stringify({ productId: product.id, quantity: 1 }),
    })),
  );

  // Status changes: an admin moves a different paid order to processing each time.
  const statusChanges: RequestSpec[] = paidOrders.map((orderId) => ({
    method: "PUT",
    path: `/api/orders/${orderId}/status`,
    token: admin,
    body: JSON.stringify({ status: "processing" }),
  }));

  const scenarios: Scenario[] = [
    { name: "GET /health", requests: [{ method: "GET", path: "/health" }] },
    {
      name: "GET /api/cart",
      requests: readUsers.map((id) => ({ method: "GET", path: "/api/cart", token: tokenOf(id) })),
    },
    { name: "POST /api/cart/items", requests: adds },
    { name: "PUT /api/cart/items/{id}", requests: updates },
    {
      name: "GET /api/orders?limit=20",
      requests: orderUsers.map((id) => ({ method: "GET", path: "/api/orders?limit=20", token: tokenOf(id) })),
    },
    { name: "GET /api/orders/{id}", requests: orderReads("") },
    { name: "GET /api/orders/{id}/tracking", requests: orderReads("/tracking") },
    { name: "POST /api/orders (checkout)", requests: checkouts, setup: fills },
    {
      name: "PUT /api/orders/{id}/status",
      requests: statusChanges,
      setup: statusChanges.map(() => []),
    },
    { name: "POST /api/cart/merge", requests: merges, setup: guestFills },
    {
      name: "GET /api/admin/orders?status=",
      // Rotating over the statuses, rare and common: each request one statement on its index.
      requests: ["processing", "pending", "shipped", "paid"].map((status) => ({
        method: "GET",
        path: `/api/admin/orders?status=${status}&limit=20`,
        token: admin,
      })),
    },
  ];
  const data = `${CART_READ_USERS} carts × ${CART_READ_LINES} lines; adds rotate ${CART_ADD_USERS} users × ${CART_ADD_PRODUCTS} products; updates cycle ${CART_UPDATE_USERS} users × ${CART_READ_LINES} lines; ${ORDER_USERS} users × ${ORDERS_PER_USER} orders; checkout: a fresh user's ${CHECKOUT_LINES}-line cart each (cash on delivery, with an Idempotency-Key), carts filled between rounds; merge: a fresh user takes over a guest's 3-line cart each, guest carts filled between rounds; status change: an admin moves one of ${STATUS_CHANGES.toLocaleString("en")} paid orders to processing each; admin search over ${SEARCH_ORDERS.toLocaleString("en")} more orders (both generated in SQL)`;
  return { scenarios, data };
}

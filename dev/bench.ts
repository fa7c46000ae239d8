// `npm run bench [-- --connections 1,16,64 --duration 5 --warmup 1 --timeout 10 --target direct|entry --out FILE]`
//
// Load against the worker running in workerd *directly* (SPEC §6): the worker is bundled the way
// `wrangler deploy` bundles it (`--dry-run`), then served by Miniflare (wrangler's own copy, so the
// same workerd `wrangler dev` uses) on a direct socket into the worker. Neither `wrangler dev`'s proxy
// nor Miniflare's entry worker sits in front of it (`--target entry` measures through the latter).
//
// Everything the worker talks to is local and started here: the product/user/notification stand-ins,
// the Neon wsproxy, the local SQL-over-HTTP endpoint and a database of this run's own on the Postgres
// at 127.0.0.1:5432 (dropped afterwards), or embedded PGlite when none answers. Rate limits are off,
// so load is not throttled. The load itself is autocannon's (dev/bench/load.ts).
//
// Prints, per connection level, one row per endpoint (requests, req/s, p50, p99, errors, ratio of its
// req/s to /health's at the same level in this same run); --out writes the same rows as JSON. Exits
// non-zero when an endpoint answered more than 1% of requests with non-2xx or not at all. Every
// request is bounded by --timeout and the whole run by a watchdog.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { SignJWT } from "jose";
import { issueGuestToken } from "../src/lib/guest-tokens.ts";
import { SEARCH_ORDERS, seedPaidOrders, seedSearchableOrders } from "./bench/admin-orders.ts";
import type { LoadInput, LoadMessage, RequestSpec, Scenario, ScenarioResult } from "./bench/load.ts";
import { applyMigrations, isListening, sql, useWsProxy, withDatabase } from "./db.ts";
import { startEmbeddedPostgres } from "./pglite.ts";
import { startNotificationService, startProductService, startUserService } from "./services/index.ts";
import { startSqlHttp } from "./sqlhttp.ts";
import { bundleWorker, startWorkerd, takeOverSignals } from "./workerd.ts";
import { startWsProxy } from "./wsproxy.ts";

/** An obvious bench value; the worker demands at least 32 bytes. */
const BENCH_JWT_SECRET = "bench-secret-for-npm-run-bench-only-0123456789";
const PG_SERVER = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const MAX_ERROR_RATIO = 0.01;
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

// Offline: no Request.cf download, no telemetry (also for the wrangler child and library).
process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
process.env.WRANGLER_SEND_METRICS = "false";

// ---------------------------------------------------------------------------------------------- options

interface Settings {
  connections: number[];
  durationMs: number;
  warmupMs: number;
  timeoutMs: number;
  target: "direct" | "entry";
  out: string | undefined;
  only: string[] | undefined;
  limits: "off" | "ip" | "all";
  /** Simulated round trip to every origin (Postgres both ways, the three services), in ms. */
  rttMs: number;
}

function usage(): string {
  return `Usage: npm run bench -- [--connections 1,16,64] [--duration SECONDS=5] [--warmup SECONDS=1]
                        [--timeout SECONDS=10] [--target direct|entry] [--out FILE] [--only TEXT,…]
                        [--limits off|ip|all] [--rtt MS=0]
  --connections  comma-separated levels; every endpoint is measured at each (--concurrency is an alias).
  --out          also writes the rows as JSON: [{ endpoint, connections, rps, p50Ms, p99Ms, errors, ratioToHealth, rttMs, p50Rtts }].
  --only         measures only the endpoints whose name contains one of the TEXTs (and /health, for the ratio).
  --limits       off (default): no rate limits; ip: the per-address limit on, every request from one of
                 256 addresses (CF-Connecting-IP); all: the per-user write limit on too. Limits are set
                 far above the load, so what is measured is their cost, never a 429.
  --rtt          every call from the worker to an origin (the SQL-over-HTTP endpoint, each query flight
                 on the wsproxy, the product, user and notification stand-ins) waits MS more, as if the
                 worker ran at the edge that far from them; Durable Objects are not delayed. The tables
                 and rows then also give p50 in round trips (p50Rtts).
  --timeout      bounds each request (whole seconds).
  --target entry measures through Miniflare's entry worker instead of the direct socket.`;
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      connections: { type: "string" },
      concurrency: { type: "string" },
      duration: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      timeout: { type: "string", default: "10" },
      target: { type: "string", default: "direct" },
      out: { type: "string" },
      only: { type: "string" },
      limits: { type: "string", default: "off" },
      rtt: { type: "string", default: "0" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  const number = (name: string, text: string, min: number, max: number): number => {
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || value > max) {
      console.error(`--${name} must be a number from ${min} to ${max}\n${usage()}`);
      process.exit(2);
    }
    return value;
  };
  if (values.target !== "direct" && values.target !== "entry") {
    console.error(`--target must be direct or entry\n${usage()}`);
    process.exit(2);
  }
  if (values.limits !== "off" && values.limits !== "ip" && values.limits !== "all") {
    console.error(`--limits must be off, ip or all\n${usage()}`);
    process.exit(2);
  }
  const levels = (values.connections ?? values.concurrency ?? "1,16,64")
    .split(",")
    .map((level) => Math.round(number("connections", level.trim(), 1, 1024)));
  return {
    connections: [...new Set(levels)],
    durationMs: number("duration", values.duration, 1, 600) * 1000,
    warmupMs: number("warmup", values.warmup, 0, 60) * 1000,
    timeoutMs: Math.round(number("timeout", values.timeout, 1, 120)) * 1000,
    target: values.target,
    out: values.out,
    only: values.only?.split(",").map((text) => text.trim()),
    limits: values.limits,
    rttMs: Math.round(number("rtt", values.rtt, 0, 1000)),
  };
}

// ---------------------------------------------------------------------------------------------- cleanup

const cleanups: { name: string; run: () => Promise<unknown> }[] = [];
let cleaning: Promise<void> | undefined;

function onCleanup(name: string, run: () => Promise<unknown>): void {
  cleanups.push({ name, run });
}

/** Runs every cleanup once, newest first, each bounded so a stuck one cannot hold the process. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const { name, run } of cleanups.reverse()) {
      try {
        await withTimeout(run(), 15_000, `cleanup: ${name}`);
      } catch (error) {
        console.error(`! ${name}: ${(error as Error).message}`);
      }
    }
  })();
  return cleaning;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function shutdown(code: number, why?: string): Promise<never> {
  if (why) console.error(`\n${why}: cleaning up…`);
  await cleanup();
  process.exit(code);
}

// ---------------------------------------------------------------------------------------------- setup

function step(text: string): void {
  console.log(`· ${text}`);
}

async function provisionDatabase(): Promise<{ url: string; kind: string }> {
  const { hostname, port } = new URL(PG_SERVER);
  if (await isListening(hostname, Number(port || 5432))) {
    const name = `order_bench_${process.pid}_${Date.now().toString(36)}`;
    await sql(PG_SERVER, `CREATE DATABASE "${name}"`);
    onCleanup(`drop database ${name}`, () =>
      sql(PG_SERVER, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
    );
    return {
      url: withDatabase(PG_SERVER, name),
      kind: `Postgres at ${hostname}:${port || 5432} (database ${name})`,
    };
  }
  console.warn(
    `No Postgres at ${hostname}:${port || 5432}: using embedded PGlite (single backend, far slower)`,
  );
  const embedded = await startEmbeddedPostgres();
  onCleanup("PGlite", () => embedded.close());
  return { url: embedded.url, kind: "embedded PGlite" };
}

interface WorkerLogs {
  errors: number;
  samples: string[];
}

// ---------------------------------------------------------------------------------------------- seeding

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

/** A rate limit far above what the bench sends: its cost is measured, never a refusal. */
const BENCH_USER_LIMIT = 1_000_000;
/** The highest per-address limit the config takes; 256 addresses × 10000 a minute is ~42k req/s. */
const BENCH_ADDRESS_LIMIT = 10_000;
/** 198.18.0.0/15 is set aside for benchmarks (RFC 2544). */
const BENCH_ADDRESSES = Array.from({ length: 256 }, (_, i) => `198.18.${i >> 7}.${(i & 127) + 1}`);

/** Each request from one of BENCH_ADDRESSES in turn, as storefront clients would arrive. */
function withAddresses(scenario: Scenario): Scenario {
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

async function seed(
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

// ---------------------------------------------------------------------------------------------- load

function runLoad(input: LoadInput): Promise<ScenarioResult[]> {
  const thread = new Worker(new URL("./bench/load.ts", import.meta.url), { workerData: input });
  onCleanup("load thread", () => thread.terminate());
  const results: ScenarioResult[] = [];
  return new Promise((resolve, reject) => {
    thread.on("message", (message: LoadMessage) => {
      if (message.type === "started") step(`load: ${message.name} (${message.connections} connections)`);
      else if (message.type === "result") results.push(message.result);
      else resolve(results);
    });
    thread.once("error", reject);
    thread.once("exit", (code) => reject(new Error(`load thread exited (${code}) before finishing`)));
  });
}

// ---------------------------------------------------------------------------------------------- report

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number;
}

function table(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => (rightAligned[i] ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (rightAligned[i] ? `${"-".repeat(w + 1)}:` : `:${"-".repeat(w + 1)}`)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** One row of the report, and of --out's JSON. */
export interface BenchRow {
  endpoint: string;
  connections: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  ratioToHealth: number;
  /** The simulated round trip to the origins (--rtt), and p50 in those units (null without one). */
  rttMs: number;
  p50Rtts: number | null;
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

function rowsOf(results: ScenarioResult[], rttMs: number): BenchRow[] {
  const rate = (r: ScenarioResult) => (r.elapsedMs > 0 ? (r.requests / r.elapsedMs) * 1000 : 0);
  return results.map((r) => {
    const health = results.find((h) => h.name === "GET /health" && h.connections === r.connections);
    return {
      endpoint: r.name,
      connections: r.connections,
      rps: round(rate(r), 1),
      p50Ms: round(percentile(r.latenciesMs, 50), 2),
      p99Ms: round(percentile(r.latenciesMs, 99), 2),
      errors: r.errors,
      ratioToHealth: health ? round(rate(r) / rate(health), 3) : Number.NaN,
      rttMs,
      p50Rtts: rttMs > 0 ? round(percentile(r.latenciesMs, 50) / rttMs, 2) : null,
    };
  });
}

function report(results: ScenarioResult[], rows: BenchRow[], rttMs: number): boolean {
  let ok = true;
  for (const level of [...new Set(rows.map((row) => row.connections))]) {
    const cells = rows
      .map((row, i) => ({ row, r: results[i] as ScenarioResult }))
      .filter(({ row }) => row.connections === level)
      .map(({ row, r }) => {
        const errorRatio = r.requests === 0 ? 1 : r.errors / r.requests;
        if (errorRatio > MAX_ERROR_RATIO) ok = false;
        return [
          row.endpoint,
          String(r.requests),
          row.rps.toFixed(0),
          row.p50Ms.toFixed(1),
          row.p99Ms.toFixed(1),
          r.errors === 0 ? "0" : `${r.errors} (${(errorRatio * 100).toFixed(1)}%)`,
          row.ratioToHealth.toFixed(2),
          ...(rttMs > 0 ? [(row.p50Rtts ?? 0).toFixed(2)] : []),
        ];
      });
    console.log(`\n${level} connection${level === 1 ? "" : "s"}:\n`);
    console.log(
      table(
        [
          "endpoint",
          "requests",
          "req/s",
          "p50 ms",
          "p99 ms",
          "errors",
          "ratio to /health",
          ...(rttMs > 0 ? [`p50 in RTTs (${rttMs} ms)`] : []),
        ],
        cells,
        [false, true, true, true, true, true, true, true],
      ),
    );
  }
  for (const r of results) {
    if (r.note) console.log(`\n${r.name} at ${r.connections} connections: ${r.note}`);
    if (r.errors === 0) continue;
    const outcomes = Object.entries(r.outcomes)
      .map(([outcome, count]) => `${outcome}×${count}`)
      .join(", ");
    console.log(`\n${r.name} at ${r.connections} connections: ${outcomes}`);
    for (const sample of r.samples) console.log(`  e.g. ${sample}`);
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const settings = readSettings();
  takeOverSignals(shutdown);

  const runs = 12 * settings.connections.length;
  // Seeding and each checkout round's cart filling come on top of the measured windows.
  const budgetMs =
    300_000 + runs * (settings.warmupMs + 2 * settings.durationMs + 2 * settings.timeoutMs + 5_000);
  setTimeout(
    () => void shutdown(1, `Watchdog: the run exceeded ${Math.round(budgetMs / 1000)}s`),
    budgetMs,
  ).unref();

  const outdir = await mkdtemp(join(tmpdir(), "order-bench-"));
  onCleanup("bundle directory", () => rm(outdir, { recursive: true, force: true }));

  step("bundling the worker (wrangler deploy --dry-run)");
  const bundling = bundleWorker(outdir, (kill) => onCleanup("wrangler bundler", async () => kill()));
  bundling.catch(() => {}); // awaited below; not an unhandled rejection meanwhile

  step("starting the stand-in services, the wsproxy, the SQL-over-HTTP endpoint and the database");
  const rttMs = settings.rttMs;
  const product = await startProductService({ port: 0, rttMs });
  onCleanup("product stand-in", () => product.close());
  const user = await startUserService({ port: 0, jwtSecret: BENCH_JWT_SECRET, rttMs });
  onCleanup("user stand-in", () => user.close());
  const notification = await startNotificationService({ port: 0, rttMs });
  onCleanup("notification stand-in", () => notification.close());
  const proxy = await startWsProxy({ port: 0, rttMs });
  // Registered before the database so the database is dropped while the proxy still runs.
  onCleanup("wsproxy", () => proxy.close());
  const wsProxy = useWsProxy(proxy.port);
  const database = await provisionDatabase();
  await applyMigrations(database.url);
  const sqlHttp = await startSqlHttp({
    port: 0,
    allowedHosts: [new URL(database.url).hostname, "127.0.0.1", "localhost", "::1"],
    rttMs,
  });
  // Closed before the database is dropped (cleanups run newest first).
  onCleanup("SQL-over-HTTP endpoint", () => sqlHttp.close());

  const scriptPath = await bundling;
  step("starting workerd (Miniflare)");
  const logs: WorkerLogs = { errors: 0, samples: [] };
  const worker = await startWorkerd({
    scriptPath,
    bindings: {
      ENVIRONMENT: "development",
      JWT_SECRET: BENCH_JWT_SECRET,
      PRODUCT_SERVICE_URL: product.url,
      USER_SERVICE_URL: user.url,
      NOTIFICATION_SERVICE_URL: notification.url,
      DATABASE_URL: database.url,
      DATABASE_WS_PROXY: wsProxy,
      DATABASE_HTTP_ENDPOINT: sqlHttp.url,
      RATE_LIMIT_USER_PER_MIN: settings.limits === "all" ? String(BENCH_USER_LIMIT) : "0",
      RATE_LIMIT_IP_PER_MIN: settings.limits === "off" ? "0" : String(BENCH_ADDRESS_LIMIT),
      // Settle seeded payments at once, so no settlement runs during the measurements.
      PAYMENT_SETTLE_DELAY_MS: "0",
    },
    // The worker logs a line per request: keep only its errors, for the report.
    onLog: (log) => {
      if (log.level !== "error") return;
      logs.errors += 1;
      if (logs.samples.length < 3) logs.samples.push(log.message.slice(0, 400));
    },
  });
  onCleanup("Miniflare (workerd)", () => worker.dispose());
  takeOverSignals(shutdown);
  const target = settings.target === "direct" ? worker.direct : worker.entry;
  const origin = target.origin;

  step("seeding carts and orders");
  const { scenarios, data } = await seed(origin, product.url, database.url);
  await new Promise((resolve) => setTimeout(resolve, 500));

  const cpuList = cpus();
  console.log(`
Machine:  ${cpuList.length} CPUs (${cpuList[0]?.model.trim() ?? "unknown"}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${process.platform}/${process.arch}, Node ${process.version}, load average ${loadavg()
    .map((n) => n.toFixed(2))
    .join(" ")} (other processes share these CPUs)
Worker:   workerd via Miniflare ${worker.miniflareVersion} (wrangler's own), bundle from wrangler deploy --dry-run
Target:   ${origin} (${settings.target === "direct" ? "direct socket into the worker: no wrangler dev proxy, no Miniflare entry worker" : "Miniflare's entry socket: its entry worker in front, still no wrangler dev proxy"})
Database: ${database.kind}, reads through dev/sqlhttp.ts (HTTP path), transactions through dev/wsproxy.ts
Load:     autocannon, connections ${settings.connections.join(", ")}; ${settings.warmupMs / 1000}s warm-up + ${settings.durationMs / 1000}s per endpoint and level, request timeout ${settings.timeoutMs / 1000}s, rate limits ${settings.limits === "off" ? "off" : settings.limits === "ip" ? "per address (256 addresses)" : "per address (256 addresses) and per user"}${settings.rttMs > 0 ? `; every origin ${settings.rttMs} ms away (--rtt)` : ""}
Data:     ${data}
`);

  const results = await runLoad({
    origin,
    levels: settings.connections,
    warmupMs: settings.warmupMs,
    durationMs: settings.durationMs,
    timeoutMs: settings.timeoutMs,
    scenarios: scenarios
      .filter(
        (scenario) =>
          !settings.only ||
          scenario.name === "GET /health" ||
          settings.only.some((text) => scenario.name.includes(text)),
      )
      .map((scenario) => (settings.limits === "off" ? scenario : withAddresses(scenario))),
  });
  const rows = rowsOf(results, settings.rttMs);
  const ok = report(results, rows, settings.rttMs);
  if (settings.out) {
    await writeFile(settings.out, `${JSON.stringify(rows, null, 2)}\n`);
    console.log(`\nWrote ${rows.length} rows to ${settings.out}`);
  }
  if (logs.errors > 0) {
    console.log(`\nThe worker logged ${logs.errors} error line(s), e.g.:`);
    for (const sample of logs.samples) console.log(`  ${sample}`);
  }
  if (!ok)
    console.error(
      `\nFAIL: an endpoint answered more than ${MAX_ERROR_RATIO * 100}% of requests with an error`,
    );
  await shutdown(ok ? 0 : 1);
}

main().catch((error) => {
  // Once a signal or the watchdog started the cleanup, the failures it causes are expected.
  if (!cleaning) console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  void shutdown(1);
});

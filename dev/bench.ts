// `npm run bench [-- --concurrency 32 --duration 5 --warmup 1 --timeout 10 --target direct|entry]`
//
// Load against the worker running in workerd *directly* (SPEC §6): the worker is bundled the way
// `wrangler deploy` bundles it (`--dry-run`), then served by Miniflare (wrangler's own copy, so the
// same workerd `wrangler dev` uses) on a direct socket into the worker. Neither `wrangler dev`'s proxy
// nor Miniflare's entry worker sits in front of it (`--target entry` measures through the latter).
//
// Everything the worker talks to is local and started here: the product/user/notification stand-ins,
// the Neon wsproxy and a database of this run's own on the Postgres at 127.0.0.1:5432 (dropped
// afterwards), or embedded PGlite when none answers. Rate limits are off, so load is not throttled.
//
// Prints one row per endpoint (requests, req/s, p50, p99, errors, ratio of its req/s to /health's in
// this same run) and exits non-zero when an endpoint answered more than 1% of requests with non-2xx
// or not at all. Every request is bounded by --timeout and the whole run by a watchdog.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { SignJWT } from "jose";
import type { LoadInput, LoadMessage, RequestSpec, Scenario, ScenarioResult } from "./bench/load.ts";
import { applyMigrations, isListening, sql, useWsProxy, withDatabase } from "./db.ts";
import { startEmbeddedPostgres } from "./pglite.ts";
import { startNotificationService, startProductService, startUserService } from "./services/index.ts";
import { ROOT } from "./settings.ts";
import { startWsProxy } from "./wsproxy.ts";

const WRANGLER_TOML = join(ROOT, "wrangler.toml");
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
  concurrency: number;
  durationMs: number;
  warmupMs: number;
  timeoutMs: number;
  target: "direct" | "entry";
}

function usage(): string {
  return `Usage: npm run bench -- [--concurrency N=32] [--duration SECONDS=5] [--warmup SECONDS=1]
                        [--timeout SECONDS=10] [--target direct|entry]
  --timeout bounds each request (undici's timers tick about once a second, so it is at least 1s).
  --target entry measures through Miniflare's entry worker instead of the direct socket.`;
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      concurrency: { type: "string", default: "32" },
      duration: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      timeout: { type: "string", default: "10" },
      target: { type: "string", default: "direct" },
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
  return {
    concurrency: Math.round(number("concurrency", values.concurrency, 1, 1024)),
    durationMs: number("duration", values.duration, 0.1, 600) * 1000,
    warmupMs: number("warmup", values.warmup, 0, 60) * 1000,
    timeoutMs: number("timeout", values.timeout, 1, 120) * 1000,
    target: values.target,
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

/**
 * Makes a signal run the async cleanup. Miniflare (through its exit hook) and wrangler install
 * SIGINT/SIGTERM listeners that exit at once, which would skip dropping the database: called again
 * once they are loaded, this removes theirs. (Miniflare's "exit" hook, which kills workerd, stays.)
 * A second signal during cleanup gets Node's default: immediate exit.
 */
function takeOverSignals(): void {
  for (const [signal, number] of [
    ["SIGINT", 2],
    ["SIGTERM", 15],
    ["SIGHUP", 1],
  ] as const) {
    process.removeAllListeners(signal);
    process.once(signal, () => void shutdown(128 + number, signal));
  }
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

/** Bundles the worker exactly as `wrangler deploy` would, into `outdir/index.js`. */
async function bundle(outdir: string): Promise<string> {
  const wrangler = join(
    dirname(createRequire(import.meta.url).resolve("wrangler/package.json")),
    "bin/wrangler.js",
  );
  const args = [wrangler, "deploy", "--dry-run", "--outdir", outdir, "--config", WRANGLER_TOML];
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: process.env, stdio: "pipe" });
    onCleanup("wrangler bundler", async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    child.stdout.on("data", (chunk) => output.push(String(chunk)));
    child.stderr.on("data", (chunk) => output.push(String(chunk)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.once("error", reject);
    child.once("close", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  if (code !== 0) throw new Error(`wrangler deploy --dry-run failed (exit ${code}):\n${output.join("")}`);
  return join(outdir, "index.js");
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

interface WranglerConfig {
  compatibility_date?: string;
  compatibility_flags?: string[];
  vars?: Record<string, unknown>;
  durable_objects?: { bindings?: { name: string; class_name: string }[] };
  migrations?: unknown[];
}

interface WranglerApi {
  unstable_readConfig(args: { config: string }): WranglerConfig;
  unstable_getDurableObjectClassNameToUseSQLiteMap(migrations: unknown): Map<string, boolean>;
}

// Miniflare's API, as much of it as the bench uses (loaded from wrangler's own dependency at runtime).
interface MiniflareInstance {
  ready: Promise<URL>;
  unsafeGetDirectURL(workerName?: string, entrypoint?: string): Promise<URL>;
  dispose(): Promise<void>;
}
interface MiniflareModule {
  Miniflare: new (options: unknown) => MiniflareInstance;
  /** Miniflare 5 takes `{ workers: [...] }`; this maps the flat v4 options its README documents. */
  convertV4MiniflareOptions(options: Record<string, unknown>): unknown;
  Log: new (level: number) => unknown;
  LogLevel: Record<string, number>;
}

/** Miniflare as wrangler itself resolves it (wrangler pins its own copy, newer than the top-level one). */
function loadMiniflare(): { module: MiniflareModule; version: string } {
  const fromWrangler = createRequire(createRequire(import.meta.url).resolve("wrangler/package.json"));
  const module = fromWrangler("miniflare") as MiniflareModule;
  const { version } = fromWrangler("miniflare/package.json") as { version: string };
  return { module, version };
}

interface WorkerLogs {
  errors: number;
  samples: string[];
}

async function startWorker(
  scriptPath: string,
  bindings: Record<string, string>,
  logs: WorkerLogs,
): Promise<{ direct: URL; entry: URL; miniflareVersion: string }> {
  const wrangler = (await import("wrangler")) as unknown as WranglerApi;
  const config = wrangler.unstable_readConfig({ config: WRANGLER_TOML });
  const sqlite = wrangler.unstable_getDurableObjectClassNameToUseSQLiteMap(config.migrations ?? []);
  const durableObjects = Object.fromEntries(
    (config.durable_objects?.bindings ?? []).map((binding) => [
      binding.name,
      { className: binding.class_name, useSQLite: sqlite.get(binding.class_name) ?? false },
    ]),
  );
  const vars = Object.fromEntries(
    Object.entries(config.vars ?? {}).map(([key, value]) => [key, String(value)]),
  );

  const { module, version } = loadMiniflare();
  const options = module.convertV4MiniflareOptions({
    name: "order-service",
    modules: true,
    scriptPath,
    // Module names are relative to this; the bundle lives outside the repository.
    modulesRoot: dirname(scriptPath),
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    durableObjects,
    bindings: { ...vars, ...bindings },
    host: "127.0.0.1",
    port: 0,
    // A socket straight into the worker's default export: no entry worker, no dev proxy.
    unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    log: new module.Log(module.LogLevel.WARN ?? 2),
    // The worker logs a line per request: keep only its errors, for the report.
    handleStructuredLogs: (log: { level: string; message: string }) => {
      if (log.level !== "error") return;
      logs.errors += 1;
      if (logs.samples.length < 3) logs.samples.push(log.message.slice(0, 400));
    },
  });
  // (The converted options also keep the dev registry off: nothing is advertised to or found from other sessions.)
  const mf = new module.Miniflare(options);
  onCleanup("Miniflare (workerd)", () => mf.dispose());
  const entry = await mf.ready;
  const direct = await mf.unsafeGetDirectURL();
  return { direct, entry, miniflareVersion: version };
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

function token(userId: number): Promise<string> {
  return new SignJWT({ role: "USER" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(String(userId))
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(BENCH_JWT_SECRET));
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

const CART_READ_USERS = 64;
const CART_READ_LINES = 3;
const CART_ADD_USERS = 256;
const CART_ADD_PRODUCTS = 8;
const ORDER_USERS = 16;
const ORDERS_PER_USER = 3;

async function seed(worker: string, productService: string): Promise<Scenario[]> {
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

  const [readUsers, addUsers, orderUsers] = [
    range(100_001, CART_READ_USERS),
    range(200_001, CART_ADD_USERS),
    range(300_001, ORDER_USERS),
  ];
  const tokens = new Map<number, string>();
  for (const id of [...readUsers, ...addUsers, ...orderUsers]) tokens.set(id, await token(id));
  const tokenOf = (id: number) => tokens.get(id) as string;

  // Warm carts: 3 lines each.
  await mapLimit(readUsers, 8, async (id) => {
    for (const product of cartProducts)
      await call(worker, "POST", "/api/cart/items", tokenOf(id), { productId: product.id, quantity: 1 });
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

  return [
    { name: "GET /health", requests: [{ method: "GET", path: "/health" }] },
    {
      name: "GET /api/cart",
      requests: readUsers.map((id) => ({ method: "GET", path: "/api/cart", token: tokenOf(id) })),
    },
    { name: "POST /api/cart/items", requests: adds },
    {
      name: "GET /api/orders?limit=20",
      requests: orderUsers.map((id) => ({ method: "GET", path: "/api/orders?limit=20", token: tokenOf(id) })),
    },
    {
      name: "GET /api/orders/{id}",
      requests: orders.map(({ userId, orderId }) => ({
        method: "GET",
        path: `/api/orders/${orderId}`,
        token: tokenOf(userId),
      })),
    },
  ];
}

// ---------------------------------------------------------------------------------------------- load

function runLoad(input: LoadInput): Promise<ScenarioResult[]> {
  const thread = new Worker(new URL("./bench/load.ts", import.meta.url), { workerData: input });
  onCleanup("load thread", () => thread.terminate());
  const results: ScenarioResult[] = [];
  return new Promise((resolve, reject) => {
    thread.on("message", (message: LoadMessage) => {
      if (message.type === "started") step(`load: ${message.name}`);
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

function report(results: ScenarioResult[]): boolean {
  const rate = (r: ScenarioResult) => (r.requests / r.elapsedMs) * 1000;
  const health = results.find((r) => r.name === "GET /health");
  const healthRate = health ? rate(health) : Number.NaN;
  let ok = true;
  const rows = results.map((r) => {
    const errorRatio = r.requests === 0 ? 1 : r.errors / r.requests;
    if (errorRatio > MAX_ERROR_RATIO) ok = false;
    return [
      r.name,
      String(r.requests),
      rate(r).toFixed(0),
      percentile(r.latenciesMs, 50).toFixed(1),
      percentile(r.latenciesMs, 99).toFixed(1),
      r.errors === 0 ? "0" : `${r.errors} (${(errorRatio * 100).toFixed(1)}%)`,
      (rate(r) / healthRate).toFixed(2),
    ];
  });
  console.log(
    `\n${table(["endpoint", "requests", "req/s", "p50 ms", "p99 ms", "errors", "ratio to /health"], rows, [
      false,
      true,
      true,
      true,
      true,
      true,
      true,
    ])}`,
  );
  for (const r of results) {
    if (r.errors === 0) continue;
    const outcomes = Object.entries(r.outcomes)
      .map(([outcome, count]) => `${outcome}×${count}`)
      .join(", ");
    console.log(`\n${r.name}: ${outcomes}`);
    for (const sample of r.samples) console.log(`  e.g. ${sample}`);
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const settings = readSettings();
  takeOverSignals();

  const scenarios = 5;
  const budgetMs =
    180_000 + scenarios * (settings.warmupMs + settings.durationMs + 2 * settings.timeoutMs + 5_000);
  setTimeout(
    () => void shutdown(1, `Watchdog: the run exceeded ${Math.round(budgetMs / 1000)}s`),
    budgetMs,
  ).unref();

  const outdir = await mkdtemp(join(tmpdir(), "order-bench-"));
  onCleanup("bundle directory", () => rm(outdir, { recursive: true, force: true }));

  step("bundling the worker (wrangler deploy --dry-run)");
  const bundling = bundle(outdir);
  bundling.catch(() => {}); // awaited below; not an unhandled rejection meanwhile

  step("starting the stand-in services, the wsproxy and the database");
  const product = await startProductService({ port: 0 });
  onCleanup("product stand-in", () => product.close());
  const user = await startUserService({ port: 0, jwtSecret: BENCH_JWT_SECRET });
  onCleanup("user stand-in", () => user.close());
  const notification = await startNotificationService({ port: 0 });
  onCleanup("notification stand-in", () => notification.close());
  const proxy = await startWsProxy({ port: 0 });
  // Registered before the database so the database is dropped while the proxy still runs.
  onCleanup("wsproxy", () => proxy.close());
  const wsProxy = useWsProxy(proxy.port);
  const database = await provisionDatabase();
  await applyMigrations(database.url);

  const scriptPath = await bundling;
  step("starting workerd (Miniflare)");
  const logs: WorkerLogs = { errors: 0, samples: [] };
  const worker = await startWorker(
    scriptPath,
    {
      JWT_SECRET: BENCH_JWT_SECRET,
      PRODUCT_SERVICE_URL: product.url,
      USER_SERVICE_URL: user.url,
      NOTIFICATION_SERVICE_URL: notification.url,
      DATABASE_URL: database.url,
      DATABASE_WS_PROXY: wsProxy,
      RATE_LIMIT_USER_PER_MIN: "0",
      RATE_LIMIT_IP_PER_MIN: "0",
      // Settle seeded payments at once, so no settlement runs during the measurements.
      PAYMENT_SETTLE_DELAY_MS: "0",
    },
    logs,
  );
  takeOverSignals();
  const target = settings.target === "direct" ? worker.direct : worker.entry;
  const origin = target.origin;

  step("seeding carts and orders");
  const loadScenarios = await seed(origin, product.url);
  await new Promise((resolve) => setTimeout(resolve, 500));

  const cpuList = cpus();
  console.log(`
Machine:  ${cpuList.length} CPUs (${cpuList[0]?.model.trim() ?? "unknown"}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${process.platform}/${process.arch}, Node ${process.version}, load average ${loadavg()
    .map((n) => n.toFixed(2))
    .join(" ")} (other processes share these CPUs)
Worker:   workerd via Miniflare ${worker.miniflareVersion} (wrangler's own), bundle from wrangler deploy --dry-run
Target:   ${origin} (${settings.target === "direct" ? "direct socket into the worker: no wrangler dev proxy, no Miniflare entry worker" : "Miniflare's entry socket: its entry worker in front, still no wrangler dev proxy"})
Database: ${database.kind}, through dev/wsproxy.ts
Settings: concurrency ${settings.concurrency}, ${settings.warmupMs / 1000}s warm-up + ${settings.durationMs / 1000}s per endpoint, request timeout ${settings.timeoutMs / 1000}s, rate limits off
Data:     ${CART_READ_USERS} carts × ${CART_READ_LINES} lines; adds rotate ${CART_ADD_USERS} users × ${CART_ADD_PRODUCTS} products; ${ORDER_USERS} users × ${ORDERS_PER_USER} orders
`);

  const results = await runLoad({
    origin,
    concurrency: settings.concurrency,
    warmupMs: settings.warmupMs,
    durationMs: settings.durationMs,
    timeoutMs: settings.timeoutMs,
    scenarios: loadScenarios,
  });
  const ok = report(results);
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

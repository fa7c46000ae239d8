// The stack the bench measures, all local: the worker bundled as `wrangler deploy` bundles it and
// served by workerd (Miniflare), the product/user/notification stand-ins, the Neon wsproxy, the
// SQL-over-HTTP endpoint and a database of the run's own. Each piece is stopped by the cleanup.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyMigrations, isListening, sql, useWsProxy, withDatabase } from "../db.ts";
import { startEmbeddedPostgres } from "../pglite.ts";
import { startNotificationService, startProductService, startUserService } from "../services/index.ts";
import { startSqlHttp } from "../sqlhttp.ts";
import { bundleWorker, startWorkerd, takeOverSignals } from "../workerd.ts";
import { startWsProxy } from "../wsproxy.ts";
import { onCleanup, shutdown } from "./cleanup.ts";
import type { Settings } from "./options.ts";
import { step } from "./report.ts";

/** An obvious bench value; the worker demands at least 32 bytes. */
export const BENCH_JWT_SECRET = "bench-secret-for-npm-run-bench-only-0123456789";
const PG_SERVER = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
/** A rate limit far above what the bench sends: its cost is measured, never a refusal. */
const BENCH_USER_LIMIT = 1_000_000;
/** The highest per-address limit the config takes; 256 addresses × 10000 a minute is ~42k req/s. */
const BENCH_ADDRESS_LIMIT = 10_000;

/** A database of the run's own on the Postgres at PG_SERVER (dropped afterwards), or embedded PGlite. */
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

export interface WorkerLogs {
  errors: number;
  samples: string[];
}

/** Starts everything the bench measures; answers where to send the load. */
export async function startStack(settings: Settings) {
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
  return { worker, origin, product, database, logs };
}

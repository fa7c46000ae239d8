// The stack the drills run against, all on loopback: the product/user/notification stand-ins, the real
// Postgres (a database of the run's own) and the real Redis, each behind a fault proxy, the Neon wsproxy
// and SQL-over-HTTP endpoint (both reaching Postgres through its fault proxy), the local Upstash
// endpoint (reaching Redis through its fault proxy), and the worker in workerd, whose Durable Objects
// persist on disk so that it can be stopped and started again mid-load.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import pg from "pg";
import { getConfig } from "../../src/config.ts";
import { applyMigrations, useWsProxy, withDatabase } from "../db.ts";
import { startNotificationService, startProductService, startUserService } from "../services/index.ts";
import { startSqlHttp } from "../sqlhttp.ts";
import { dropKeys, startUpstashEndpoint } from "../upstash.ts";
import { bundleWorker, type RunningWorkerd, startWorkerd, type WorkerLog } from "../workerd.ts";
import { startWsProxy } from "../wsproxy.ts";
import { type FaultProxy, startFaultProxy } from "./proxy.ts";

export const PG_SERVER = process.env.DRILLS_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const REDIS_SERVER = process.env.DRILLS_REDIS_URL ?? "redis://127.0.0.1:6379";
const JWT_SECRET = "drills-secret-for-npm-run-drills-only-0123456789";

/** Everything the drills start listens on 127.0.0.1, on these ports (Miniflare adds a loopback port of its own). */
export const PORTS = {
  product: 9201,
  user: 9202,
  notification: 9203,
  wsproxy: 9204,
  sqlHttp: 9205,
  upstash: 9206,
  postgresProxy: 9207,
  redisProxy: 9208,
  workerEntry: 9210,
  workerDirect: 9211,
};

/**
 * Worker settings for the drills: outbound calls time out after 1 s (so "slow" is cheap to play),
 * a failed notification is retried after 1, 2, 4 … s, payments settle in half a second, and neither
 * the rate limits nor the open-orders cap throttle the load.
 */
export const WORKER_SETTINGS = {
  ENVIRONMENT: "development",
  UPSTREAM_TIMEOUT_MS: "1000",
  NOTIFICATION_RETRY_BASE_SECONDS: "1",
  PAYMENT_SETTLE_DELAY_MS: "500",
  MAX_OPEN_ORDERS_PER_USER: "1000",
  RATE_LIMIT_USER_PER_MIN: "0",
  RATE_LIMIT_IP_PER_MIN: "0",
};

type Cleanup = { name: string; run: () => Promise<unknown> };

export interface Stack {
  runId: string;
  database: string;
  /** A direct connection (not through the fault proxy) for the invariants. */
  db: pg.Pool;
  product: string;
  notification: string;
  postgres: FaultProxy;
  redis: FaultProxy;
  /** The worker's direct socket (stable across restarts). */
  base(): string;
  token(userId: number): Promise<string>;
  /** Stops workerd (as a crash would: nothing drains) and starts it again on the same storage. */
  stopWorker(): Promise<void>;
  /** When workerd was last stopped (epoch ms). */
  stoppedAt?: number;
  startWorker(): Promise<void>;
  /** Fires the cron (the sweep) and waits for it. */
  sweep(): Promise<string>;
  /** Every console line of the worker goes here. */
  onLog: (log: WorkerLog) => void;
  cleanup(): Promise<void>;
}

export async function startStack(step: (text: string) => void): Promise<Stack> {
  const cleanups: Cleanup[] = [];
  const onCleanup = (name: string, run: () => Promise<unknown>) => cleanups.push({ name, run });
  const runId = `${process.pid}_${Date.now().toString(36)}`;
  const stack = { cleanup, onLog: () => {} } as unknown as Stack;
  let cleaning: Promise<void> | undefined;
  function cleanup(): Promise<void> {
    cleaning ??= (async () => {
      for (const { name, run } of cleanups.reverse()) {
        try {
          await Promise.race([
            run(),
            new Promise((_, reject) => setTimeout(() => reject(new Error("took over 15 s")), 15_000).unref()),
          ]);
        } catch (error) {
          console.error(`! cleanup ${name}: ${(error as Error).message}`);
        }
      }
    })();
    return cleaning;
  }

  try {
    const work = await mkdtemp(join(tmpdir(), "order-drills-"));
    onCleanup("work directory", () => rm(work, { recursive: true, force: true }));
    step("bundling the worker (wrangler deploy --dry-run)");
    const bundling = bundleWorker(join(work, "bundle"), (kill) => onCleanup("bundler", async () => kill()));
    bundling.catch(() => {}); // awaited below

    step("starting the stand-ins, the fault proxies, the wsproxy, the SQL-over-HTTP and Upstash endpoints");
    const product = await startProductService({ port: PORTS.product });
    onCleanup("product stand-in", () => product.close());
    const user = await startUserService({ port: PORTS.user, jwtSecret: JWT_SECRET });
    onCleanup("user stand-in", () => user.close());
    const notification = await startNotificationService({ port: PORTS.notification });
    onCleanup("notification stand-in", () => notification.close());

    const pgServer = new URL(PG_SERVER);
    const postgres = await startFaultProxy({
      port: PORTS.postgresProxy,
      target: { host: pgServer.hostname, port: Number(pgServer.port || 5432) },
      postgres: true,
    });
    onCleanup("Postgres fault proxy", () => postgres.close());
    const redisServer = new URL(REDIS_SERVER);
    const redis = await startFaultProxy({
      port: PORTS.redisProxy,
      target: { host: redisServer.hostname, port: Number(redisServer.port || 6379) },
    });
    onCleanup("Redis fault proxy", () => redis.close());

    const proxy = await startWsProxy({ port: PORTS.wsproxy });
    onCleanup("wsproxy", () => proxy.close());
    const wsProxy = useWsProxy(proxy.port);

    const database = `order_drills_${runId}`;
    const admin = new pg.Pool({ connectionString: PG_SERVER, max: 1 });
    onCleanup("admin connection", () => admin.end());
    await admin.query(`CREATE DATABASE "${database}"`);
    onCleanup(`drop database ${database}`, () =>
      admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`),
    );
    const db = new pg.Pool({ connectionString: withDatabase(PG_SERVER, database), max: 2 });
    db.on("error", () => {});
    onCleanup("invariant connection", () => db.end());
    // The worker's view of the database: through the fault proxy.
    const proxiedUrl = new URL(withDatabase(PG_SERVER, database));
    proxiedUrl.hostname = "127.0.0.1";
    proxiedUrl.port = String(postgres.port);
    await applyMigrations(proxiedUrl.toString());
    const sqlHttp = await startSqlHttp({ port: PORTS.sqlHttp });
    onCleanup("SQL-over-HTTP endpoint", () => sqlHttp.close());

    const prefix = `order-service:drills:${runId}:`;
    const upstash = await startUpstashEndpoint({
      redisUrl: `redis://127.0.0.1:${redis.port}`,
      port: PORTS.upstash,
    });
    onCleanup("Upstash endpoint", () => upstash.close());
    onCleanup(`Redis keys ${prefix}*`, () => dropKeys(REDIS_SERVER, prefix));

    const bindings = {
      ...WORKER_SETTINGS,
      JWT_SECRET,
      PRODUCT_SERVICE_URL: product.url,
      USER_SERVICE_URL: user.url,
      NOTIFICATION_SERVICE_URL: notification.url,
      DATABASE_URL: proxiedUrl.toString(),
      DATABASE_WS_PROXY: wsProxy,
      DATABASE_HTTP_ENDPOINT: sqlHttp.url,
      UPSTASH_REDIS_REST_URL: upstash.url,
      UPSTASH_REDIS_REST_TOKEN: upstash.token,
      CACHE_KEY_PREFIX: prefix,
    };
    getConfig({ ...bindings }); // fails here, naming the variable, rather than inside workerd

    const scriptPath = await bundling;
    const persistPath = join(work, "state");
    let worker: RunningWorkerd | undefined;
    stack.startWorker = async () => {
      worker = await startWorkerd({
        scriptPath,
        bindings,
        port: PORTS.workerEntry,
        directPort: PORTS.workerDirect,
        persistPath,
        onLog: (log) => stack.onLog(log),
      });
    };
    stack.stopWorker = async () => {
      const stopping = worker;
      worker = undefined;
      await stopping?.dispose();
      stack.stoppedAt = Date.now();
    };
    onCleanup("workerd", () => stack.stopWorker());
    step("starting workerd (Miniflare)");
    await stack.startWorker();

    const key = new TextEncoder().encode(JWT_SECRET);
    Object.assign(stack, {
      runId,
      database,
      db,
      product: product.url,
      notification: notification.url,
      postgres,
      redis,
      base: () => `http://127.0.0.1:${PORTS.workerDirect}`,
      token: (userId: number) =>
        new SignJWT({ role: "USER" })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject(String(userId))
          .setIssuedAt()
          .setExpirationTime("1h")
          .sign(key),
      sweep: async () => {
        if (!worker) throw new Error("the worker is not running");
        return worker.scheduled();
      },
    } satisfies Omit<Stack, "cleanup" | "startWorker" | "stopWorker" | "onLog">);
    return stack;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

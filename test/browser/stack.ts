// The stack the browser tests drive, all on loopback: the product/user/notification stand-ins, a
// Postgres database of the run's own (dropped afterwards) behind the Neon wsproxy and the
// SQL-over-HTTP endpoint, and the worker bundled as `wrangler deploy` bundles it, served by workerd
// (Miniflare) with its static assets in front, as Cloudflare serves /admin and /live.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { applyMigrations, isListening, sql, useWsProxy, withDatabase } from "../../dev/db.ts";
import { startNotificationService, startProductService, startUserService } from "../../dev/services/index.ts";
import { startSqlHttp } from "../../dev/sqlhttp.ts";
import { bundleWorker, startWorkerd, type WorkerLog } from "../../dev/workerd.ts";
import { startWsProxy } from "../../dev/wsproxy.ts";

const PG_SERVER = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const JWT_SECRET = "browser-tests-secret-for-npm-run-test-browser-0123456789";

export interface Stack {
  /** The worker's entry socket: static assets first, then the worker. */
  origin: string;
  notificationUrl: string;
  token(userId: number, role?: "USER" | "ADMIN"): Promise<string>;
  /** Calls the API as `token` and returns the status and the parsed body. */
  call(
    method: string,
    path: string,
    token?: string,
    body?: unknown,
  ): Promise<{ status: number; body: ApiBody; headers: Headers }>;
  /** Error lines the worker logged (a passing run has none). */
  errors: WorkerLog[];
  close(): Promise<void>;
}

export type ApiBody = {
  success: boolean;
  message: string;
  data: any;
  error?: { code: string; details?: { path: string; message: string }[] };
};

export async function startStack(step: (text: string) => void = () => {}): Promise<Stack> {
  const cleanups: { name: string; run: () => Promise<unknown> }[] = [];
  const onCleanup = (name: string, run: () => Promise<unknown>) => cleanups.push({ name, run });
  async function close() {
    for (const { name, run } of cleanups.splice(0).reverse()) {
      await run().catch((error: Error) => console.error(`! cleanup ${name}: ${error.message}`));
    }
  }

  try {
    const { hostname, port } = new URL(PG_SERVER);
    if (!(await isListening(hostname, Number(port || 5432)))) {
      throw new Error(
        `The browser tests need Postgres at ${hostname}:${port || 5432} (or TEST_DATABASE_URL)`,
      );
    }
    const work = await mkdtemp(join(tmpdir(), "order-browser-"));
    onCleanup("work directory", () => rm(work, { recursive: true, force: true }));
    step("bundling the worker (wrangler deploy --dry-run)");
    const bundling = bundleWorker(join(work, "bundle"), (kill) => onCleanup("bundler", async () => kill()));
    bundling.catch(() => {}); // awaited below

    step("starting the stand-ins, the wsproxy, the SQL-over-HTTP endpoint and the database");
    const product = await startProductService({ port: 0 });
    onCleanup("product stand-in", () => product.close());
    const user = await startUserService({ port: 0, jwtSecret: JWT_SECRET });
    onCleanup("user stand-in", () => user.close());
    const notification = await startNotificationService({ port: 0 });
    onCleanup("notification stand-in", () => notification.close());
    const proxy = await startWsProxy({ port: 0 });
    onCleanup("wsproxy", () => proxy.close());
    const wsProxy = useWsProxy(proxy.port);

    const database = `order_browser_${process.pid}_${Date.now().toString(36)}`;
    await sql(PG_SERVER, `CREATE DATABASE "${database}"`);
    onCleanup(`drop database ${database}`, () =>
      sql(PG_SERVER, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`),
    );
    const databaseUrl = withDatabase(PG_SERVER, database);
    await applyMigrations(databaseUrl);
    const sqlHttp = await startSqlHttp({ port: 0 });
    onCleanup("SQL-over-HTTP endpoint", () => sqlHttp.close());

    const scriptPath = await bundling;
    step("starting workerd (Miniflare) with the static assets");
    const errors: WorkerLog[] = [];
    const worker = await startWorkerd({
      scriptPath,
      assets: true,
      bindings: {
        // The local wsproxy and SQL-over-HTTP endpoint are development-only settings.
        ENVIRONMENT: "development",
        JWT_SECRET,
        PRODUCT_SERVICE_URL: product.url,
        USER_SERVICE_URL: user.url,
        NOTIFICATION_SERVICE_URL: notification.url,
        DATABASE_URL: databaseUrl,
        DATABASE_WS_PROXY: wsProxy,
        DATABASE_HTTP_ENDPOINT: sqlHttp.url,
        RATE_LIMIT_USER_PER_MIN: "0",
        RATE_LIMIT_IP_PER_MIN: "0",
        PAYMENT_SETTLE_DELAY_MS: "50",
        NOTIFICATION_RETRY_BASE_SECONDS: "1",
        // One live socket per user, so a second page shows how the first one is let go.
        LIVE_MAX_SOCKETS_PER_USER: "1",
      },
      onLog: (log) => {
        if (log.level === "error") errors.push(log);
      },
    });
    onCleanup("workerd", () => worker.dispose());
    const origin = worker.entry.origin;

    const key = new TextEncoder().encode(JWT_SECRET);
    return {
      origin,
      notificationUrl: notification.url,
      errors,
      close,
      token: (userId, role = "USER") =>
        new SignJWT({ role })
          .setProtectedHeader({ alg: "HS256" })
          .setSubject(String(userId))
          .setIssuedAt()
          .setExpirationTime("1h")
          .sign(key),
      async call(method, path, token, body) {
        const headers: Record<string, string> = {};
        if (token) headers.authorization = `Bearer ${token}`;
        if (body !== undefined) headers["content-type"] = "application/json";
        const response = await fetch(`${origin}${path}`, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await response.text();
        return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null };
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}

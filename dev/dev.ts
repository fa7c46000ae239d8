// `npm run dev`: the worker on http://localhost:8083 with an embedded default for everything external.
// Each sibling service whose *_SERVICE_URL is unset gets its local stand-in; without DATABASE_URL an
// embedded PGlite (kept under .data/) serves as Postgres; either way a local wsproxy lets the Neon
// driver reach it, and migrations are applied before the worker starts.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { getConfig } from "../src/config.ts";
import { applyMigrations, useWsProxy } from "./db.ts";
import { startEmbeddedPostgres } from "./pglite.ts";
import { startNotificationService, startProductService, startUserService } from "./services/index.ts";
import { jwtSecret, loadSettings, ROOT } from "./settings.ts";
import { startSqlHttp } from "./sqlhttp.ts";
import { startUpstashEndpoint } from "./upstash.ts";
import { startWsProxy } from "./wsproxy.ts";

const settings = loadSettings();
const port = Number(settings.PORT ?? 8083);
const cleanups: (() => Promise<void>)[] = [];
// A development machine: the local proxies below (DATABASE_WS_PROXY, DATABASE_HTTP_ENDPOINT) and the
// published dev secret are refused anywhere else.
const vars: Record<string, string> = { ENVIRONMENT: "development", JWT_SECRET: jwtSecret(settings) };

// Everything the worker's config knows, passed through from the environment or .dev.vars.
for (const key of [
  "JWKS_URL",
  "JWT_ISSUER",
  "JWT_AUDIENCE",
  "JWT_CLOCK_TOLERANCE_SECONDS",
  "UPSTREAM_TIMEOUT_MS",
  "DEFAULT_CURRENCY",
  "CORS_ORIGINS",
  "RATE_LIMIT_USER_PER_MIN",
  "RATE_LIMIT_IP_PER_MIN",
  "PAYMENT_TIMEOUT_MINUTES",
  "MAX_OPEN_ORDERS_PER_USER",
  "PAYMENT_SETTLE_DELAY_MS",
  "NOTIFICATION_RETRY_BASE_SECONDS",
  "UPSTASH_REDIS_REST_URL",
  "UPSTASH_REDIS_REST_TOKEN",
  "CACHE_KEY_PREFIX",
  "CACHE_TIMEOUT_MS",
  "PRODUCT_CACHE_TTL_SECONDS",
  "SERVICE_VERSION",
]) {
  if (settings[key]) vars[key] = settings[key];
}

async function stop(code: number): Promise<never> {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  process.exit(code);
}

async function standIn(
  key: string,
  name: string,
  start: () => Promise<{ url: string; close(): Promise<void> }>,
) {
  if (settings[key]) {
    vars[key] = settings[key];
    console.log(`  ${name.padEnd(22)} ${settings[key]} (${key})`);
    return;
  }
  const service = await start();
  cleanups.push(service.close);
  vars[key] = service.url;
  console.log(`  ${name.padEnd(22)} ${service.url} (local stand-in)`);
}

try {
  console.log("Starting the order service's dependencies:");
  await standIn("PRODUCT_SERVICE_URL", "product service", () => startProductService({ port: 0 }));
  await standIn("USER_SERVICE_URL", "user service", () =>
    startUserService({ port: 0, jwtSecret: vars.JWT_SECRET as string }),
  );
  await standIn("NOTIFICATION_SERVICE_URL", "notification service", () =>
    startNotificationService({ port: 0, log: true }),
  );

  // REDIS_URL: a real Redis behind the local Upstash-compatible endpoint. Explicit
  // UPSTASH_REDIS_REST_URL/TOKEN win; with neither the worker runs without Redis.
  if (settings.UPSTASH_REDIS_REST_URL) {
    console.log(`  ${"redis".padEnd(22)} ${settings.UPSTASH_REDIS_REST_URL} (UPSTASH_REDIS_REST_URL)`);
  } else if (settings.REDIS_URL) {
    const endpoint = await startUpstashEndpoint({ redisUrl: settings.REDIS_URL });
    cleanups.push(endpoint.close);
    vars.UPSTASH_REDIS_REST_URL = endpoint.url;
    vars.UPSTASH_REDIS_REST_TOKEN = endpoint.token;
    const shown = settings.REDIS_URL.replace(/\/\/[^@]*@/, "//***@");
    console.log(`  ${"redis".padEnd(22)} ${endpoint.url} → ${shown} (REDIS_URL, local Upstash endpoint)`);
  } else {
    console.log(`  ${"redis".padEnd(22)} none (set REDIS_URL to use one)`);
  }

  let databaseUrl = settings.DATABASE_URL;
  if (!databaseUrl) {
    const dataDir = `${ROOT}.data/pglite`;
    mkdirSync(dataDir, { recursive: true });
    const embedded = await startEmbeddedPostgres({ dataDir });
    cleanups.push(embedded.close);
    databaseUrl = embedded.url;
    console.log(`  ${"database".padEnd(22)} embedded PGlite in .data/pglite (${embedded.url})`);
  } else {
    console.log(`  ${"database".padEnd(22)} ${databaseUrl.replace(/\/\/[^@]*@/, "//***@")} (DATABASE_URL)`);
  }
  const allowedHosts = [
    new URL(databaseUrl).hostname.replace(/^\[|\]$/g, ""),
    "127.0.0.1",
    "localhost",
    "::1",
  ];
  const proxy = await startWsProxy({ port: 0, allowedHosts });
  cleanups.push(proxy.close);
  // The driver's HTTP path (one-shot reads) goes through a local SQL-over-HTTP endpoint instead.
  const sqlHttp = await startSqlHttp({ port: 0, allowedHosts });
  cleanups.push(sqlHttp.close);
  vars.DATABASE_URL = databaseUrl;
  vars.DATABASE_WS_PROXY = useWsProxy(proxy.port);
  vars.DATABASE_HTTP_ENDPOINT = sqlHttp.url;
  await applyMigrations(databaseUrl);
  console.log(`  ${"migrations".padEnd(22)} applied`);

  // The same validation the worker runs, so a bad value fails here with the variable's name.
  getConfig({ ...vars });
} catch (error) {
  console.error(`\n${error instanceof Error ? error.message : String(error)}`);
  await stop(1);
}

// Handed to wrangler as an env file rather than --var flags, so secrets stay out of the process list.
mkdirSync(`${ROOT}.wrangler`, { recursive: true });
const envFile = `${ROOT}.wrangler/dev.env`;
writeFileSync(
  envFile,
  `${Object.entries(vars)
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`)
    .join("\n")}\n`,
  {
    mode: 0o600,
  },
);

const wrangler = spawn(
  "wrangler",
  ["dev", "--port", String(port), "--ip", "127.0.0.1", "--env-file", envFile, "--test-scheduled"],
  {
    cwd: ROOT,
    stdio: "inherit",
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
  },
);
cleanups.push(async () => {
  wrangler.kill("SIGTERM");
});

// wrangler dev does not fire cron triggers; run the sweep (SPEC §4 payment timeouts) every minute.
const sweep = setInterval(() => {
  fetch(`http://127.0.0.1:${port}/__scheduled?cron=*+*+*+*+*`).catch(() => {});
}, 60_000);
cleanups.push(async () => clearInterval(sweep));

wrangler.on("exit", (code) => void stop(code ?? 0));
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void stop(0));

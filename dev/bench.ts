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
//
// The options are in dev/bench/options.ts, the stack in dev/bench/stack.ts, the data and the
// scenarios in dev/bench/scenarios.ts (and admin-orders.ts), the load in dev/bench/load.ts (a worker
// thread) and the tables and rows in dev/bench/report.ts.
import { writeFile } from "node:fs/promises";
import { Worker } from "node:worker_threads";
import { cleaningUp, onCleanup, shutdown } from "./bench/cleanup.ts";
import type { LoadInput, LoadMessage, ScenarioResult } from "./bench/load.ts";
import { readSettings } from "./bench/options.ts";
import { MAX_ERROR_RATIO, printRun, report, rowsOf, step } from "./bench/report.ts";
import { seed, withAddresses } from "./bench/scenarios.ts";
import { startStack } from "./bench/stack.ts";
import { takeOverSignals } from "./workerd.ts";

// Offline: no Request.cf download, no telemetry (also for the wrangler child and library).
process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
process.env.WRANGLER_SEND_METRICS = "false";

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

  const { worker, origin, product, database, logs } = await startStack(settings);

  step("seeding carts and orders");
  const { scenarios, data } = await seed(origin, product.url, database.url);
  await new Promise((resolve) => setTimeout(resolve, 500));

  printRun(settings, { miniflareVersion: worker.miniflareVersion, origin, database: database.kind, data });

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
  if (!cleaningUp()) console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  void shutdown(1);
});

// `npm run drills [-- --only postgres-down,commit-cut --load 24 --fault-at 6 --fault-for 10]`
//
// Scripted fault drills (SPEC §5, issue 10): the worker in workerd against the real Postgres (a fresh
// database of this run's own) and the real Redis (a key prefix of its own), the stand-ins for the
// sibling services, everything on loopback (dev/drills/stack.ts). For each drill, a steady load of cart
// adds and checkouts from a few users (dev/drills/load.ts) runs while one fault (dev/drills/faults.ts)
// is injected for a while; then the service is left to settle (sweeps fired, the queue drained) and the
// invariants are checked (dev/drills/invariants.ts). Prints a table of drill × invariant; exits non-zero
// if any invariant fails. The worker's log of each drill is kept in .data/drills/<drill>.log.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { FAULTS, type Fault } from "./drills/faults.ts";
import { type Check, checkInvariants, INVARIANTS } from "./drills/invariants.ts";
import { runLoad } from "./drills/load.ts";
import { type Settling, settle } from "./drills/settle.ts";
import { type Stack, startStack } from "./drills/stack.ts";
import type { DrillRun } from "./drills/state.ts";
import { ROOT } from "./settings.ts";
import { takeOverSignals } from "./workerd.ts";

process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
process.env.WRANGLER_SEND_METRICS = "false";

const USERS = 6;
/** P1 is scarce (it sells out under the load); P2 and P3 last the whole drill. */
const STOCK = [12, 1000, 1000];
const LOG_DIR = join(ROOT, ".data/drills");
/**
 * How long clients keep retrying after the load stops: the faults end 8 s before it, so a retry that
 * is still refused this long after is held by something that will not clear soon (a lock lapsing in 5 min).
 */
const RESOLVE_MS = 20_000;

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    load: { type: "string", default: "24" },
    "fault-at": { type: "string", default: "6" },
    "fault-for": { type: "string", default: "10" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`Usage: npm run drills -- [--only NAME,NAME] [--load SECONDS=24] [--fault-at SECONDS=6] [--fault-for SECONDS=10]
Drills: ${FAULTS.map((f) => f.name).join(", ")}`);
  process.exit(0);
}
const loadMs = Number(values.load) * 1000;
const faultAtMs = Number(values["fault-at"]) * 1000;
const faultForMs = Number(values["fault-for"]) * 1000;
const selected = values.only
  ? FAULTS.filter((fault) => (values.only as string).split(",").includes(fault.name))
  : FAULTS;
if (selected.length === 0 || ![loadMs, faultAtMs, faultForMs].every((n) => Number.isFinite(n) && n >= 0)) {
  console.error("Nothing to run: check --only (see --help) and the durations");
  process.exit(2);
}

let stack: Stack | undefined;
async function shutdown(code: number, why?: string): Promise<never> {
  if (why) console.error(`\n${why}: cleaning up…`);
  await stack?.cleanup();
  process.exit(code);
}
const step = (text: string) => console.log(`· ${text}`);

async function createProducts(stack: Stack, drill: string): Promise<{ id: string; initial: number }[]> {
  return Promise.all(
    STOCK.map(async (stock, index) => {
      const res = await fetch(`${stack.product}/__admin/products`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: `Drill ${drill} P${index + 1}`, price: 1000 * (index + 1), stock }),
      });
      const product = (await res.json()) as { id: string };
      return { id: product.id, initial: stock };
    }),
  );
}

async function runDrill(
  stack: Stack,
  fault: Fault,
  index: number,
): Promise<{ checks: Check[]; settling: Settling }> {
  console.log(`\n=== ${fault.name}: ${fault.description}`);
  const products = await createProducts(stack, fault.name);
  const users = await Promise.all(
    Array.from({ length: USERS }, async (_, i) => {
      const id = (index + 1) * 1000 + i + 1;
      return { id, token: await stack.token(id) };
    }),
  );
  const logs: Record<string, unknown>[] = [];
  const raw: string[] = [];
  stack.onLog = ({ message }) => {
    raw.push(message);
    try {
      logs.push(JSON.parse(message) as Record<string, unknown>);
    } catch {}
  };

  const proxied = { ...stack.postgres.stats };
  const started = Date.now();
  const loading = runLoad({
    base: stack.base,
    users,
    products: products.map((p) => p.id),
    stopAt: started + loadMs,
    resolveBy: started + loadMs + RESOLVE_MS,
  });
  await sleep(faultAtMs);
  step(`t=${((Date.now() - started) / 1000).toFixed(1)}s fault on`);
  const heal = await fault.inject(
    stack,
    products.map((p) => p.id),
  );
  if (!fault.restartsWorker) await sleep(faultForMs);
  await heal();
  step(`t=${((Date.now() - started) / 1000).toFixed(1)}s fault off`);
  const load = await loading;
  step(
    `t=${((Date.now() - started) / 1000).toFixed(1)}s load done: ${load.adds} adds, ${load.checkouts} checkouts, ${load.placed.length} placed`,
  );

  const run: DrillRun = {
    name: fault.name,
    users,
    products,
    load,
    logs,
    networkErrorsExpected: Boolean(fault.restartsWorker),
    stoppedAt: fault.restartsWorker ? stack.stoppedAt : undefined,
  };
  const settling = await settle(stack, run);
  step(
    settling.settled
      ? `settled in ${settling.seconds.toFixed(0)}s (${settling.sweeps} sweeps${settling.requeued ? `, ${settling.requeued} events the local broker lost at the restart requeued` : ""})`
      : `not settled after ${settling.seconds.toFixed(0)}s: ${settling.waitingFor}`,
  );
  const checks = await checkInvariants(stack, run);

  const { stats } = stack.postgres;
  console.log(
    `  Postgres proxy: ${stats.connections - proxied.connections} connections, ${stats.resets - proxied.resets} resets, ${stats.cutCommits - proxied.cutCommits} COMMIT answers cut`,
  );
  const answers = [...load.answers.entries()].sort(([a], [b]) => a.localeCompare(b));
  console.log(`  answers: ${answers.map(([what, n]) => `${what} ×${n}`).join(", ")}`);
  for (const u of load.undocumented.slice(0, 5))
    console.log(`  undocumented: ${u.what} ${u.requestId} ${u.body}`);
  for (const u of load.unresolved) console.log(`  unresolved: user ${u.userId} ${u.what} (last: ${u.last})`);
  const errors = new Map<string, number>();
  for (const line of logs)
    if (line.level === "error") errors.set(String(line.msg), (errors.get(String(line.msg)) ?? 0) + 1);
  if (errors.size)
    console.log(`  worker error logs: ${[...errors].map(([msg, n]) => `"${msg}" ×${n}`).join(", ")}`);
  for (const check of checks)
    console.log(`  ${check.ok ? "pass" : "FAIL"}  ${check.invariant}: ${check.detail}`);
  mkdirSync(LOG_DIR, { recursive: true });
  writeFileSync(join(LOG_DIR, `${fault.name}.log`), `${raw.join("\n")}\n`);
  return { checks, settling };
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => `:${"-".repeat(w + 1)}`).join("|")}|`, ...rows.map(line)].join(
    "\n",
  );
}

async function main(): Promise<void> {
  const budgetMs = 120_000 + selected.length * (loadMs + RESOLVE_MS + 90_000);
  setTimeout(
    () => void shutdown(1, `Watchdog: the run exceeded ${Math.round(budgetMs / 1000)}s`),
    budgetMs,
  ).unref();
  takeOverSignals(shutdown);
  const began = Date.now();
  stack = await startStack(step);
  takeOverSignals(shutdown);

  const results: { fault: Fault; checks: Check[]; settling: Settling }[] = [];
  for (const [index, fault] of selected.entries()) {
    results.push({ fault, ...(await runDrill(stack, fault, index)) });
  }

  const minutes = ((Date.now() - began) / 60_000).toFixed(1);
  console.log(
    `\nDrills: ${USERS} users, products of ${STOCK.join("/")} units, ${loadMs / 1000}s of load each, fault from ${faultAtMs / 1000}s for ${faultForMs / 1000}s; whole run ${minutes} min\n`,
  );
  console.log(
    table(
      ["drill", ...INVARIANTS],
      results.map(({ fault, checks }) => [
        fault.name,
        ...INVARIANTS.map((name) => {
          const check = checks.find((c) => c.invariant === name);
          return check ? (check.ok ? "pass" : "FAIL") : "-";
        }),
      ]),
    ),
  );
  console.log();
  console.log(
    table(
      ["drill", "invariant", "result", "numbers"],
      results.flatMap(({ fault, checks, settling }) => [
        ...checks.map((c) => [fault.name, c.invariant, c.ok ? "pass" : "FAIL", c.detail]),
        [
          fault.name,
          "settled",
          settling.settled ? "yes" : "no",
          settling.settled
            ? `${settling.seconds.toFixed(0)} s${settling.requeued ? `, ${settling.requeued} events requeued after the restart` : ""}`
            : settling.waitingFor,
        ],
      ]),
    ),
  );
  const failed = results.some(({ checks }) => checks.some((c) => !c.ok));
  console.log(failed ? "\nFAIL: an invariant does not hold" : "\nAll invariants hold");
  await shutdown(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  void shutdown(1);
});

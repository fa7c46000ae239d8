// What the bench prints: progress, the run's description, one table per connection level, and the
// rows that --out writes as JSON.
import { cpus, loadavg, totalmem } from "node:os";
import type { ScenarioResult } from "./load.ts";
import type { Settings } from "./options.ts";

/** Past this share of non-2xx (or unanswered) requests, an endpoint fails the run. */
export const MAX_ERROR_RATIO = 0.01;

export function step(text: string): void {
  console.log(`· ${text}`);
}

/** What was measured, on what, with what: printed before the tables. */
export function printRun(
  settings: Settings,
  run: { miniflareVersion: string; origin: string; database: string; data: string },
): void {
  const cpuList = cpus();
  console.log(`
Machine:  ${cpuList.length} CPUs (${cpuList[0]?.model.trim() ?? "unknown"}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${process.platform}/${process.arch}, Node ${process.version}, load average ${loadavg()
    .map((n) => n.toFixed(2))
    .join(" ")} (other processes share these CPUs)
Worker:   workerd via Miniflare ${run.miniflareVersion} (wrangler's own), bundle from wrangler deploy --dry-run
Target:   ${run.origin} (${settings.target === "direct" ? "direct socket into the worker: no wrangler dev proxy, no Miniflare entry worker" : "Miniflare's entry socket: its entry worker in front, still no wrangler dev proxy"})
Database: ${run.database}, reads through dev/sqlhttp.ts (HTTP path), transactions through dev/wsproxy.ts
Load:     autocannon, connections ${settings.connections.join(", ")}; ${settings.warmupMs / 1000}s warm-up + ${settings.durationMs / 1000}s per endpoint and level, request timeout ${settings.timeoutMs / 1000}s, rate limits ${settings.limits === "off" ? "off" : settings.limits === "ip" ? "per address (256 addresses)" : "per address (256 addresses) and per user"}${settings.rttMs > 0 ? `; every origin ${settings.rttMs} ms away (--rtt)` : ""}
Data:     ${run.data}
`);
}

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

export function rowsOf(results: ScenarioResult[], rttMs: number): BenchRow[] {
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

export function report(results: ScenarioResult[], rows: BenchRow[], rttMs: number): boolean {
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

// The load generator of `npm run bench`, run in a worker thread so its event loop shares nothing with
// the main thread's stand-in services and wsproxy (which carry the worker's upstream and database traffic).
// For each scenario: `concurrency` closed loops over keep-alive connections, a warm-up whose answers are
// discarded, then a measured window. A request counts when it *started* inside the window; the window's
// stragglers are awaited, so a slow or hung answer (bounded by `timeoutMs`) shows up in the numbers.
import { parentPort, workerData } from "node:worker_threads";
import { Pool } from "undici";

export interface RequestSpec {
  method: "GET" | "POST";
  path: string;
  token?: string;
  /** JSON text. */
  body?: string;
}

export interface Scenario {
  name: string;
  /** Cycled through in order, shared by all loops. */
  requests: RequestSpec[];
}

export interface LoadInput {
  origin: string;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  timeoutMs: number;
  scenarios: Scenario[];
}

export interface ScenarioResult {
  name: string;
  requests: number;
  errors: number;
  /** From the window's start until its last request finished. */
  elapsedMs: number;
  /** Every measured request's latency, sorted ascending. */
  latenciesMs: Float64Array;
  /** Answers by status ("200", "404", …) or failure code ("UND_ERR_HEADERS_TIMEOUT", …). */
  outcomes: Record<string, number>;
  /** The first few error answers, for the report. */
  samples: string[];
}

export type LoadMessage =
  | { type: "started"; name: string }
  | { type: "result"; result: ScenarioResult }
  | { type: "done" };

const MAX_SAMPLES = 3;
const MAX_BODY_BYTES = 4 * 1024 * 1024;

class Recorder {
  requests = 0;
  errors = 0;
  latencies: number[] = [];
  outcomes: Record<string, number> = {};
  samples: string[] = [];

  add(ms: number, outcome: string, ok: boolean, detail: string | undefined): void {
    this.requests += 1;
    this.latencies.push(ms);
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1;
    if (ok) return;
    this.errors += 1;
    if (this.samples.length < MAX_SAMPLES) this.samples.push(`${outcome} ${detail ?? ""}`.trim());
  }
}

async function once(pool: Pool, spec: RequestSpec, timeoutMs: number, recorder: Recorder | undefined) {
  const headers: Record<string, string> = { accept: "application/json" };
  if (spec.token) headers.authorization = `Bearer ${spec.token}`;
  if (spec.body !== undefined) headers["content-type"] = "application/json";
  const started = performance.now();
  let outcome: string;
  let ok = false;
  let detail: string | undefined;
  try {
    const res = await pool.request({
      method: spec.method,
      path: spec.path,
      headers,
      body: spec.body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    outcome = String(res.statusCode);
    ok = res.statusCode >= 200 && res.statusCode < 300;
    if (ok) await res.body.dump({ limit: MAX_BODY_BYTES });
    else detail = `${spec.method} ${spec.path}: ${(await res.body.text()).slice(0, 300)}`;
  } catch (error) {
    const err = error as { code?: string; message?: string };
    outcome = err.code ?? "ERROR";
    detail = `${spec.method} ${spec.path}: ${err.message ?? String(error)}`;
  }
  recorder?.add(performance.now() - started, outcome, ok, detail);
}

/** Runs `concurrency` loops until `deadline`; returns when every request they started has finished. */
async function phase(
  input: LoadInput,
  pool: Pool,
  scenario: Scenario,
  deadline: number,
  recorder?: Recorder,
) {
  let next = 0;
  const loop = async () => {
    while (performance.now() < deadline) {
      const spec = scenario.requests[next % scenario.requests.length] as RequestSpec;
      next += 1;
      await once(pool, spec, input.timeoutMs, recorder);
    }
  };
  await Promise.all(Array.from({ length: input.concurrency }, loop));
}

async function run(input: LoadInput): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("load.ts runs as a worker thread");
  for (const scenario of input.scenarios) {
    port.postMessage({ type: "started", name: scenario.name } satisfies LoadMessage);
    const pool = new Pool(input.origin, {
      connections: input.concurrency,
      pipelining: 1,
      connectTimeout: input.timeoutMs,
      keepAliveTimeout: 30_000,
    });
    try {
      await phase(input, pool, scenario, performance.now() + input.warmupMs);
      const recorder = new Recorder();
      const start = performance.now();
      await phase(input, pool, scenario, start + input.durationMs, recorder);
      const elapsedMs = performance.now() - start;
      const latenciesMs = Float64Array.from(recorder.latencies).sort();
      const result: ScenarioResult = {
        name: scenario.name,
        requests: recorder.requests,
        errors: recorder.errors,
        elapsedMs,
        latenciesMs,
        outcomes: recorder.outcomes,
        samples: recorder.samples,
      };
      port.postMessage({ type: "result", result } satisfies LoadMessage, [latenciesMs.buffer]);
    } finally {
      await pool.destroy();
    }
  }
  port.postMessage({ type: "done" } satisfies LoadMessage);
}

// A failure rejects here and, unhandled, ends the thread with an "error" event for the main thread.
if (parentPort) await run(workerData as LoadInput);

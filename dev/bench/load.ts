// The load generator of `npm run bench`: autocannon's programmatic API, run in a worker thread so its event
// loop shares nothing with the main thread's stand-in services, SQL-over-HTTP endpoint and wsproxy (which
// carry the worker's upstream and database traffic).
//
// For each connection level and scenario: a warm-up whose answers are discarded, then a measured window.
// Latencies are taken from autocannon's per-response event (hrtime, sub-millisecond) rather than its
// histogram summary, and only answers that arrive inside the window count, over the window's exact
// length: autocannon itself stops on its next one-second sample tick and drops what is in flight then.
// One spec list per scenario is shared by all connections (autocannon's own iteration would start every
// connection at the same spec, e.g. the same user's cart).
import { parentPort, workerData } from "node:worker_threads";
import autocannon from "autocannon";

export interface RequestSpec {
  method: "GET" | "POST" | "PUT";
  path: string;
  token?: string;
  /** JSON text. */
  body?: string;
  /** Sent as CF-Connecting-IP (with --limits, so the per-address limit counts it). */
  ip?: string;
  /** Sent as Idempotency-Key, as the typed client does on every checkout. */
  idempotencyKey?: string;
}

export interface Scenario {
  name: string;
  /** Cycled through in order, shared by all connections. */
  requests: RequestSpec[];
  /**
   * When present, each request runs at most once and only after its own setup requests (e.g. a
   * checkout after its cart was filled). Setups run in rounds, outside the measured time.
   */
  setup?: RequestSpec[][];
}

export interface LoadInput {
  origin: string;
  levels: number[];
  warmupMs: number;
  durationMs: number;
  timeoutMs: number;
  scenarios: Scenario[];
}

export interface ScenarioResult {
  name: string;
  connections: number;
  requests: number;
  errors: number;
  /** The measured time: the window, or the sum of a consumable scenario's rounds. */
  elapsedMs: number;
  /** Every measured request's latency, sorted ascending. */
  latenciesMs: Float64Array;
  /** Answers by status ("200", "404", …) or failure ("timeout", "ECONNRESET", …). */
  outcomes: Record<string, number>;
  /** The first few error answers, for the report. */
  samples: string[];
  /** Set when a consumable scenario ran out of prepared requests before its window ended. */
  note?: string;
}

export type LoadMessage =
  | { type: "started"; name: string; connections: number }
  | { type: "result"; result: ScenarioResult }
  | { type: "done" };

const MAX_SAMPLES = 3;
const SETUP_CONCURRENCY = 8;

class Recorder {
  requests = 0;
  errors = 0;
  latencies: number[] = [];
  outcomes: Record<string, number> = {};
  samples: string[] = [];

  add(ms: number, outcome: string, ok: boolean): void {
    this.requests += 1;
    this.latencies.push(ms);
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1;
    if (!ok) this.errors += 1;
  }

  sample(text: string): void {
    if (this.samples.length < MAX_SAMPLES) this.samples.push(text);
  }
}

function headersOf(spec: RequestSpec): Record<string, string> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (spec.token) headers.authorization = `Bearer ${spec.token}`;
  if (spec.body !== undefined) headers["content-type"] = "application/json";
  if (spec.ip) headers["cf-connecting-ip"] = spec.ip;
  if (spec.idempotencyKey) headers["idempotency-key"] = spec.idempotencyKey;
  return headers;
}

interface Window {
  connections: number;
  /** Stop after this long (a timed window) … */
  durationMs?: number;
  /** … or after exactly this many requests (a consumable round). */
  amount?: number;
  recorder?: Recorder;
}

/** One autocannon run; resolves with its length in ms (for a timed window: the window itself). */
function blast(input: LoadInput, next: () => RequestSpec, window: Window): Promise<number> {
  const { recorder } = window;
  const started = performance.now();
  const end = window.durationMs === undefined ? Number.POSITIVE_INFINITY : started + window.durationMs;
  // With `amount`, autocannon ends on its next one-second tick, not at the last answer: a round's
  // measured time runs to its last answer (or error), else 32 checkouts in 0.3 s count as 1 s.
  let lastAnswer = started;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: input.origin,
        connections: window.connections,
        pipelining: 1,
        timeout: Math.max(1, Math.round(input.timeoutMs / 1000)),
        ...(window.amount === undefined
          ? { duration: Math.ceil((window.durationMs ?? 1000) / 1000) }
          : { amount: window.amount }),
        requests: [
          {
            setupRequest: (request) => {
              const spec = next();
              return {
                ...request,
                method: spec.method,
                path: spec.path,
                headers: headersOf(spec),
                body: spec.body,
              };
            },
            onResponse: (status, body) => {
              if (recorder && (status < 200 || status >= 300) && performance.now() <= end)
                recorder.sample(`${status} ${body.slice(0, 300)}`);
            },
          },
        ],
      },
      (error) => {
        if (error) reject(error);
        else resolve(window.durationMs ?? lastAnswer - started);
      },
    );
    instance.on("response", (_client, status, _bytes, ms) => {
      lastAnswer = performance.now();
      if (!recorder || performance.now() > end) return;
      recorder.add(ms, String(status), status >= 200 && status < 300);
    });
    instance.on("reqError", (error: Error & { code?: string }) => {
      lastAnswer = performance.now();
      if (!recorder || performance.now() > end) return;
      const outcome = error.message === "request timed out" ? "timeout" : (error.code ?? "ERROR");
      recorder.add(input.timeoutMs, outcome, false);
      recorder.sample(`${outcome} ${error.message}`);
    });
  });
}

async function send(origin: string, spec: RequestSpec, timeoutMs: number): Promise<void> {
  const res = await fetch(new URL(spec.path, origin), {
    method: spec.method,
    headers: headersOf(spec),
    body: spec.body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok)
    throw new Error(`setup ${spec.method} ${spec.path} answered ${res.status}: ${text.slice(0, 300)}`);
}

async function runSetups(origin: string, setups: RequestSpec[][], timeoutMs: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < setups.length) {
      const steps = setups[next++] as RequestSpec[];
      for (const step of steps) await send(origin, step, timeoutMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(SETUP_CONCURRENCY, setups.length) }, worker));
}

/** A timed window over a cycled spec list: warm-up, then the measured window. */
async function timed(input: LoadInput, scenario: Scenario, connections: number): Promise<ScenarioResult> {
  let index = 0;
  const next = () => scenario.requests[index++ % scenario.requests.length] as RequestSpec;
  if (input.warmupMs > 0) await blast(input, next, { connections, durationMs: input.warmupMs });
  const recorder = new Recorder();
  const elapsedMs = await blast(input, next, { connections, durationMs: input.durationMs, recorder });
  return finish(scenario.name, connections, recorder, elapsedMs);
}

/**
 * Consumable requests in rounds: prepare a round's setups (unmeasured), fire exactly that many
 * requests (measured), repeat until the measured time reaches the window. The first round warms up.
 */
async function rounds(input: LoadInput, scenario: Scenario, connections: number, start: { index: number }) {
  const setups = scenario.setup ?? [];
  const roundSize = Math.max(32, connections * 4);
  const recorder = new Recorder();
  let measuredMs = 0;
  let warmedUp = input.warmupMs === 0;
  let note: string | undefined;
  while (measuredMs < input.durationMs) {
    const size = warmedUp ? roundSize : Math.max(16, connections * 2);
    if (start.index + size > scenario.requests.length) {
      note = `ran out of prepared requests after ${(measuredMs / 1000).toFixed(1)}s`;
      break;
    }
    const from = start.index;
    start.index += size;
    await runSetups(input.origin, setups.slice(from, from + size), input.timeoutMs);
    let index = from;
    const next = () => scenario.requests[index++] as RequestSpec;
    const ms = await blast(input, next, {
      connections,
      amount: size,
      recorder: warmedUp ? recorder : undefined,
    });
    if (warmedUp) measuredMs += ms;
    warmedUp = true;
  }
  return { ...finish(scenario.name, connections, recorder, measuredMs), ...(note ? { note } : {}) };
}

function finish(name: string, connections: number, recorder: Recorder, elapsedMs: number): ScenarioResult {
  return {
    name,
    connections,
    requests: recorder.requests,
    errors: recorder.errors,
    elapsedMs,
    latenciesMs: Float64Array.from(recorder.latencies).sort(),
    outcomes: recorder.outcomes,
    samples: recorder.samples,
  };
}

async function run(input: LoadInput): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("load.ts runs as a worker thread");
  // Consumable scenarios never reuse a request, across levels either.
  const consumed = new Map<string, { index: number }>();
  for (const connections of input.levels) {
    for (const scenario of input.scenarios) {
      port.postMessage({ type: "started", name: scenario.name, connections } satisfies LoadMessage);
      let result: ScenarioResult;
      if (scenario.setup) {
        const start = consumed.get(scenario.name) ?? { index: 0 };
        consumed.set(scenario.name, start);
        result = await rounds(input, scenario, connections, start);
      } else {
        result = await timed(input, scenario, connections);
      }
      port.postMessage({ type: "result", result } satisfies LoadMessage, [
        result.latenciesMs.buffer as ArrayBuffer,
      ]);
    }
  }
  port.postMessage({ type: "done" } satisfies LoadMessage);
}

// A failure rejects here and, unhandled, ends the thread with an "error" event for the main thread.
if (parentPort) await run(workerData as LoadInput);

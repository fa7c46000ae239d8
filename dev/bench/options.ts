// The bench's command line: its flags, their defaults and bounds, and the usage text.
import { parseArgs } from "node:util";

export interface Settings {
  connections: number[];
  durationMs: number;
  warmupMs: number;
  timeoutMs: number;
  target: "direct" | "entry";
  out: string | undefined;
  only: string[] | undefined;
  limits: "off" | "ip" | "all";
  /** Simulated round trip to every origin (Postgres both ways, the three services), in ms. */
  rttMs: number;
}

export function usage(): string {
  return `Usage: npm run bench -- [--connections 1,16,64] [--duration SECONDS=5] [--warmup SECONDS=1]
                        [--timeout SECONDS=10] [--target direct|entry] [--out FILE] [--only TEXT,…]
                        [--limits off|ip|all] [--rtt MS=0]
  --connections  comma-separated levels; every endpoint is measured at each (--concurrency is an alias).
  --out          also writes the rows as JSON: [{ endpoint, connections, rps, p50Ms, p99Ms, errors, ratioToHealth, rttMs, p50Rtts }].
  --only         measures only the endpoints whose name contains one of the TEXTs (and /health, for the ratio).
  --limits       off (default): no rate limits; ip: the per-address limit on, every request from one of
                 256 addresses (CF-Connecting-IP); all: the per-user write limit on too. Limits are set
                 far above the load, so what is measured is their cost, never a 429.
  --rtt          every call from the worker to an origin (the SQL-over-HTTP endpoint, each query flight
                 on the wsproxy, the product, user and notification stand-ins) waits MS more, as if the
                 worker ran at the edge that far from them; Durable Objects are not delayed. The tables
                 and rows then also give p50 in round trips (p50Rtts).
  --timeout      bounds each request (whole seconds).
  --target entry measures through Miniflare's entry worker instead of the direct socket.`;
}

export function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      connections: { type: "string" },
      concurrency: { type: "string" },
      duration: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      timeout: { type: "string", default: "10" },
      target: { type: "string", default: "direct" },
      out: { type: "string" },
      only: { type: "string" },
      limits: { type: "string", default: "off" },
      rtt: { type: "string", default: "0" },
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
  if (values.limits !== "off" && values.limits !== "ip" && values.limits !== "all") {
    console.error(`--limits must be off, ip or all\n${usage()}`);
    process.exit(2);
  }
  const levels = (values.connections ?? values.concurrency ?? "1,16,64")
    .split(",")
    .map((level) => Math.round(number("connections", level.trim(), 1, 1024)));
  return {
    connections: [...new Set(levels)],
    durationMs: number("duration", values.duration, 1, 600) * 1000,
    warmupMs: number("warmup", values.warmup, 0, 60) * 1000,
    timeoutMs: Math.round(number("timeout", values.timeout, 1, 120)) * 1000,
    target: values.target,
    out: values.out,
    only: values.only?.split(",").map((text) => text.trim()),
    limits: values.limits,
    rttMs: Math.round(number("rtt", values.rtt, 0, 1000)),
  };
}

import { outboxBacklog } from "../db/queries.ts";
import { describeError, log } from "../lib/log.ts";
import type { Services } from "./index.ts";

export interface DependencyState {
  status: "up" | "down" | "not_configured";
  required: boolean;
  latencyMs: number;
}

interface Probe {
  name: string;
  required: boolean;
  check: () => Promise<void>;
}

type Readiness = Awaited<ReturnType<typeof probeAll>>;

/**
 * One readiness answer serves every probe of an isolate for this long: a load balancer or an
 * attacker polling /health/ready costs the dependencies one check every few seconds, not one each.
 */
const READINESS_REUSE_MS = 5_000;
const recent = new WeakMap<object, { at: number; result: Readiness }>();

/**
 * Each dependency's state and latency, and the outbox backlog; an answer is reused for a few seconds
 * per isolate (and per configuration). Only a settled answer is shared: workerd does not let one
 * request wait on another's I/O.
 */
export async function checkReadiness(services: Services): Promise<Readiness> {
  const cached = recent.get(services.config);
  if (cached && Date.now() - cached.at < READINESS_REUSE_MS) return cached.result;
  const started = Date.now();
  const result = await probeAll(services);
  recent.set(services.config, { at: started, result });
  return result;
}

/**
 * Probes every dependency concurrently; each probe is bounded by its client's own timeout. The
 * answer is public, so it says up or down and how long the check took; why a check failed goes to
 * the log only.
 */
async function probeAll(services: Services) {
  const probes: Probe[] = [
    { name: "database", required: true, check: () => services.database.ping() },
    { name: "productService", required: true, check: () => services.products.ping() },
  ];
  // Redis only speeds reads up: when it is down the service is degraded, not unavailable.
  if (services.config.UPSTASH_REDIS_REST_URL) {
    probes.push({ name: "redis", required: false, check: () => services.cache.ping() });
  }
  // Informational: a growing backlog means the queue is refusing events, not that we cannot serve.
  const outbox = services.database
    .once((db) => outboxBacklog(db))
    .then(
      ({ unsent, oldestAgeSeconds }) => ({ unsent, oldestUnsentAgeSeconds: oldestAgeSeconds }),
      () => null,
    );
  const results = await Promise.all(
    probes.map(async (probe): Promise<[string, DependencyState]> => {
      const started = Date.now();
      try {
        await probe.check();
        return [probe.name, { status: "up", required: probe.required, latencyMs: Date.now() - started }];
      } catch (error) {
        log("warn", "readiness probe failed", { dependency: probe.name, ...describeError(error) });
        return [probe.name, { status: "down", required: probe.required, latencyMs: Date.now() - started }];
      }
    }),
  );
  const dependencies: Record<string, DependencyState> = Object.fromEntries(results);
  if (!services.config.UPSTASH_REDIS_REST_URL) {
    dependencies.redis = { status: "not_configured", required: false, latencyMs: 0 };
  }
  const down = results.filter(([, state]) => state.status === "down");
  const status = down.some(([, state]) => state.required)
    ? "unavailable"
    : down.length > 0
      ? "degraded"
      : "ready";
  return { status, dependencies, outbox: await outbox } as const;
}

import type { Services } from "../app-env.ts";
import { outboxBacklog } from "../db/queries.ts";

export interface DependencyState {
  status: "up" | "down" | "not_configured";
  required: boolean;
  latencyMs: number;
  error?: string;
}

interface Probe {
  name: string;
  required: boolean;
  check: () => Promise<void>;
}

/** Probes every dependency concurrently; each probe is bounded by its client's own timeout. */
export async function checkReadiness(services: Services) {
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
        const message = error instanceof Error ? error.message : String(error);
        return [
          probe.name,
          { status: "down", required: probe.required, latencyMs: Date.now() - started, error: message },
        ];
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

import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import type { TestProject } from "vitest/node";
import { applyMigrations, isListening, sql, useWsProxy, withDatabase } from "../dev/db.ts";
import { startEmbeddedPostgres } from "../dev/pglite.ts";
import { startNotificationService, startProductService, startUserService } from "../dev/services/index.ts";
import { startSqlHttp } from "../dev/sqlhttp.ts";
import { dropKeys, startUpstashEndpoint } from "../dev/upstash.ts";
import { startWsProxy } from "../dev/wsproxy.ts";

/** An obvious test value; the worker's config demands at least 32 bytes. */
export const TEST_JWT_SECRET = "test-secret-for-vitest-only-0123456789abcdef";

declare module "vitest" {
  export interface ProvidedContext {
    productServiceUrl: string;
    userServiceUrl: string;
    notificationServiceUrl: string;
    databaseUrl: string;
    databaseWsProxy: string;
    databaseHttpEndpoint: string;
    upstashRestUrl: string;
    upstashRestToken: string;
    upstashDownRestUrl: string;
    cacheKeyPrefix: string;
  }
}

const DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres";

/**
 * A database of this run's own: a fresh one on the real Postgres (TEST_DATABASE_URL, or
 * 127.0.0.1:5432), dropped afterwards; PGlite only where no server is reachable, and never in CI.
 */
async function provisionDatabase(): Promise<{ url: string; close(): Promise<void> }> {
  const server = process.env.TEST_DATABASE_URL ?? DEFAULT_SERVER;
  const { hostname, port } = new URL(server);
  if (await isListening(hostname, Number(port || 5432))) {
    const name = `order_test_${process.pid}_${Date.now().toString(36)}`;
    await sql(server, `CREATE DATABASE "${name}"`);
    const url = withDatabase(server, name);
    return {
      url,
      close: () => sql(server, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
    };
  }
  if (process.env.CI)
    throw new Error(`CI needs a real Postgres, and none answers at ${hostname}:${port || 5432}`);
  console.warn(`No Postgres at ${hostname}:${port || 5432}: testing against embedded PGlite`);
  const embedded = await startEmbeddedPostgres();
  return { url: embedded.url, close: () => embedded.close() };
}

const DEFAULT_REDIS = "redis://127.0.0.1:6379";

interface TestRedis {
  url: string;
  token: string;
  /** The same endpoint with its Redis stopped (an address where nothing listens). */
  downUrl: string;
  keyPrefix: string;
  close(): Promise<void>;
}

/**
 * The local Upstash-compatible endpoint in front of the real Redis (TEST_REDIS_URL, or
 * 127.0.0.1:6379), under a key prefix of this run's own, whose keys are dropped afterwards. Where no
 * Redis answers the cache tests are skipped, except in CI, where a missing Redis fails the run.
 */
async function provisionRedis(): Promise<TestRedis | undefined> {
  const redisUrl = process.env.TEST_REDIS_URL ?? DEFAULT_REDIS;
  let endpoint: Awaited<ReturnType<typeof startUpstashEndpoint>>;
  try {
    endpoint = await startUpstashEndpoint({ redisUrl });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (process.env.CI) throw new Error(`CI needs a real Redis: ${reason}`);
    console.warn(`${reason}: the cache tests are skipped`);
    return undefined;
  }
  const stopped = `redis://127.0.0.1:${await unusedPort()}`;
  const down = await startUpstashEndpoint({ redisUrl: stopped, token: endpoint.token, requireRedis: false });
  const keyPrefix = `order-service:test:${process.pid}-${Date.now().toString(36)}:`;
  return {
    url: endpoint.url,
    token: endpoint.token,
    downUrl: down.url,
    keyPrefix,
    close: async () => {
      await Promise.all([endpoint.close(), down.close()]);
      await dropKeys(redisUrl, keyPrefix);
    },
  };
}

/** A loopback port nothing listens on (taken, then released). */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts the sibling services' stand-ins, the wsproxy and a migrated database, on loopback. */
export default async function setup(project: TestProject) {
  const product = await startProductService({ port: 0 });
  const user = await startUserService({ port: 0, jwtSecret: TEST_JWT_SECRET });
  const notification = await startNotificationService({ port: 0 });
  const proxy = await startWsProxy({ port: 0 });
  const wsProxy = useWsProxy(proxy.port);
  const database = await provisionDatabase();
  await applyMigrations(database.url);
  const sqlHttp = await startSqlHttp({ port: 0 });
  const redis = await provisionRedis();

  project.provide("productServiceUrl", product.url);
  project.provide("userServiceUrl", user.url);
  project.provide("notificationServiceUrl", notification.url);
  project.provide("databaseUrl", database.url);
  project.provide("databaseWsProxy", wsProxy);
  project.provide("databaseHttpEndpoint", sqlHttp.url);
  // Empty without a Redis: the worker then runs without one (its config reads "" as unset).
  project.provide("upstashRestUrl", redis?.url ?? "");
  project.provide("upstashRestToken", redis?.token ?? "");
  project.provide("upstashDownRestUrl", redis?.downUrl ?? "");
  project.provide("cacheKeyPrefix", redis?.keyPrefix ?? "order-service:test:");
  return async () => {
    await sqlHttp.close();
    await database.close();
    await redis?.close();
    await Promise.all([product.close(), user.close(), notification.close(), proxy.close()]);
  };
}

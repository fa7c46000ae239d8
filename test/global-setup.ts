import type { TestProject } from "vitest/node";
import { applyMigrations, isListening, sql, useWsProxy, withDatabase } from "../dev/db.ts";
import { startEmbeddedPostgres } from "../dev/pglite.ts";
import { startNotificationService, startProductService, startUserService } from "../dev/services/index.ts";
import { startSqlHttp } from "../dev/sqlhttp.ts";
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

  project.provide("productServiceUrl", product.url);
  project.provide("userServiceUrl", user.url);
  project.provide("notificationServiceUrl", notification.url);
  project.provide("databaseUrl", database.url);
  project.provide("databaseWsProxy", wsProxy);
  project.provide("databaseHttpEndpoint", sqlHttp.url);
  return async () => {
    await sqlHttp.close();
    await database.close();
    await Promise.all([product.close(), user.close(), notification.close(), proxy.close()]);
  };
}

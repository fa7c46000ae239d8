// `npm run db:migrate`: applies drizzle/ migrations to DATABASE_URL (any Postgres), or to the
// embedded PGlite that `npm run dev` uses when DATABASE_URL is unset.
import { mkdirSync } from "node:fs";
import { applyMigrations, useWsProxy } from "./db.ts";
import { startEmbeddedPostgres } from "./pglite.ts";
import { loadSettings, ROOT } from "./settings.ts";
import { startWsProxy } from "./wsproxy.ts";

const settings = loadSettings();
const dataDir = `${ROOT}.data/pglite`;
if (!settings.DATABASE_URL) mkdirSync(dataDir, { recursive: true });
const embedded = settings.DATABASE_URL ? undefined : await startEmbeddedPostgres({ dataDir });
const url = settings.DATABASE_URL ?? (embedded?.url as string);
const proxy = await startWsProxy({
  port: 0,
  allowedHosts: [new URL(url).hostname.replace(/^\[|\]$/g, ""), "127.0.0.1", "localhost", "::1"],
});
try {
  useWsProxy(proxy.port);
  await applyMigrations(url);
  console.log(
    `Migrations applied to ${embedded ? "the embedded PGlite (.data/pglite)" : url.replace(/\/\/[^@]*@/, "//***@")}`,
  );
} finally {
  await proxy.close();
  await embedded?.close();
}

// Shared by `npm run dev`, `npm run db:migrate` and the test setup: how Node reaches a Postgres the
// way the worker does (the Neon driver over a wsproxy), applies migrations, and makes test databases.
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { neonConfig, Pool } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-serverless";
import { migrate } from "drizzle-orm/neon-serverless/migrator";
import { WebSocket } from "ws";

export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../drizzle", import.meta.url));

/** Points the Neon driver (in this Node process) at a local wsproxy, as the worker does in dev. */
export function useWsProxy(proxyPort: number): string {
  const proxy = `127.0.0.1:${proxyPort}/v1`;
  neonConfig.webSocketConstructor = WebSocket;
  neonConfig.wsProxy = (host, port) => `${proxy}?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
  return proxy;
}

export async function applyMigrations(url: string): Promise<void> {
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    await migrate(drizzle({ client: pool }), { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await pool.end();
  }
}

export async function sql(url: string, text: string): Promise<void> {
  await rows(url, text);
}

/** The rows of one statement (the last one's, for several). */
export async function rows<T>(url: string, text: string): Promise<T[]> {
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    const result = await pool.query(text);
    // Several statements answer with one result each.
    const last = Array.isArray(result) ? result.at(-1) : result;
    return (last?.rows ?? []) as T[];
  } finally {
    await pool.end();
  }
}

/** Whether something accepts TCP connections at host:port (within a second). */
export function isListening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

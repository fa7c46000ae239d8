// A local stand-in for Neon's SQL-over-HTTP endpoint, so the Neon driver's HTTP path (`neon()`, and
// drizzle-orm/neon-http on top) reaches a plain Postgres: the worker sets `neonConfig.fetchEndpoint` to
// http://127.0.0.1:PORT/sql (DATABASE_HTTP_ENDPOINT). The protocol, as @neondatabase/serverless 1.2 speaks it:
//
//   POST /sql   Neon-Connection-String: postgresql://…   Neon-Raw-Text-Output: true   Neon-Array-Mode: true
//   { "query": "SELECT $1", "params": ["x"] }                      → 200 { fields, rows, command, rowCount }
//   { "queries": [{ "query", "params" }, …] }  + Neon-Batch-*      → 200 { results: [ … ] }, all or nothing
//   a Postgres error                                                → 400 { message, code (SQLSTATE), detail, … }
//
// Rows carry Postgres' text output (the driver parses each value by its field's dataTypeID). A database
// that cannot be reached answers 502, which the driver reports as "Server error (HTTP status 502)".
//
// Order reads go through here on every `npm run dev`, test and bench request, so it is kept lean: one
// pg Pool per connection string, no per-request parsing beyond the JSON body, no logging, and each
// parameterised statement prepared once per connection (planning an order read costs Postgres more
// than running it).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { listen, readBody } from "./services/http.ts";

export interface SqlHttpOptions {
  port?: number;
  host?: string;
  /** Database hosts a connection string may name. Loopback only by default: an open endpoint would reach anything. */
  allowedHosts?: string[];
  /** Connections per database (a pg Pool each); requests beyond it wait their turn. */
  maxConnections?: number;
  /**
   * Simulated network distance to the worker (`npm run bench -- --rtt MS`): every request waits this
   * long before it is handled, one round trip each. 0 (the default) for tests and dev.
   */
  rttMs?: number;
}

export interface RunningSqlHttp {
  port: number;
  /** What DATABASE_HTTP_ENDPOINT (neonConfig.fetchEndpoint) is set to. */
  url: string;
  close(): Promise<void>;
}

interface Statement {
  query: string;
  params?: unknown[];
}

const LOOPBACK = ["127.0.0.1", "localhost", "::1"];
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** The error fields the driver copies onto its NeonDbError (all of pg's DatabaseError fields). */
const ERROR_FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;
/** Past this many distinct statements, new ones run unnamed: a dev process must not grow without bound. */
const MAX_PREPARED = 500;
/** Every value stays Postgres' text: the driver parses it on its side, by dataTypeID. */
const RAW_TEXT = { getTypeParser: () => (value: string) => value };
const ISOLATION_LEVELS: Record<string, string> = {
  ReadUncommitted: "READ UNCOMMITTED",
  ReadCommitted: "READ COMMITTED",
  RepeatableRead: "REPEATABLE READ",
  Serializable: "SERIALIZABLE",
};

class RequestError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export async function startSqlHttp(opts: SqlHttpOptions = {}): Promise<RunningSqlHttp> {
  const allowed = new Set(opts.allowedHosts ?? LOOPBACK);
  const pools = new Map<string, pg.Pool>();

  const poolFor = (connectionString: string | undefined): pg.Pool => {
    if (!connectionString) throw new RequestError(400, "Neon-Connection-String header is required");
    const existing = pools.get(connectionString);
    if (existing) return existing;
    let host: string;
    try {
      host = new URL(connectionString).hostname.replace(/^\[|\]$/g, "");
    } catch {
      throw new RequestError(400, "Neon-Connection-String is not a valid URL");
    }
    if (!allowed.has(host)) throw new RequestError(403, `Database host ${host} is not allowed`);
    const pool = new pg.Pool({
      connectionString,
      max: opts.maxConnections ?? 10,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 5_000,
    });
    // An idle client dropped by the server (a test database dropped WITH (FORCE)) must not crash the process.
    pool.on("error", () => {});
    pools.set(connectionString, pool);
    return pool;
  };

  const distance = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const server = createServer((req, res) => {
    const handled = opts.rttMs
      ? distance(opts.rttMs).then(() => handle(req, res, poolFor))
      : handle(req, res, poolFor);
    handled.catch((error) => reply(res, ...failure(error)));
  });
  server.keepAliveTimeout = 60_000;

  const host = opts.host ?? "127.0.0.1";
  await listen(server, opts.port ?? 0, host);
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  return {
    port,
    url: `http://${urlHost}:${port}/sql`,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await Promise.all([...pools.values()].map((pool) => pool.end().catch(() => {})));
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  poolFor: (connectionString: string | undefined) => pg.Pool,
): Promise<void> {
  if (req.url !== "/sql") throw new RequestError(404, "Not found");
  if (req.method !== "POST") throw new RequestError(405, "Method not allowed");
  const pool = poolFor(req.headers["neon-connection-string"] as string | undefined);
  if (req.headers["neon-raw-text-output"] !== "true")
    throw new RequestError(400, "Only Neon-Raw-Text-Output: true is supported");
  const arrayMode = req.headers["neon-array-mode"] === "true";
  const body = (await readJsonBody(req)) as { query?: unknown; params?: unknown; queries?: unknown };

  if (Array.isArray(body.queries)) {
    const statements = body.queries.map(statement);
    const begin = beginStatement(req);
    const client = await pool.connect();
    let broken: Error | undefined;
    // Checked out, the client is no longer watched by the pool: a backend that dies between two of
    // its statements (terminated, or its database dropped) must fail this batch, not crash the process.
    const onError = (error: Error) => {
      broken = error;
    };
    client.on("error", onError);
    try {
      await client.query(begin);
      const results = [];
      for (const s of statements) results.push(shape(await run(client, s, arrayMode), arrayMode));
      await client.query("COMMIT");
      reply(res, 200, { results });
    } catch (error) {
      try {
        await client.query("ROLLBACK");
      } catch (rollbackError) {
        broken = rollbackError as Error; // the connection is gone: let the pool drop it
      }
      throw error;
    } finally {
      client.off("error", onError);
      client.release(broken);
    }
    return;
  }
  reply(res, 200, shape(await run(pool, statement(body), arrayMode), arrayMode));
}

function statement(value: unknown): Statement {
  const { query, params } = (value ?? {}) as { query?: unknown; params?: unknown };
  if (typeof query !== "string") throw new RequestError(400, "Each statement needs a query string");
  if (params !== undefined && !Array.isArray(params)) throw new RequestError(400, "params must be an array");
  return { query, params };
}

function beginStatement(req: IncomingMessage): string {
  const level = req.headers["neon-batch-isolation-level"] as string | undefined;
  let begin = "BEGIN";
  if (level) {
    const sqlLevel = ISOLATION_LEVELS[level];
    if (!sqlLevel) throw new RequestError(400, `Unknown Neon-Batch-Isolation-Level ${level}`);
    begin += ` ISOLATION LEVEL ${sqlLevel}`;
  }
  if (req.headers["neon-batch-read-only"] === "true") begin += " READ ONLY";
  if (req.headers["neon-batch-deferrable"] === "true") begin += " DEFERRABLE";
  return begin;
}

const statementNames = new Map<string, string>();

/** A name for a parameterised statement (what the driver sends for every drizzle query), so pg prepares it once per connection. */
function nameOf(s: Statement): string | undefined {
  if (!s.params?.length) return undefined; // DDL and literal one-offs stay unnamed
  let name = statementNames.get(s.query);
  if (!name && statementNames.size < MAX_PREPARED) {
    name = `sqlhttp_${statementNames.size + 1}`;
    statementNames.set(s.query, name);
  }
  return name;
}

function run(client: pg.Pool | pg.PoolClient, s: Statement, arrayMode: boolean): Promise<pg.QueryResult> {
  // Extended protocol even without parameters, as Neon's endpoint: one statement per query.
  return client.query({
    text: s.query,
    values: s.params ?? [],
    name: nameOf(s),
    types: RAW_TEXT,
    queryMode: "extended",
    ...(arrayMode ? { rowMode: "array" } : {}),
  } as pg.QueryConfig);
}

function shape(result: pg.QueryResult, arrayMode: boolean) {
  return {
    command: result.command,
    rowCount: result.rowCount,
    rows: result.rows,
    rowAsArray: arrayMode,
    fields: result.fields.map((field) => ({
      name: field.name,
      tableID: field.tableID,
      columnID: field.columnID,
      dataTypeID: field.dataTypeID,
      dataTypeSize: field.dataTypeSize,
      dataTypeModifier: field.dataTypeModifier,
      format: field.format,
    })),
  };
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req, MAX_BODY_BYTES);
  if (body === null) throw new RequestError(413, "Request body too large");
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new RequestError(400, "Request body must be JSON");
  }
}

/** A Postgres error keeps its SQLSTATE (400); a database that cannot be reached is a 502. */
function failure(error: unknown): [number, Record<string, unknown>] {
  if (error instanceof RequestError) return [error.status, { message: error.message }];
  if (error instanceof pg.DatabaseError) {
    const body: Record<string, unknown> = { message: error.message };
    for (const field of ERROR_FIELDS) if (error[field] !== undefined) body[field] = error[field];
    return [400, body];
  }
  const message = error instanceof Error ? error.message : String(error);
  return [502, { message: `Cannot reach the database: ${message}` }];
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

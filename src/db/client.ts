import { neon, neonConfig, Pool } from "@neondatabase/serverless";
import { sql } from "drizzle-orm";
import { drizzle as drizzleHttp, type NeonHttpDatabase } from "drizzle-orm/neon-http";
import { drizzle, type NeonDatabase } from "drizzle-orm/neon-serverless";
import type { Config } from "../config.ts";
import { ApiError, ERROR_STATUS, type ErrorCode } from "../lib/errors.ts";
import { REFUSAL_SQLSTATE } from "./queries/refusals.ts";
import * as schema from "./schema.ts";

export type Db = NeonDatabase<typeof schema>;
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];
export type Executor = Db | Tx;
/** The driver's HTTP path: one request per statement (or per batch), no connection to open. */
export type HttpDb = NeonHttpDatabase<typeof schema>;
/** Anything a one-shot statement can run on: the Pool, a transaction, or the HTTP path. */
export type Queryable = Executor | HttpDb;

/** Past this, an unreachable database is reported as such instead of hanging the request. */
const CONNECT_TIMEOUT_MS = 5000;
const QUERY_TIMEOUT_MS = 10_000;

function configureDriver(config: Config): void {
  // Locally, dev/sqlhttp.ts stands in for Neon's SQL-over-HTTP endpoint (https://api.<host>/sql).
  if (config.DATABASE_HTTP_ENDPOINT) neonConfig.fetchEndpoint = config.DATABASE_HTTP_ENDPOINT;
  const proxy = config.DATABASE_WS_PROXY;
  if (!proxy) return;
  // A local Postgres behind dev/wsproxy.ts: plain ws://, no TLS pipelining, and no pipelined
  // password either, which SCRAM authentication does not allow.
  neonConfig.wsProxy = (host, port) => `${proxy}?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
}

/**
 * HTTP clients by connection string, shared by the isolate's requests. Unlike the Pool's WebSocket,
 * a neon() client holds no I/O object (each statement is a fetch of its own), and building drizzle
 * with the schema costs about 0.1 ms, which a hot read need not pay every time.
 */
const httpClients = new Map<string, HttpDb>();

function httpClient(url: string): HttpDb {
  let db = httpClients.get(url);
  if (!db) {
    const client = neon(url, {
      // Stated, not left to the database's default: a batch's checks (queries/orders.ts) must see
      // what committed while its first statement waited for a lock, which each statement of a READ
      // COMMITTED transaction does; under REPEATABLE READ they would judge an older snapshot.
      isolationLevel: "ReadCommitted",
      fetchOptions: {
        // A getter, read each time the driver spreads these options into a fetch: every
        // statement gets its own deadline, as the Pool's query_timeout gives each query.
        get signal() {
          return AbortSignal.timeout(QUERY_TIMEOUT_MS);
        },
      },
    });
    db = drizzleHttp({ client, schema });
    httpClients.set(url, db);
  }
  return db;
}

/**
 * When this isolate last heard the database answer, and last found it unreachable. Kept across
 * requests: it is what lets a checkout skip asking the database anything before it reserves stock
 * (see `Database.answeredLately`). An answer counts only from a call that started after the last
 * failure, so one sent before an outage does not vouch for the database after it.
 */
const heard = { answeredAt: 0, failedAt: 0 };

/**
 * One request's database, over two paths of the Neon driver. One-shot statements go over HTTP: a
 * single request each, nothing to open or close. Interactive transactions need the WebSocket Pool,
 * opened on first use (a request that only reads never opens one) and closed by the same request:
 * workerd forbids reusing its WebSocket from another request, so a module-scope pool breaks.
 */
export class Database {
  private pool: Pool | undefined;
  private instance: Db | undefined;

  private readonly config: Config;

  constructor(config: Config) {
    this.config = config;
    configureDriver(config);
  }

  get http(): HttpDb {
    return httpClient(this.config.DATABASE_URL);
  }

  get db(): Db {
    if (!this.instance) {
      this.pool = new Pool({
        connectionString: this.config.DATABASE_URL,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        // A stalled connection fails the query instead of hanging the request.
        query_timeout: QUERY_TIMEOUT_MS,
        max: 4,
      });
      // A dropped connection surfaces on the query that used it; an idle client's error must not crash the isolate.
      this.pool.on("error", () => {});
      this.instance = drizzle({ client: this.pool, schema });
    }
    return this.instance;
  }

  /**
   * One transaction; a database that cannot be reached becomes 503 DATABASE_UNAVAILABLE. A deadlock
   * or serialization failure (SQLSTATE class 40) rolled everything back, so the work runs once more
   * before the request gives up, unless the work does something outside the database that must not
   * happen twice (`retryOnConflict: false`).
   */
  transaction<T>(work: (tx: Tx) => Promise<T>, { retryOnConflict = true } = {}): Promise<T> {
    return withDatabase(async () => {
      try {
        return await this.db.transaction(work);
      } catch (error) {
        if (!retryOnConflict || !isRollback(error)) throw error;
        return this.db.transaction(work);
      }
    });
  }

  /** One statement over HTTP, with the same error mapping. */
  once<T>(work: (db: HttpDb) => Promise<T>): Promise<T> {
    return withDatabase(() => work(this.http));
  }

  /**
   * A non-interactive transaction over HTTP: `work` sends its statements as one batch (`db.batch`),
   * committed all together or not at all, in one request and on no connection of ours, at READ
   * COMMITTED. A statement that must abort the batch is written with `refuseWhen()`
   * (queries/refusals.ts), which rolls it back and becomes that ApiError here. Rolled back to resolve
   * a conflict (SQLSTATE class 40), it is sent once more.
   */
  batch<T>(work: (db: HttpDb) => Promise<T>): Promise<T> {
    return withDatabase(async () => {
      try {
        return await work(this.http);
      } catch (error) {
        if (!isRollback(error)) throw error;
        return work(this.http);
      }
    });
  }

  /**
   * Whether the last word this isolate had from the database, within `ms`, was an answer: not after
   * an outage it saw (until a request gets through again), and not in a fresh isolate.
   */
  answeredLately(ms: number): boolean {
    return heard.answeredAt > heard.failedAt && Date.now() - heard.answeredAt <= ms;
  }

  async ping(): Promise<void> {
    await this.once((db) => db.execute(sql`SELECT 1`));
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    this.instance = undefined;
    await pool?.end().catch(() => {});
  }
}

/**
 * SQLSTATE classes that mean the database cannot serve us right now: connection exception (08),
 * transaction rollback such as a deadlock or serialization failure (40), insufficient resources
 * (53), operator intervention such as a shutdown or statement timeout (57), system error (58), and
 * internal error (XX: what Neon's proxy answers when it cannot reach the compute).
 * Every other class means our query or data is wrong: a bug, answered as a 500.
 */
const UNAVAILABLE_CLASSES = new Set(["08", "40", "53", "57", "58", "XX"]);
const PROGRAMMING_ERRORS = [TypeError, RangeError, ReferenceError, SyntaxError];

/** A transaction the database rolled back to resolve a conflict (deadlock, serialization failure). */
function isRollback(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string") return code.startsWith("40");
  const cause = (error as { cause?: unknown })?.cause;
  return cause ? isRollback(cause) : false;
}

/** Whether an error thrown by the driver means the database cannot be reached or has gone away. */
export function isUnavailable(error: unknown): boolean {
  if (error instanceof ApiError || PROGRAMMING_ERRORS.some((type) => error instanceof type)) return false;
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code))
    return UNAVAILABLE_CLASSES.has(code.slice(0, 2));
  const cause = (error as { cause?: unknown })?.cause;
  // No SQLSTATE: the driver's own connection, socket and timeout errors, whose shapes vary.
  return cause ? isUnavailable(cause) : true;
}

/** The refusal a statement raised (queries/refusals.ts), as the ApiError it stands for. */
function refusalOf(error: unknown): ApiError | undefined {
  const { code, message, detail, cause } = (error ?? {}) as {
    code?: unknown;
    message?: unknown;
    detail?: unknown;
    cause?: unknown;
  };
  if (code === REFUSAL_SQLSTATE && typeof message === "string" && message in ERROR_STATUS) {
    const retryable = message === "IDEMPOTENCY_KEY_IN_FLIGHT" ? { "Retry-After": "1" } : undefined;
    return new ApiError(
      message as ErrorCode,
      typeof detail === "string" ? detail : message,
      undefined,
      retryable,
    );
  }
  return cause ? refusalOf(cause) : undefined;
}

/**
 * Runs database work, answering 503 DATABASE_UNAVAILABLE when the database is down, and a refusal
 * raised by a statement as the ApiError it names. The driver's error stays the ApiError's cause.
 */
export async function withDatabase<T>(work: () => Promise<T>): Promise<T> {
  const startedAt = Date.now();
  const answered = () => {
    if (startedAt >= heard.failedAt) heard.answeredAt = Math.max(Date.now(), heard.failedAt + 1);
  };
  try {
    const result = await work();
    answered();
    return result;
  } catch (error) {
    const refusal = refusalOf(error);
    if (refusal || !isUnavailable(error)) answered();
    else heard.failedAt = Date.now();
    if (refusal) throw refusal;
    if (isUnavailable(error)) {
      throw new ApiError(
        "DATABASE_UNAVAILABLE",
        "The order database is unavailable, please retry shortly",
        undefined,
        undefined,
        { cause: error },
      );
    }
    throw error;
  }
}

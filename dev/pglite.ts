// Embedded Postgres for local development and tests: PGlite (Postgres in WebAssembly) served over TCP.
//
// PGlite has a single backend, so concurrent connections must take turns on it. pglite-socket's
// PGLiteSocketHandler does the per-connection wire work (SSLRequest, startup, message framing); the
// turn-taking is ours. pglite-socket's own queue (PGLiteSocketServer, 0.2.17) switches connections between
// single messages, so under contention one connection's Bind lands on another's Parse and a query returns
// another query's rows; it also never hangs up on Terminate, which stalls a Pool replacing a client.
import { createServer, type Socket } from "node:net";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketHandler, type PGLiteSocketHandlerOptions } from "@electric-sql/pglite-socket";

export interface EmbeddedPostgresOptions {
  /** Directory to persist the database in; in-memory when absent. */
  dataDir?: string;
  port?: number;
  host?: string;
  /** Connections beyond this are refused with "too many clients" (a Neon Pool opens up to 10 by default). */
  maxConnections?: number;
}

export interface RunningPostgres {
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions = {}): Promise<RunningPostgres> {
  const host = opts.host ?? "127.0.0.1";
  const maxConnections = opts.maxConnections ?? 100;
  const db = await PGlite.create(opts.dataDir);

  const connections = new Set<Socket>();
  const byHandler = new Map<number, Socket>();
  const backend = new Backend(db, (handlerId) => byHandler.get(handlerId)?.end());
  const server = createServer((socket) => {
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
    socket.on("error", () => socket.destroy()); // a reset by the client is no reason to crash
    if (byHandler.size >= maxConnections) {
      socket.end(errorResponse("53300", "sorry, too many clients already"));
      socket.resume(); // drain the startup message, or the socket never sees the client's close
      return;
    }
    const handler = new PGLiteSocketHandler({
      queryQueue: backend as unknown as PGLiteSocketHandlerOptions["queryQueue"],
      closeOnDetach: true,
    });
    byHandler.set(handler.handlerId, socket);
    socket.on("close", () => byHandler.delete(handler.handlerId));
    handler.attach(socket).catch(() => socket.destroy());
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port ?? 0, host, () => resolve());
    });
  } catch (err) {
    await db.close();
    throw err;
  }
  const { port } = server.address() as { port: number };
  const urlHost = host.includes(":") ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  const close = async () => {
    backend.close();
    const closed = new Promise((resolve) => server.close(resolve));
    for (const socket of connections) socket.destroy();
    await closed;
    await backend.idle();
    await db.close();
  };

  return {
    host,
    port,
    url: `postgres://postgres:postgres@${urlHost}:${port}/postgres`,
    close: () => (closing ??= close()),
  };
}

const TERMINATE = 0x58; // 'X'
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]); // 'S'
const READY_FOR_QUERY_IDLE = [0x5a, 0, 0, 0, 5, 0x49]; // 'Z', length 5, status 'I'

function message(type: string, body: string): Buffer {
  const text = Buffer.from(body);
  const out = Buffer.alloc(5 + text.length);
  out.write(type, 0, "latin1");
  out.writeInt32BE(4 + text.length, 1);
  text.copy(out, 5);
  return out;
}

const queryMessage = (sql: string) => message("Q", `${sql}\0`);
const errorResponse = (code: string, text: string) => message("E", `SFATAL\0C${code}\0M${text}\0\0`);

interface Job {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (err: Error) => void;
}

/**
 * Runs every connection's messages on the one PGlite backend. A connection keeps the backend from its
 * first message until the backend answers ReadyForQuery with status idle: that covers an extended-query
 * batch (Parse … Sync), a COPY and a whole transaction. A connection that waits inside a transaction for
 * another connection therefore waits forever, where Postgres would only block on row locks.
 * Implements the interface PGLiteSocketHandler expects from its `queryQueue`.
 */
class Backend {
  private readonly db: PGlite;
  private readonly onTerminate: (handlerId: number) => void;
  private jobs: Job[] = [];
  private owner: number | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(db: PGlite, onTerminate: (handlerId: number) => void) {
    this.db = db;
    this.onTerminate = onTerminate;
  }

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    if (message[0] === TERMINATE) {
      // Hang up like Postgres does; the socket's close then releases whatever the connection held.
      this.onTerminate(handlerId);
      return Promise.resolve(0);
    }
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error("database closed"));
      this.jobs.push({ handlerId, message, onData, resolve, reject });
      this.pump();
    });
  }

  getQueueLength(): number {
    return this.jobs.length;
  }

  clearQueueForHandler(handlerId: number): void {
    for (const job of this.jobs) if (job.handlerId === handlerId) job.reject(new Error("connection closed"));
    this.jobs = this.jobs.filter((job) => job.handlerId !== handlerId);
  }

  /** Called when a connection goes away: end its batch and roll back its transaction, as a Postgres backend exit would. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.owner !== handlerId || this.closed) return;
    await this.running;
    if (this.owner !== handlerId || this.closed) return; // its last job ended the batch after all
    await this.exec(SYNC);
    if (this.db.isInTransaction()) await this.exec(queryMessage("ROLLBACK"));
    this.owner = undefined;
    this.pump();
  }

  close(): void {
    this.closed = true;
    for (const job of this.jobs) job.reject(new Error("database closed"));
    this.jobs = [];
  }

  async idle(): Promise<void> {
    await this.running;
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const index = this.jobs.findIndex((job) => this.owner === undefined || job.handlerId === this.owner);
    if (index === -1) return;
    const [job] = this.jobs.splice(index, 1) as [Job];
    this.running = this.run(job).finally(() => {
      this.running = undefined;
      this.pump();
    });
  }

  private async run(job: Job): Promise<void> {
    let bytes = 0;
    let tail: number[] = [];
    try {
      await this.exec(job.message, (data) => {
        bytes += data.length;
        tail = [...tail, ...data.subarray(-READY_FOR_QUERY_IDLE.length)].slice(-READY_FOR_QUERY_IDLE.length);
        job.onData(data);
      });
    } catch (err) {
      job.reject(err as Error);
      return;
    }
    const idle =
      tail.length === READY_FOR_QUERY_IDLE.length && tail.every((b, i) => b === READY_FOR_QUERY_IDLE[i]);
    this.owner = idle ? undefined : job.handlerId;
    job.resolve(bytes);
  }

  private exec(message: Uint8Array, onRawData: (data: Uint8Array) => void = () => {}): Promise<void> {
    return this.db.runExclusive(() => this.db.execProtocolRawStream(message, { onRawData }));
  }
}

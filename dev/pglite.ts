// Embedded Postgres for local development and tests: PGlite (Postgres in WebAssembly) served over TCP by
// pglite-socket. PGlite has a single backend; pglite-socket's multiplexer queues every client's protocol
// messages onto it, so many clients can connect but statements run one at a time, and while one
// connection has a transaction open every other connection waits until it commits or rolls back.
import type { Server, Socket } from "node:net";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export interface EmbeddedPostgresOptions {
  /** Directory to persist the database in; in-memory when absent. */
  dataDir?: string;
  port?: number;
  host?: string;
  /** Concurrent client connections; more are dropped (a Neon Pool opens up to 10 by default). */
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
  const db = await PGlite.create(opts.dataDir);
  const server = new PGLiteSocketServer({ db, host, port: opts.port ?? 0, maxConnections: opts.maxConnections ?? 100 });
  try {
    await server.start();
  } catch (err) {
    await db.close();
    throw err;
  }
  // pglite-socket keeps a connection open after the client's Terminate message, but pg-style clients
  // wait for the server to hang up (a Pool replacing a failed client stalls on it), so do what Postgres does.
  const tcp = (server as unknown as { server: Server }).server;
  tcp.on("connection", (socket: Socket) => onTerminate(socket, () => setImmediate(() => socket.end())));

  // getServerConn() is "host:port", with the OS-assigned port once listening.
  const port = Number(server.getServerConn().split(":").at(-1));
  const urlHost = host.includes(":") ? `[${host}]` : host;

  return {
    host,
    port,
    url: `postgres://postgres:postgres@${urlHost}:${port}/postgres`,
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
}

const PROTOCOL_3 = 196608;
const TERMINATE = 0x58; // 'X'

/** Follows the frontend message framing of a client socket, without buffering bodies, to spot Terminate. */
function onTerminate(socket: Socket, callback: () => void): void {
  let header = Buffer.alloc(0); // a message header split across chunks
  let skip = 0; // bytes of the current message still to pass over
  let startup = true; // SSLRequest and StartupMessage carry no type byte

  const onData = (chunk: Buffer) => {
    let data = header.length > 0 ? Buffer.concat([header, chunk]) : chunk;
    header = Buffer.alloc(0);
    while (data.length > 0) {
      if (skip > 0) {
        const n = Math.min(skip, data.length);
        skip -= n;
        data = data.subarray(n);
        continue;
      }
      const headerLength = startup ? 8 : 5;
      if (data.length < headerLength) {
        header = Buffer.from(data);
        return;
      }
      const length = startup ? data.readInt32BE(0) : 1 + data.readInt32BE(1);
      if (length < headerLength - (startup ? 0 : 1)) return socket.off("data", onData); // not Postgres: stop watching
      if (startup) {
        if (data.readInt32BE(4) === PROTOCOL_3) startup = false;
      } else if (data[0] === TERMINATE) {
        socket.off("data", onData);
        return callback();
      }
      skip = length;
    }
  };
  socket.on("data", onData);
}

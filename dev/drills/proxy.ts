// A TCP proxy that breaks the path to a server on demand, for the fault drills. It sits in front of
// Postgres (the wsproxy and the SQL-over-HTTP endpoint both connect through it) and in front of Redis
// (the Upstash endpoint connects through it).
//
//   pass          bytes flow both ways untouched
//   down          every open connection is reset and new ones are reset as soon as they arrive
//   cut-commit    (Postgres only) every n-th COMMIT is let through to the server, and once the server
//                 answers it the connection is reset: the transaction committed, the client never hears
//
// To spot a COMMIT it reads the client's half of the Postgres wire protocol: after the untyped startup
// (and SSL/GSS requests), each message is a type byte and an int32 length that counts itself. A COMMIT
// arrives as a simple Query ('Q': the text) or, over the extended protocol, in a Parse ('P': the
// statement name, then the text). The server's answer is nothing but a byte stream here: the first
// chunk holding the CommandComplete tag "COMMIT" is dropped and both sides are reset.
import { type AddressInfo, connect, createServer, type Socket } from "node:net";

export type ProxyMode = "pass" | "down" | "cut-commit";

export interface FaultProxy {
  port: number;
  mode: ProxyMode;
  setMode(mode: ProxyMode, options?: { cutEvery?: number }): void;
  /** COMMITs whose answer was cut, and connections reset while down, since the start. */
  readonly stats: { connections: number; resets: number; cutCommits: number };
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const COMMIT_SQL = /^\s*(commit|end)\b/i;
const COMMIT_TAG = Buffer.from("COMMIT\0");

export async function startFaultProxy(opts: {
  port: number;
  target: { host: string; port: number };
  postgres?: boolean;
}): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const stats = { connections: 0, resets: 0, cutCommits: 0 };
  let cutEvery = 2;
  let commitsSeen = 0;

  const proxy: FaultProxy = {
    port: opts.port,
    mode: "pass",
    stats,
    setMode(mode, options) {
      proxy.mode = mode;
      cutEvery = options?.cutEvery ?? 2;
      commitsSeen = 0;
      if (mode === "down") for (const socket of sockets) reset(socket);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };

  const reset = (socket: Socket) => {
    stats.resets++;
    socket.resetAndDestroy();
  };

  const server = createServer((client) => {
    stats.connections++;
    if (proxy.mode === "down") return reset(client);
    const upstream = connect(opts.target);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
    }
    const cut = () => {
      if (!client.destroyed) reset(client);
      if (!upstream.destroyed) reset(upstream);
    };
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());

    // Set when a COMMIT to be cut went to the server: its answer must not come back.
    let cutPending = false;
    const scanner = opts.postgres
      ? postgresScanner((text) => {
          if (proxy.mode !== "cut-commit" || !COMMIT_SQL.test(text)) return;
          commitsSeen++;
          if (commitsSeen % cutEvery === 0) cutPending = true;
        })
      : undefined;

    client.on("data", (chunk: Buffer) => {
      scanner?.(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (cutPending && chunk.includes(COMMIT_TAG)) {
        stats.cutCommits++;
        return cut();
      }
      client.write(chunk);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  proxy.port = (server.address() as AddressInfo).port;
  return proxy;
}

/**
 * Splits the client's byte stream into Postgres messages and hands the SQL text of each Query and
 * Parse message to `onSql`. Chunks are fed in order; a message split across chunks waits for its end.
 */
function postgresScanner(onSql: (text: string) => void): (chunk: Buffer) => void {
  let buffer: Buffer = Buffer.alloc(0);
  let startup = true;
  return (chunk) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    for (;;) {
      if (startup) {
        if (buffer.length < 8) return;
        const length = buffer.readInt32BE(0);
        if (buffer.length < length) return;
        const code = buffer.readInt32BE(4);
        // The server answers an SSL or GSS request with one byte; the real startup message follows.
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) startup = false;
        buffer = buffer.subarray(length);
        continue;
      }
      if (buffer.length < 5) return;
      const length = buffer.readInt32BE(1);
      if (buffer.length < 1 + length) return;
      const type = String.fromCharCode(buffer[0] as number);
      const body = buffer.subarray(5, 1 + length);
      if (type === "Q") onSql(cString(body, 0));
      else if (type === "P") onSql(cString(body, body.indexOf(0) + 1));
      buffer = buffer.subarray(1 + length);
    }
  };
}

function cString(buffer: Buffer, start: number): string {
  const end = buffer.indexOf(0, start);
  return buffer.toString("utf8", start, end < 0 ? buffer.length : end);
}

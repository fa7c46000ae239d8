// WebSocket-to-TCP proxy speaking Neon's wsproxy protocol, so the Neon serverless driver can reach a
// plain Postgres: the driver connects to ws://HOST:PORT/v1?address=dbhost:dbport and sends raw protocol bytes.
import { createServer } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type RawData, WebSocket, WebSocketServer } from "ws";
import { listen } from "./services/http.ts";

export interface WsProxyOptions {
  port?: number;
  host?: string;
  /** Database hosts clients may ask for. Loopback only by default: an open proxy would reach anything. */
  allowedHosts?: string[];
  /**
   * Simulated network distance to the worker (`npm run bench -- --rtt MS`): what the client sends
   * reaches Postgres this much later, frames sent meanwhile travelling together, so a query (its
   * Parse/Bind/Execute/Sync frames) costs one round trip, not one per frame. 0 by default.
   */
  rttMs?: number;
}

export interface RunningWsProxy {
  port: number;
  close(): Promise<void>;
}

const LOOPBACK = ["127.0.0.1", "localhost", "::1"];

function parseAddress(value: string | null): { host: string; port: number } | undefined {
  const match = value ? /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(value) : null;
  if (!match?.[1] || !match[2]) return undefined;
  const port = Number(match[2]);
  return port > 0 && port < 65536 ? { host: match[1], port } : undefined;
}

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.on("error", () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export async function startWsProxy(opts: WsProxyOptions = {}): Promise<RunningWsProxy> {
  const allowed = new Set(opts.allowedHosts ?? LOOPBACK);
  const server = createServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket upgrade required\n");
  });
  const wss = new WebSocketServer({ noServer: true });

  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname !== "/v1") return refuse(socket, 404, "Not Found");
    const target = parseAddress(url.searchParams.get("address"));
    if (!target) return refuse(socket, 400, "Bad Request");
    if (!allowed.has(target.host)) return refuse(socket, 403, "Forbidden");
    wss.handleUpgrade(req, socket, head, (ws) => bridge(ws, target.host, target.port, opts.rttMs ?? 0));
  });

  const host = opts.host ?? "127.0.0.1";
  await listen(server, opts.port ?? 0, host);

  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function bridge(ws: WebSocket, host: string, port: number, rttMs: number): void {
  const tcp: Socket = connect({ host, port });
  tcp.setNoDelay(true);
  // Frames sent before the TCP connection is up (the startup message) must not be lost.
  let pending: Buffer[] | undefined = [];

  tcp.on("connect", () => {
    for (const chunk of pending ?? []) tcp.write(chunk);
    pending = undefined;
  });
  ws.on("message", (data: RawData) => {
    const chunk = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data);
    if (rttMs > 0) travel(chunk);
    else if (pending) pending.push(chunk);
    else tcp.write(chunk);
  });

  // One flight at a time: frames sent while one is on its way go with it.
  let flight: Buffer[] | undefined;
  function travel(chunk: Buffer): void {
    if (flight) {
      flight.push(chunk);
      return;
    }
    flight = [chunk];
    setTimeout(() => {
      const arrived = flight ?? [];
      flight = undefined;
      for (const part of arrived) {
        if (pending) pending.push(part);
        else if (!tcp.destroyed) tcp.write(part);
      }
    }, rttMs);
  }
  tcp.on("data", (chunk) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(chunk, { binary: true });
  });

  tcp.on("close", () => ws.close());
  tcp.on("error", () => ws.close(1011, "database connection failed"));
  ws.on("close", () => tcp.destroy());
  ws.on("error", () => tcp.destroy());
}

// Tiny HTTP toolkit shared by the local stand-ins for the sibling services.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export class HttpError extends Error {
  readonly status: number;
  /** Replaces the default `{ success: false, message }` answer. */
  readonly body: unknown;
  constructor(status: number, message: string, body?: unknown) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
  /** Resolves after `ms`, rejects when the server closes, so slow answers never keep a process alive. */
  delay(ms: number): Promise<void>;
}

export type Handler = (ctx: Context) => void | Promise<void>;

export interface ServiceOptions {
  port?: number;
  host?: string;
  /**
   * Simulated network distance to the worker (`npm run bench -- --rtt MS`): every request waits this
   * long before it is handled, one round trip each. 0 (the default) for tests and dev.
   */
  rttMs?: number;
}

export interface RunningService {
  url: string;
  close(): Promise<void>;
}

const DEFAULT_BODY_LIMIT = 64 * 1024;

/** A request's whole body, or null as soon as it passes `limit` bytes. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

export async function readJson(req: IncomingMessage, limit = DEFAULT_BODY_LIMIT): Promise<unknown> {
  const body = await readBody(req, limit);
  if (body === null) throw new HttpError(413, "Request body too large");
  if (body.length === 0) throw new HttpError(400, "Request body must be JSON");
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new HttpError(400, "Request body must be valid JSON");
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

export function send(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

interface Route {
  method: string;
  segments: string[];
  handler: Handler;
}

/** Matches `/a/:id/b` style patterns; the first route that matches wins. */
export class Router {
  private readonly routes: Route[] = [];

  on(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, segments: pattern.split("/").filter(Boolean), handler });
    return this;
  }

  match(
    method: string,
    pathname: string,
  ): { handler: Handler; params: Record<string, string> } | "method" | undefined {
    const parts = pathname.split("/").filter(Boolean);
    let pathMatched = false;
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      pathMatched = true;
      if (route.method === method) return { handler: route.handler, params };
    }
    return pathMatched ? "method" : undefined;
  }
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i] as string;
    const actual = parts[i] as string;
    if (expected.startsWith(":")) {
      try {
        params[expected.slice(1)] = decodeURIComponent(actual);
      } catch {
        return undefined;
      }
    } else if (expected !== actual) {
      return undefined;
    }
  }
  return params;
}

/** Serves `router` on host:port (port 0 = any free port). */
export async function serve(router: Router, opts: ServiceOptions = {}): Promise<RunningService> {
  const lifetime = new AbortController();
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const found = router.match(req.method ?? "GET", url.pathname);
    try {
      if (found === undefined) throw new HttpError(404, "Not found");
      if (found === "method") throw new HttpError(405, "Method not allowed");
      const delay = (ms: number) => sleep(ms, undefined, { signal: lifetime.signal });
      if (opts.rttMs) await delay(opts.rttMs);
      await found.handler({ req, res, url, params: found.params, delay });
    } catch (err) {
      if (lifetime.signal.aborted || res.headersSent || res.destroyed) return;
      if (err instanceof HttpError) {
        sendJson(res, err.status, err.body ?? { success: false, message: err.message });
      } else {
        console.error("stand-in service error:", err);
        sendJson(res, 500, { success: false, message: "Internal error" });
      }
    }
  });

  const host = opts.host ?? "127.0.0.1";
  await listen(server, opts.port ?? 0, host);
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  return {
    url: `http://${urlHost}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        lifetime.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Starts listening, failing (instead of crashing the process) when the port is taken. */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

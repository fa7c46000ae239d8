// A local Upstash-compatible REST endpoint in front of a real Redis (REDIS_URL), for `npm run dev`
// and the tests: the worker's @upstash/redis client talks to it exactly as it talks to Upstash.
//
// The protocol (Upstash's REST documentation): POST / with one command as a JSON array, POST
// /pipeline and POST /multi-exec with an array of them; `Authorization: Bearer <token>` (or
// `?_token=`); answers `{ result }` or `{ error }` (400 for a command error, 401 for a bad token,
// 405 for another method), and with `Upstash-Encoding: base64` every string in a result is
// base64-encoded, except the status reply "OK". Path-style commands (GET /set/foo/bar) are not
// spoken: the client never sends them.
//
// Fault injection for tests: a base URL of `<url>/__fault/<kind>[/<tag>]` makes every call through
// it fail that way (`error`: 500, `hang`: no answer until the caller gives up, `garbage`: 200 with a
// body that is not JSON); the tag only makes the URL unique, so a test gets a fault of its own.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createClient, ErrorReply, MultiErrorReply, RESP_TYPES } from "redis";
import { listen, readBody } from "./services/http.ts";

export interface UpstashEndpointOptions {
  /** The Redis behind the endpoint, e.g. redis://127.0.0.1:6379. */
  redisUrl: string;
  /** The bearer token clients must present; a random one when omitted. */
  token?: string;
  port?: number;
  host?: string;
  /** Fail to start when Redis does not answer (default); false keeps retrying in the background. */
  requireRedis?: boolean;
  /**
   * Simulated network distance to the worker (`npm run bench -- --rtt MS`): every request waits this
   * long before it is handled, one round trip each. 0 (the default) for tests and dev.
   */
  rttMs?: number;
}

export interface UpstashEndpoint {
  url: string;
  token: string;
  close(): Promise<void>;
}

type Argument = string | number | boolean;
type Reply = { result: unknown } | { error: string };

const BODY_LIMIT = 10 * 1024 * 1024;
const FAULTS = new Set(["error", "hang", "garbage"]);
/** How long a `hang` fault holds a request when the caller never gives up. */
const HANG_MS = 60_000;
// Commands that would change or block the one connection every request shares (Upstash refuses
// these over REST too: a request has no connection of its own).
const REFUSED = new Set([
  "auth",
  "blmove",
  "blmpop",
  "blpop",
  "brpop",
  "brpoplpush",
  "bzmpop",
  "bzpopmax",
  "bzpopmin",
  "client",
  "discard",
  "exec",
  "hello",
  "monitor",
  "multi",
  "psubscribe",
  "punsubscribe",
  "quit",
  "reset",
  "select",
  "shutdown",
  "ssubscribe",
  "subscribe",
  "sunsubscribe",
  "unsubscribe",
  "unwatch",
  "wait",
  "watch",
  "xread",
  "xreadgroup",
]);

class RequestError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function parseCommand(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new RequestError(400, "ERR a command must be a non-empty JSON array");
  }
  const args = value.map((arg: unknown) => {
    if (typeof arg === "string" || typeof arg === "number" || typeof arg === "boolean") {
      return String(arg as Argument);
    }
    throw new RequestError(400, "ERR command arguments must be strings, numbers or booleans");
  });
  if (REFUSED.has((args[0] as string).toLowerCase())) {
    throw new RequestError(400, `ERR Command is not available: '${args[0]}'`);
  }
  return args;
}

function parseCommands(value: unknown): string[][] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new RequestError(400, "ERR a pipeline must be a non-empty JSON array of commands");
  }
  return value.map(parseCommand);
}

/** A Redis reply as Upstash puts it in JSON; `base64` encodes every string but the status "OK". */
function encode(value: unknown, base64: boolean): unknown {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value.toString(base64 ? "base64" : "utf8");
  if (typeof value === "string")
    return base64 && value !== "OK" ? Buffer.from(value).toString("base64") : value;
  if (typeof value === "number" || typeof value === "boolean") return value;
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map((item) => encode(item, base64));
  return String(value);
}

function reply(run: () => Promise<unknown>, base64: boolean): Promise<Reply> {
  return run().then(
    (result) => ({ result: encode(result, base64) }),
    (error: unknown) => {
      if (error instanceof ErrorReply) return { error: error.message };
      throw error;
    },
  );
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function readCommands(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req, BODY_LIMIT);
  if (body === null) throw new RequestError(400, "ERR max request size exceeded");
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new RequestError(400, "ERR failed to parse command");
  }
}

function authorized(req: IncomingMessage, url: URL, token: Buffer): boolean {
  const header = req.headers.authorization;
  const presented = header?.startsWith("Bearer ") ? header.slice(7).trim() : url.searchParams.get("_token");
  if (!presented) return false;
  const given = Buffer.from(presented);
  return given.length === token.length && timingSafeEqual(given, token);
}

/** Splits `/__fault/<kind>[/<tag>]/<route>` into the fault (if any) and the route. */
function route(pathname: string): { fault: string | undefined; route: string } {
  const segments = pathname.split("/").filter(Boolean);
  let fault: string | undefined;
  if (segments[0] === "__fault") {
    fault = segments[1];
    segments.splice(0, 2);
    if (segments.length > 1) segments.shift();
    else if (segments.length === 1 && !["pipeline", "multi-exec"].includes(segments[0] as string)) {
      segments.shift();
    }
  }
  return { fault, route: `/${segments.join("/")}` };
}

export async function startUpstashEndpoint(options: UpstashEndpointOptions): Promise<UpstashEndpoint> {
  const token = options.token ?? randomBytes(24).toString("base64url");
  const tokenBytes = Buffer.from(token);
  const lifetime = new AbortController();
  const requireRedis = options.requireRedis ?? true;
  let connectedOnce = false;
  const redis = createClient({
    url: options.redisUrl,
    RESP: 2,
    // Fail a command at once while Redis is unreachable instead of queueing it until it is back.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2000,
      // Keep reconnecting once it has been up; a Redis that never answered fails the start instead.
      reconnectStrategy: (retries, cause) =>
        requireRedis && !connectedOnce ? cause : Math.min(100 * 2 ** retries, 2000),
    },
  }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  // Reconnection is the client's job; an unhandled 'error' event would crash the process.
  redis.on("error", () => {});
  redis.on("ready", () => {
    connectedOnce = true;
  });
  const connecting = redis.connect();
  if (requireRedis) {
    try {
      await connecting;
    } catch (error) {
      await redis.destroy();
      throw new Error(
        `No Redis answers at ${options.redisUrl}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  } else {
    connecting.catch(() => {});
  }

  const unreachable = () => new RequestError(503, "ERR Redis is unreachable");
  const run = (args: string[]) => {
    if (!redis.isReady) return Promise.reject(unreachable());
    return redis.sendCommand(args);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const target = route(url.pathname);
    if (req.method !== "POST" && req.method !== "PUT") throw new RequestError(405, "ERR method not allowed");
    if (!authorized(req, url, tokenBytes)) throw new RequestError(401, "Unauthorized");
    if (target.fault !== undefined) {
      if (!FAULTS.has(target.fault)) throw new RequestError(404, `ERR unknown fault '${target.fault}'`);
      return playFault(target.fault, req, res);
    }
    const body = await readCommands(req);
    const base64 = req.headers["upstash-encoding"]?.toString().toLowerCase() === "base64";

    switch (target.route) {
      case "/": {
        const answer = await reply(() => run(parseCommand(body)), base64);
        return send(res, "error" in answer ? 400 : 200, answer);
      }
      case "/pipeline": {
        const commands = parseCommands(body);
        // Sent together, so node-redis writes them to Redis as one pipeline; other clients may interleave.
        const answers = await Promise.all(commands.map((args) => reply(() => run(args), base64)));
        return send(res, 200, answers);
      }
      case "/multi-exec": {
        const commands = parseCommands(body);
        if (!redis.isReady) throw unreachable();
        const multi = redis.multi();
        for (const args of commands) multi.addCommand(args);
        try {
          const results = await multi.exec();
          return send(
            res,
            200,
            results.map((result) => ({ result: encode(result, base64) })),
          );
        } catch (error) {
          // Commands that failed as they ran: each answers its own error, the rest their results.
          if (error instanceof MultiErrorReply) {
            return send(
              res,
              200,
              error.replies.map((result) =>
                result instanceof ErrorReply ? { error: result.message } : { result: encode(result, base64) },
              ),
            );
          }
          // A command Redis refused to queue discards the whole transaction (EXECABORT).
          if (error instanceof ErrorReply) return send(res, 400, { error: error.message });
          throw error;
        }
      }
      default:
        throw new RequestError(404, `ERR unknown endpoint '${target.route}'`);
    }
  }

  async function playFault(fault: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    if (fault === "error") return send(res, 500, { error: "ERR injected fault" });
    if (fault === "garbage") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("<html>not json");
      return;
    }
    // hang: answer nothing until the caller gives up or the endpoint closes.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, HANG_MS);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      res.once("close", done);
      lifetime.signal.addEventListener("abort", done, { once: true });
    });
    if (!res.headersSent && !res.destroyed) send(res, 504, { error: "ERR injected hang" });
  }

  const server = createServer((req, res) => {
    const rtt = options.rttMs ?? 0;
    const handled =
      rtt > 0
        ? new Promise((resolve) => setTimeout(resolve, rtt)).then(() => handle(req, res))
        : handle(req, res);
    handled.catch((error: unknown) => {
      if (res.headersSent || res.destroyed) return;
      if (error instanceof RequestError) return send(res, error.status, { error: error.message });
      // The connection dropped mid-command, a timeout, a bug: never a hang, never a crash.
      console.error("upstash endpoint error:", error);
      send(res, 500, { error: `ERR ${error instanceof Error ? error.message : String(error)}` });
    });
  });
  const host = options.host ?? "127.0.0.1";
  try {
    await listen(server, options.port ?? 0, host);
  } catch (error) {
    await redis.destroy();
    throw error;
  }
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    token,
    close: async () => {
      lifetime.abort();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      redis.destroy();
    },
  };
}

/** Deletes every key under `prefix` (a test run's own), without blocking Redis (SCAN + UNLINK). */
export async function dropKeys(redisUrl: string, prefix: string): Promise<number> {
  if (!prefix) throw new Error("refusing to drop every key: no prefix");
  const redis = await createClient({ url: redisUrl, RESP: 2 }).connect();
  let dropped = 0;
  try {
    for await (const keys of redis.scanIterator({
      MATCH: `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`,
      COUNT: 500,
    })) {
      if (keys.length > 0) dropped += await redis.unlink(keys);
    }
  } finally {
    redis.destroy();
  }
  return dropped;
}

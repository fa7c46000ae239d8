// The local Upstash endpoint (dev/upstash.ts) against the @upstash/redis client's real calls.
import { env } from "cloudflare:workers";
import { Redis } from "@upstash/redis/cloudflare";
import { describe, expect, it } from "vitest";
import { hasRedis, redisKey } from "../helpers/cache.ts";

const client = (options: { token?: string; responseEncoding?: false } = {}) =>
  new Redis({
    url: env.UPSTASH_REDIS_REST_URL,
    token: options.token ?? env.UPSTASH_REDIS_REST_TOKEN,
    enableTelemetry: false,
    retry: false,
    ...(options.responseEncoding === false ? { responseEncoding: false } : {}),
  });

/** A key of this test's own, under the run's prefix (dropped after the run). */
const key = (name: string) => redisKey(`endpoint:${crypto.randomUUID()}:${name}`);

async function raw(path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${env.UPSTASH_REDIS_REST_URL}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.UPSTASH_REDIS_REST_TOKEN}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

describe.skipIf(!hasRedis)("local Upstash endpoint", () => {
  it("runs single commands, JSON values and non-ASCII text included, with and without base64", async () => {
    for (const redis of [client(), client({ responseEncoding: false })]) {
      const k = key("single");
      const value = { name: "Café ☕ 東京", price: 99999, tags: ["a", "b"] };
      expect(await redis.set(k, value, { ex: 60 })).toBe("OK");
      expect(await redis.get(k)).toEqual(value);
      expect(await redis.ttl(k)).toBeGreaterThan(0);
      expect(await redis.get(key("missing"))).toBeNull();
      expect(await redis.incr(`${k}:n`)).toBe(1);
      expect(await redis.ping()).toBe("PONG");
      expect(await redis.del(k, `${k}:n`)).toBe(2);
    }
  });

  it("encodes strings as base64 only when asked, leaving OK, numbers and nulls as they are", async () => {
    const k = key("encoding");
    expect(await raw("/", ["SET", k, "héllo", "EX", 60], { "Upstash-Encoding": "base64" })).toEqual({
      status: 200,
      body: { result: "OK" },
    });
    const encoded = await raw("/", ["GET", k], { "Upstash-Encoding": "base64" });
    expect(encoded.body.result).toBe(btoa(String.fromCharCode(...new TextEncoder().encode("héllo"))));
    expect((await raw("/", ["GET", k])).body.result).toBe("héllo");
    expect((await raw("/", ["STRLEN", k], { "Upstash-Encoding": "base64" })).body.result).toBe(6);
    expect((await raw("/", ["MGET", k, key("none")], { "Upstash-Encoding": "base64" })).body.result).toEqual([
      encoded.body.result,
      null,
    ]);
    expect((await raw("/", ["PING"], { "Upstash-Encoding": "base64" })).body.result).toBe(btoa("PONG"));
  });

  it("runs a pipeline, answering each command's result or error in order", async () => {
    const k = key("pipeline");
    const pipeline = client().pipeline();
    pipeline.set(k, "text", { ex: 60 });
    pipeline.incr(k);
    pipeline.get(k);
    expect(await pipeline.exec({ keepErrors: true })).toEqual([
      { result: "OK", error: undefined },
      { result: undefined, error: "ERR value is not an integer or out of range" },
      { result: "text", error: undefined },
    ]);
    const failing = client().pipeline().set(k, "text").incr(k);
    await expect(failing.exec()).rejects.toThrow(/Command 2 \[ incr \] failed/);

    const answer = await raw("/pipeline", [
      ["SET", k, 1],
      ["INCRBY", k, 41],
      ["HGET", k, "field"],
    ]);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual([
      { result: "OK" },
      { result: 42 },
      { error: "WRONGTYPE Operation against a key holding the wrong kind of value" },
    ]);
  });

  it("auto-pipelines concurrent calls of one client", async () => {
    const redis = client();
    const [a, b] = [key("auto-a"), key("auto-b")];
    await Promise.all([redis.set(a, 1, { ex: 60 }), redis.set(b, 2, { ex: 60 })]);
    expect(await Promise.all([redis.get(a), redis.get(b), redis.get(key("none"))])).toEqual([1, 2, null]);
  });

  it("runs a transaction with multi-exec, atomically and in order", async () => {
    const k = key("multi");
    const results = await client()
      .multi()
      .set(k, 5, { ex: 60 })
      .incr(k)
      .hset(`${k}:h`, { field: "value" })
      .hgetall(`${k}:h`)
      .exec();
    expect(results).toEqual(["OK", 6, 1, { field: "value" }]);
    await client().del(`${k}:h`);

    // A command that fails as it runs fails alone; one Redis will not queue aborts the transaction.
    const mixed = await raw("/multi-exec", [
      ["SET", k, "text"],
      ["INCR", k],
      ["GET", k],
    ]);
    expect(mixed).toEqual({
      status: 200,
      body: [{ result: "OK" }, { error: "ERR value is not an integer or out of range" }, { result: "text" }],
    });
    const aborted = await raw("/multi-exec", [["SET", k, "changed"], ["NOSUCHCOMMAND"]]);
    expect(aborted.status).toBe(400);
    expect(aborted.body.error).toMatch(/unknown command/);
    expect((await raw("/", ["GET", k])).body.result).toBe("text");
  });

  it("answers a command error with 400 and { error }, which the client throws", async () => {
    const k = key("wrongtype");
    await client().set(k, "text", { ex: 60 });
    expect(await raw("/", ["HGET", k, "field"])).toEqual({
      status: 400,
      body: { error: "WRONGTYPE Operation against a key holding the wrong kind of value" },
    });
    await expect(client().hget(k, "field")).rejects.toThrow(/WRONGTYPE/);
    expect((await raw("/", ["NOSUCHCOMMAND"])).status).toBe(400);
    expect((await raw("/", [])).status).toBe(400);
    expect((await raw("/", { not: "a command" })).status).toBe(400);
  });

  it("refuses commands that would tie up the shared connection", async () => {
    for (const command of [["SELECT", 1], ["SUBSCRIBE", "channel"], ["MULTI"], ["BLPOP", "list", 0]]) {
      const answer = await raw("/", command);
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatch(/not available/);
    }
  });

  it("answers 401 to a wrong or missing token, and 405 to a method other than POST", async () => {
    await expect(client({ token: "wrong-token" }).get(key("x"))).rejects.toThrow(/Unauthorized/);
    const missing = await fetch(env.UPSTASH_REDIS_REST_URL, { method: "POST", body: '["PING"]' });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ error: "Unauthorized" });
    const viaQuery = await fetch(`${env.UPSTASH_REDIS_REST_URL}/?_token=${env.UPSTASH_REDIS_REST_TOKEN}`, {
      method: "POST",
      body: '["PING"]',
    });
    expect(await viaQuery.json()).toEqual({ result: "PONG" });
    const get = await fetch(env.UPSTASH_REDIS_REST_URL, {
      headers: { authorization: `Bearer ${env.UPSTASH_REDIS_REST_TOKEN}` },
    });
    expect(get.status).toBe(405);
  });

  it("answers 503 with { error } while its Redis is stopped", async () => {
    const response = await fetch(env.TEST_UPSTASH_DOWN_REST_URL, {
      method: "POST",
      headers: { authorization: `Bearer ${env.UPSTASH_REDIS_REST_TOKEN}` },
      body: '["PING"]',
    });
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ error: "ERR Redis is unreachable" });
  });
});

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createApp } from "../../src/app.ts";
import type { ApiResponse } from "./http.ts";

/** Whether this run has a Redis behind the local Upstash endpoint (always in CI). */
export const hasRedis = Boolean(env.UPSTASH_REDIS_REST_URL);

/** A key as the worker stores it: under this run's prefix. */
export const redisKey = (key: string) => `${env.CACHE_KEY_PREFIX}${key}`;

/** One command straight to the local endpoint (plain JSON, no base64), as an operator would. */
export async function redis<T = unknown>(...command: (string | number)[]): Promise<T> {
  const response = await fetch(env.UPSTASH_REDIS_REST_URL, {
    method: "POST",
    headers: { authorization: `Bearer ${env.UPSTASH_REDIS_REST_TOKEN}` },
    body: JSON.stringify(command),
  });
  const body = (await response.json()) as { result?: T; error?: string };
  if (!response.ok || body.error !== undefined) throw new Error(`redis ${command[0]}: ${body.error}`);
  return body.result as T;
}

/**
 * The worker with some settings changed (e.g. another Redis URL), called like `api`. It waits for
 * the request's waitUntil work, so what it wrote to the cache has landed when it returns.
 */
export function workerWith(overrides: Record<string, string>) {
  const app = createApp();
  const changed = { ...env, ...overrides };
  return async <T = any>(
    method: string,
    path: string,
    options: { headers?: Record<string, string>; json?: unknown } = {},
  ): Promise<ApiResponse<T> & { ms: number }> => {
    const headers = new Headers(options.headers);
    if (options.json !== undefined) headers.set("content-type", "application/json");
    const body = options.json === undefined ? undefined : JSON.stringify(options.json);
    const ctx = createExecutionContext();
    const started = Date.now();
    const response = await app.fetch(
      new Request(`https://orders.test${path}`, { method, headers, body }),
      changed,
      ctx,
    );
    const ms = Date.now() - started;
    const text = await response.text();
    await waitOnExecutionContext(ctx);
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : null, ms };
  };
}

import { exports } from "cloudflare:workers";

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** Calls the worker's own fetch handler, as the storefront would over HTTP. */
export async function api<T = any>(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; json?: unknown; body?: BodyInit } = {},
): Promise<ApiResponse<T>> {
  const headers = new Headers(options.headers);
  let body = options.body;
  if (options.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(options.json);
  }
  const response = await exports.default.fetch(
    new Request(`https://orders.test${path}`, { method, headers, body }),
  );
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: parsed as T };
}

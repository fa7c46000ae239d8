import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env.ts";
import { ApiError } from "../lib/errors.ts";

/** `application/json` in any case, with no parameter or only `charset=utf-8` (RFC 8259 §8.1: JSON is UTF-8). */
const JSON_MEDIA_TYPE = /^application\/json\s*(;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

export function isJsonMediaType(contentType: string): boolean {
  return JSON_MEDIA_TYPE.test(contentType.trim());
}

/**
 * On routes that take a JSON body: a body of any other media type (or of none stated) is 415, and is
 * never parsed. A request with no body at all goes on, to be refused as a missing body (400).
 */
export const requireJson = createMiddleware<AppEnv>(async (c, next) => {
  const contentType = c.req.header("content-type");
  const refused = contentType === undefined ? c.req.raw.body !== null : !isJsonMediaType(contentType);
  if (refused) {
    throw new ApiError(
      "UNSUPPORTED_MEDIA_TYPE",
      "The body must be JSON: Content-Type application/json (UTF-8)",
      [{ path: "content-type", message: "must be application/json, with no charset or charset=utf-8" }],
    );
  }
  await next();
});

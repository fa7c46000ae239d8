import type { ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "../app-env.ts";
import { ConfigError } from "../config.ts";
import { ApiError, type ErrorCode, errorBody } from "../lib/errors.ts";
import { describeError, log } from "../lib/log.ts";

/** Maps what Hono's own middleware throws onto the closed set of codes. */
function fromHttpException(error: HTTPException): ApiError {
  switch (error.status) {
    case 400:
      return new ApiError("VALIDATION_FAILED", error.message || "The request is invalid", [
        { path: "body", message: error.message || "invalid body" },
      ]);
    case 415:
      return new ApiError(
        "UNSUPPORTED_MEDIA_TYPE",
        "The body must be JSON (Content-Type: application/json)",
        [{ path: "content-type", message: "must be application/json" }],
      );
    case 401:
      return new ApiError("UNAUTHORIZED", error.message || "Unauthorized");
    case 404:
      return new ApiError("NOT_FOUND", error.message || "Not found");
    case 413:
      return new ApiError("PAYLOAD_TOO_LARGE", error.message || "The body is too large");
    default:
      return new ApiError("INTERNAL_ERROR", "Internal server error");
  }
}

/**
 * A Durable Object that is overloaded, being reset or unreachable throws errors marked
 * `retryable` or `overloaded` (Cloudflare's documented flags): a dependency outage, not a bug.
 */
function isTransientPlatformError(error: unknown): boolean {
  const flags = error as { retryable?: unknown; overloaded?: unknown } | null;
  return flags?.retryable === true || flags?.overloaded === true;
}

export const onError: ErrorHandler<AppEnv> = (error, c) => {
  let apiError: ApiError;
  if (error instanceof ApiError) {
    apiError = error;
  } else if (error instanceof HTTPException) {
    apiError = fromHttpException(error);
  } else if (isTransientPlatformError(error)) {
    log("warn", "durable object unavailable", {
      requestId: c.var.requestId,
      path: c.req.path,
      ...describeError(error),
    });
    apiError = new ApiError("UPSTREAM_UNAVAILABLE", "The service is briefly unavailable, please retry");
  } else {
    const code: ErrorCode = "INTERNAL_ERROR";
    log("error", error instanceof ConfigError ? "invalid configuration" : "unhandled error", {
      requestId: c.var.requestId,
      path: c.req.path,
      ...describeError(error),
    });
    apiError = new ApiError(code, "Internal server error");
  }
  for (const [name, value] of Object.entries(apiError.headers ?? {})) c.header(name, value);
  return c.json(errorBody(apiError.code, apiError.message, apiError.details), apiError.status);
};

export const notFound: NotFoundHandler<AppEnv> = (c) =>
  // The path is not echoed: it is the client's own text, and an answer should carry none of it.
  c.json(errorBody("NOT_FOUND", "No such route"), 404);

import { OpenAPIHono, type RouteConfig, type RouteHandler, type z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env.ts";
import { ApiError, MAX_ERROR_DETAILS } from "../lib/errors.ts";
import { ErrorResponseSchema } from "../schemas/common.ts";

/**
 * Every router is made here so that a schema failure anywhere (body, params, query) becomes the
 * same 400 envelope with field details.
 */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ApiError(
          "VALIDATION_FAILED",
          "The request is invalid",
          result.error.issues.slice(0, MAX_ERROR_DETAILS).map((issue) => ({
            path: issue.path.join(".") || result.target,
            message: issue.message,
          })),
        );
      }
    },
  });
}

const ERROR_DESCRIPTIONS = {
  400: "Invalid input (with field details)",
  401: "Missing or invalid bearer token",
  403: "Authenticated but not allowed (SIGN_IN_REQUIRED: a guest token on a route for signed-in users)",
  404: "Not found",
  409: "Business conflict",
  413: "Body larger than 64 KiB",
  415: "Body not JSON (Content-Type application/json, UTF-8)",
  426: "Not a WebSocket upgrade",
  429: "Rate limited (see Retry-After)",
  500: "Internal error",
  503: "A dependency is unavailable",
} as const;

type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

type HeaderSchema = { type: "string"; maxLength?: number; pattern?: string; enum?: string[] };
const header = (description: string, schema: Omit<HeaderSchema, "type">) => ({
  description,
  schema: { type: "string" as const, ...schema },
});
const seconds = (description: string) => header(description, { maxLength: 10, pattern: "^[0-9]+$" });

/** On every answer to a browser whose Origin is in CORS_ORIGINS (middleware/cors.ts). */
const CORS_HEADERS = {
  "Access-Control-Allow-Origin": header("The caller's Origin, when it is one of CORS_ORIGINS", {
    maxLength: 2048,
    pattern: "^https?://",
  }),
};

/** Headers some error answers carry. */
const ERROR_HEADERS: Partial<Record<ErrorStatus, Record<string, ReturnType<typeof header>>>> = {
  401: {
    "WWW-Authenticate": header("On a refused bearer token", { enum: ['Bearer realm="order-service"'] }),
  },
  409: {
    "Retry-After": seconds(
      "Seconds to wait, on IDEMPOTENCY_KEY_IN_FLIGHT, MERGE_IN_PROGRESS and CONCURRENT_CHANGE (retryable)",
    ),
  },
  426: { Upgrade: header("The protocol to upgrade to", { enum: ["websocket"] }) },
  429: { "Retry-After": seconds("Seconds until the limit lets a request through") },
};

type ErrorResponse = {
  description: string;
  headers: Record<string, ReturnType<typeof header>>;
  content: { "application/json": { schema: typeof ErrorResponseSchema } };
};

/**
 * What every route under /api/* can answer besides its own errors: 401 for a missing or bad token,
 * 503 when the user service or the identity provider (asked for some tokens) or a Durable Object is
 * unavailable.
 */
export const AUTHENTICATED = [401, 503] as const;
/**
 * What a route a guest token cannot use answers besides AUTHENTICATED: 403 SIGN_IN_REQUIRED to a
 * guest (SPEC §4 Guests).
 */
export const SIGNED_IN = [...AUTHENTICATED, 403] as const;
/** What every write can answer: 413 for a body over 64 KiB, 429 from the per-user limit on writes. */
export const WRITE = [413, 429] as const;

/**
 * The documented error responses of a route: 429 and 500, which any route can answer (every
 * request counts against its address's rate limit), and `statuses`. A GET has no body, so it never
 * answers 413.
 */
export function errorResponses<const S extends readonly ErrorStatus[] = []>(...statuses: S) {
  const all = [...new Set<ErrorStatus>([...statuses, 429, 500])].sort((a, b) => a - b);
  const entries = all.map((status) => [
    status,
    {
      description: ERROR_DESCRIPTIONS[status],
      headers: { ...CORS_HEADERS, ...ERROR_HEADERS[status] },
      content: { "application/json": { schema: ErrorResponseSchema } },
    },
  ]);
  return Object.fromEntries(entries) as Record<S[number] | 429 | 500, ErrorResponse>;
}

export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return {
    required: true,
    description,
    content: { "application/json": { schema } },
  };
}

export function jsonResponse<T extends z.ZodType>(
  schema: T,
  description: string,
  headers: Record<string, { description: string; schema: HeaderSchema }> = {},
) {
  return {
    description,
    headers: { ...CORS_HEADERS, ...headers },
    content: { "application/json": { schema } },
  };
}

export const bearerAuth = [{ bearerAuth: [] }];
/** The cart routes: a user's bearer token, or a guest's (POST /api/guest). */
export const bearerOrGuestAuth: Record<string, string[]>[] = [{ bearerAuth: [] }, { guestAuth: [] }];

export type AppRouteHandler<R extends RouteConfig> = RouteHandler<R, AppEnv>;

/** Set on a response that replays an earlier request's (same Idempotency-Key and body). */
export const replayedHeader = {
  "Idempotent-Replayed": header(
    "`true` when this is the stored response of an earlier request with the same Idempotency-Key",
    { enum: ["true"] },
  ),
};

import type { components } from "./schema.js";

/** The API's closed set of error codes, as its OpenAPI document lists them. */
export type ApiErrorCode = components["schemas"]["ErrorResponse"]["error"]["code"];

/**
 * Codes of this client's own: the request never got an answer (`NETWORK_ERROR`), or the answer was
 * not the API's error envelope (`UNEXPECTED_RESPONSE`, e.g. a proxy's HTML page).
 */
export type ClientErrorCode = "NETWORK_ERROR" | "UNEXPECTED_RESPONSE";

export type ErrorCode = ApiErrorCode | ClientErrorCode;

export interface ErrorDetail {
  path: string;
  message: string;
}

/** Every failure of a call, API refusal or not, is one of these. */
export class OrderServiceError extends Error {
  override name = "OrderServiceError";
  /** The HTTP status; 0 when no answer came. */
  readonly status: number;
  readonly code: ErrorCode;
  /** Field-level details of a 400. */
  readonly details: ErrorDetail[];
  /** The answer's X-Request-Id: quote it to the service's operators. */
  readonly requestId: string | null;
  /** Seconds the service asked to wait before retrying (429, 503, some 409s), if it said. */
  readonly retryAfter: number | null;

  constructor(
    init: {
      status: number;
      code: ErrorCode;
      message: string;
      details?: ErrorDetail[];
      requestId?: string | null;
      retryAfter?: number | null;
    },
    options?: ErrorOptions,
  ) {
    super(init.message, options);
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? [];
    this.requestId = init.requestId ?? null;
    this.retryAfter = init.retryAfter ?? null;
  }
}

/** Retry-After in seconds (the API sends seconds; an HTTP date is honoured too). */
export function retryAfterOf(response: Response): number | null {
  const value = response.headers.get("retry-after");
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** The error an answer stands for: the API's envelope, or UNEXPECTED_RESPONSE when it is not one. */
export function errorOf(response: Response, body: unknown): OrderServiceError {
  const envelope = body as { message?: unknown; error?: { code?: unknown; details?: unknown } } | null;
  const code = envelope?.error?.code;
  const requestId = response.headers.get("x-request-id");
  const retryAfter = retryAfterOf(response);
  if (typeof code !== "string" || typeof envelope?.message !== "string") {
    return new OrderServiceError({
      status: response.status,
      code: "UNEXPECTED_RESPONSE",
      message: `The service answered ${response.status} without its error envelope`,
      requestId,
      retryAfter,
    });
  }
  return new OrderServiceError({
    status: response.status,
    code: code as ApiErrorCode,
    message: envelope.message,
    details: Array.isArray(envelope.error?.details) ? (envelope.error.details as ErrorDetail[]) : [],
    requestId,
    retryAfter,
  });
}

import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * The closed set of error codes the API answers with, and the HTTP status of each.
 * Documented in docs/api.md ("Error codes") and in the OpenAPI document (ErrorResponse.error.code).
 */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  SIGN_IN_REQUIRED: 403,
  NOT_FOUND: 404,
  PRODUCT_NOT_FOUND: 404,
  CART_ITEM_NOT_FOUND: 404,
  ORDER_NOT_FOUND: 404,
  DEAD_LETTER_NOT_FOUND: 404,
  PRODUCT_UNAVAILABLE: 409,
  INSUFFICIENT_STOCK: 409,
  CART_LIMIT_EXCEEDED: 409,
  CURRENCY_MISMATCH: 409,
  EMPTY_CART: 409,
  CHECKOUT_IN_PROGRESS: 409,
  MERGE_IN_PROGRESS: 409,
  TOO_MANY_OPEN_ORDERS: 409,
  INVALID_STATUS_TRANSITION: 409,
  CONCURRENT_CHANGE: 409,
  PAYMENT_NOT_RETRYABLE: 409,
  IDEMPOTENCY_KEY_REUSED: 409,
  IDEMPOTENCY_KEY_IN_FLIGHT: 409,
  DEAD_LETTER_NOT_REPLAYABLE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UPGRADE_REQUIRED: 426,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  UPSTREAM_UNAVAILABLE: 503,
  DATABASE_UNAVAILABLE: 503,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/** At most this many field details in a 400 (the document states the bound: ErrorResponse). */
export const MAX_ERROR_DETAILS = 50;

export interface ErrorDetail {
  path: string;
  message: string;
}

export class ApiError extends Error {
  override name = "ApiError";
  readonly code: ErrorCode;
  readonly status: ContentfulStatusCode;
  readonly details: ErrorDetail[] | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    details?: ErrorDetail[],
    headers?: Record<string, string>,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.details = details;
    this.headers = headers;
  }
}

export function errorBody(code: ErrorCode, message: string, details?: ErrorDetail[]) {
  return {
    success: false as const,
    message,
    error: details ? { code, details } : { code },
  };
}

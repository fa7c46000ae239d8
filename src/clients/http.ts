import type { z } from "zod";
import { ApiError } from "../lib/errors.ts";
import { log } from "../lib/log.ts";

export interface UpstreamOptions {
  service: string;
  timeoutMs: number;
}

/**
 * One outbound call with a deadline. A network error, a timeout, or (unless `acceptStatus` says
 * otherwise) a 5xx becomes a 503 UPSTREAM_UNAVAILABLE, so callers only handle answers they understand.
 */
export async function callUpstream(
  url: string,
  init: RequestInit,
  options: UpstreamOptions,
): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(options.timeoutMs) });
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    log("warn", "upstream call failed", {
      service: options.service,
      reason: timedOut ? "timeout" : "network",
      error: error instanceof Error ? error.message : String(error),
    });
    throw unavailable(options.service, timedOut ? "timeout" : "network");
  }
  if (response.status >= 500) {
    await response.body?.cancel();
    log("warn", "upstream call failed", {
      service: options.service,
      reason: "status",
      status: response.status,
    });
    // A gateway's 502/504 says nothing of whether the service behind it acted on the request.
    throw unavailable(
      options.service,
      response.status === 502 || response.status === 504 ? "gateway" : "status",
    );
  }
  return response;
}

/** Reads and validates a JSON answer; anything off-contract is treated like an outage. */
export async function readUpstreamJson<T extends z.ZodType>(
  response: Response,
  schema: T,
  service: string,
): Promise<z.infer<T>> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    log("warn", "upstream answered invalid JSON", { service, status: response.status });
    throw unavailable(service);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    log("warn", "upstream answered off-contract", { service, status: response.status });
    throw unavailable(service);
  }
  return parsed.data;
}

export type FailureReason = "timeout" | "network" | "gateway" | "status" | "contract";

export function unavailable(service: string, reason: FailureReason = "contract"): ApiError {
  return new ApiError(
    "UPSTREAM_UNAVAILABLE",
    `The ${service} is unavailable, please retry shortly`,
    undefined,
    undefined,
    {
      cause: reason,
    },
  );
}

/**
 * Whether a failed call may still have taken effect: after a timeout, a dropped connection or a
 * gateway error the request may have been applied. Only the service's own error answer (500, 503)
 * or an off-contract reply before acting says it was not.
 */
export function outcomeUnknown(error: unknown): boolean {
  const reason = error instanceof ApiError ? error.cause : undefined;
  return reason === "timeout" || reason === "network" || reason === "gateway";
}

import { type SQL, sql } from "drizzle-orm";
import { ApiError, type ErrorCode } from "../../lib/errors.ts";

/** The SQLSTATE that `order_service_refuse()` (migration 0008) raises. */
export const REFUSAL_SQLSTATE = "OS409";

/**
 * First a reason to try again: the row changed since it was read (optimistic concurrency). The
 * service that raised it re-reads and decides again; only when it keeps losing is it the answer.
 */
export const CONCURRENT_CHANGE = "CONCURRENT_CHANGE" satisfies ErrorCode;

export interface Refusal {
  when: SQL;
  code: ErrorCode;
  message: string;
}

/**
 * A statement that aborts its transaction with an API error when a refusal's condition holds (the
 * first that does). For batches, where no code runs between statements: the whole batch rolls back,
 * and `withDatabase` answers the error as the ApiError `code` with `message`.
 */
export function refuseWhen(...refusals: [Refusal, ...Refusal[]]): SQL {
  const cases = refusals.map(
    ({ when, code, message }) => sql`WHEN ${when} THEN order_service_refuse(${code}, ${message})`,
  );
  return sql`SELECT CASE ${sql.join(cases, sql` `)} END AS refused`;
}

/** Whether a batch failed because a row changed since it was read (see CONCURRENT_CHANGE). */
export function isConcurrentChange(error: unknown): boolean {
  if (error instanceof ApiError) return error.code === CONCURRENT_CHANGE;
  const { code, message, cause } = (error ?? {}) as { code?: unknown; message?: unknown; cause?: unknown };
  if (code === REFUSAL_SQLSTATE && message === CONCURRENT_CHANGE) return true;
  return cause ? isConcurrentChange(cause) : false;
}

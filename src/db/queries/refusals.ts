import { type SQL, sql } from "drizzle-orm";
import type { ErrorCode } from "../../lib/errors.ts";

/** The SQLSTATE that `order_service_refuse()` (migration 0008) raises. */
export const REFUSAL_SQLSTATE = "OS409";

/**
 * A statement that aborts its transaction with an API error when `condition` holds. For batches,
 * where no code runs between statements: the whole batch rolls back, and `withDatabase` answers the
 * error as the ApiError `code` with `message`.
 */
export function refuseWhen(condition: SQL, code: ErrorCode, message: string): SQL {
  return sql`SELECT CASE WHEN ${condition} THEN order_service_refuse(${code}, ${message}) END AS refused`;
}

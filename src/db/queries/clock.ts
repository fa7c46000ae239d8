import { sql } from "drizzle-orm";

/**
 * One clock for what an order records: the database's. `now()` is the time its transaction (a
 * batch) began, the same for every statement in it, so an order's updated_at, its history entry and
 * its event agree, whatever the clock of the worker that wrote them. Cut to milliseconds, as
 * JavaScript dates and the keyset cursor (created_at, id) carry them.
 */
export const DB_NOW = sql`date_trunc('milliseconds', now())`;

/** The same instant as ISO 8601 text (`Date.toISOString()`'s shape), to stamp into stored JSON. */
export const DB_NOW_ISO = sql`to_char(date_trunc('milliseconds', now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** `body` as jsonb, with each top-level field in `stamped` set to DB_NOW_ISO. */
export function stampedJson(body: unknown, stamped: readonly string[]) {
  let json = sql`${JSON.stringify(body)}::jsonb`;
  for (const field of stamped)
    json = sql`jsonb_set(${json}, ${`{${field}}`}::text[], to_jsonb(${DB_NOW_ISO}))`;
  return json;
}

import { eq, getTableColumns, type SQL, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import type { HttpDb } from "../client.ts";
import { orderItems, orderStatusHistory, orders, outbox, payments, stockReleases } from "../schema.ts";
import { lines, type OrderWithItems } from "./order-reads.ts";
import type { NewHistory, NewOrder, OrderRow } from "./orders.ts";
import type { NewOutbox, OutboxRow } from "./outbox.ts";
import { CONCURRENT_CHANGE, refuseWhen } from "./refusals.ts";

/**
 * A status change written in one statement, the database deciding it: the service hands over its
 * rules as a table (what each variant of an order may become, and writes), and one batch locks the
 * order, checks it against the table, and writes the change, its payments, owed stock, history entry
 * and event, or refuses.
 */

/** The columns of an order that tell its variants apart for the status rules. */
export const VARIANT_COLUMNS = ["status", "paymentMethod", "paymentStatus"] as const;
export type VariantColumn = (typeof VARIANT_COLUMNS)[number];

/** A value as the database computes it: a column of the order as it was before the change, or a constant. */
export type Derived = { old: keyof OrderRow } | { constant: unknown };

/**
 * A value that depends on the order's variant: that of the first case listing the order's variant
 * (a tuple of the values of the table's `by` columns), else that of the last case.
 */
export type ByVariant = [{ when: string[][]; value: Derived }, ...{ when: string[][]; value: Derived }[]];

/** A change's own fields (its history entry and event record them), typed as the columns they go to. */
const CHANGE_FIELDS = {
  from: orderStatusHistory.fromStatus,
  note: orderStatusHistory.note,
  notify: outbox.type,
  actorId: orderStatusHistory.actorId,
  actorRole: orderStatusHistory.actorRole,
} satisfies Record<string, PgColumn>;
export type ChangeField = keyof typeof CHANGE_FIELDS;

/** A value of a history entry or event: a column of the order as changed, a field of the change, or a constant. */
export type RecordValue = { order: keyof OrderRow } | { change: ChangeField } | { constant: unknown };

export interface StatusChangeTable {
  orderId: string;
  /** For a change by the order's owner: another user's order is not found. */
  ownerId: number | null;
  /** The order's columns the rules depend on, in the order of `allowed`'s tuples. */
  by: VariantColumn[];
  /** The variants the change applies to (any other is refused): tuples of `by`'s values. */
  allowed: [string[], ...string[][]];
  patch: Partial<Record<keyof NewOrder, ByVariant>>;
  /** What becomes of a payment attempt still pending: "voided", "approved" or null (nothing). */
  settlePayments: ByVariant;
  /** Whether the order's stock is owed back. */
  releaseStock: ByVariant;
  change: Record<ChangeField, ByVariant>;
  history: Partial<Record<keyof NewHistory, RecordValue>>;
  event: Partial<Record<Exclude<keyof NewOutbox, "payload">, RecordValue>> & {
    payload: Record<string, RecordValue>;
  };
}

const ORDER = getTableColumns(orders);
const HISTORY = getTableColumns(orderStatusHistory);
const OUTBOX = getTableColumns(outbox);
const entries = <K extends string, V>(record: Partial<Record<K, V>>) =>
  Object.entries(record).filter(([, value]) => value !== undefined) as [K, V][];

const typed = (value: unknown, column: PgColumn) =>
  sql`CAST(${sql.param(value, column)} AS ${sql.raw(column.getSQLType())})`;
const oldColumn = (key: keyof OrderRow) => sql`old.${sql.identifier(ORDER[key].name)}`;

function inVariants(by: VariantColumn[], tuples: string[][]): SQL {
  if (by.length === 0) return sql`true`;
  const tuple = (values: string[]) =>
    sql`(${sql.join(
      values.map((value) => sql`${value}::text`),
      sql`, `,
    )})`;
  return sql`(${sql.join(by.map(oldColumn), sql`, `)}) IN (${sql.join(tuples.map(tuple), sql`, `)})`;
}

function byVariant(by: VariantColumn[], cases: ByVariant, column: PgColumn | "boolean"): SQL {
  const value = ({ value }: ByVariant[number]) => {
    if ("old" in value) return oldColumn(value.old);
    if (column === "boolean") return value.constant ? sql`true` : sql`false`;
    return typed(value.constant, column);
  };
  const last = cases[cases.length - 1] as ByVariant[number];
  if (cases.length === 1) return value(last);
  const arms = cases.slice(0, -1).map((arm) => sql`WHEN ${inVariants(by, arm.when)} THEN ${value(arm)}`);
  return sql`CASE ${sql.join(arms, sql` `)} ELSE ${value(last)} END`;
}

const isConstant = (cases: ByVariant, constant: unknown) =>
  cases.every(({ value }) => "constant" in value && value.constant === constant);

function recordValue(value: RecordValue, column: PgColumn): SQL {
  if ("order" in value) return sql`changed.${sql.identifier(ORDER[value.order].name)}`;
  if ("change" in value) return sql`changed.${sql.identifier(`change_${value.change}`)}`;
  return typed(value.constant, column);
}

function jsonValue(value: RecordValue): SQL | undefined {
  if ("constant" in value)
    return value.constant === undefined ? undefined : sql`${JSON.stringify(value.constant)}::jsonb`;
  return sql`to_jsonb(${recordValue(value, OUTBOX.payload)})`;
}

/** INSERT INTO `table` (columns) SELECT values FROM changed. */
function insertFromChanged(table: SQL, columns: [PgColumn, SQL][]): SQL {
  return sql`INSERT INTO ${table} (${sql.join(
    columns.map(([column]) => sql.identifier(column.name)),
    sql`, `,
  )}) SELECT ${sql.join(
    columns.map(([, value]) => value),
    sql`, `,
  )} FROM changed`;
}

/**
 * When the change happened: its history entry, its event (the `at` that notifications and live
 * status carry), its settled payments, and, cut to milliseconds as DB_NOW is, the order's updated_at.
 * Not `now()`: this transaction began before it waited for the order's lock, so a change committed
 * meanwhile could be stamped later than this one, which follows it. Read once the lock is held, it is
 * later than every change committed before, and earlier than any change that reads this one.
 */
const CHANGE_STAMP = sql`clock_timestamp()`;

function changeStatement(table: StatusChangeTable): SQL {
  const { by } = table;
  const patch = entries(table.patch).map(
    ([key, cases]) => [ORDER[key], byVariant(by, cases, ORDER[key])] as const,
  );
  const plan = [
    sql`old.id`,
    ...patch.map(([column, value]) => sql`${value} AS ${sql.identifier(`patch_${column.name}`)}`),
    sql`${byVariant(by, table.settlePayments, payments.status)} AS settle`,
    sql`${byVariant(by, table.releaseStock, "boolean")} AS release`,
    sql`${CHANGE_STAMP} AS stamp`,
    ...entries(table.change).map(
      ([field, cases]) =>
        sql`${byVariant(by, cases, CHANGE_FIELDS[field])} AS ${sql.identifier(`change_${field}`)}`,
    ),
  ];
  const owner = ownedBy(table);
  const set = [
    ...patch.map(
      ([column]) => sql`${sql.identifier(column.name)} = plan.${sql.identifier(`patch_${column.name}`)}`,
    ),
    sql`${sql.identifier(orders.updatedAt.name)} = date_trunc('milliseconds', plan.stamp)`,
  ];
  const returned = [
    sql`${orders}.*`,
    sql`plan.settle`,
    sql`plan.release`,
    sql`plan.stamp`,
    ...entries(table.change).map(([field]) => sql`plan.${sql.identifier(`change_${field}`)}`),
  ];
  const history: [PgColumn, SQL][] = [
    ...entries(table.history).map(
      ([key, value]) => [HISTORY[key], recordValue(value, HISTORY[key])] as [PgColumn, SQL],
    ),
    [HISTORY.createdAt, sql`changed.stamp`],
  ];
  const { payload, ...event } = table.event;
  const payloadPairs = Object.entries(payload).flatMap(([key, value]) => {
    const json = jsonValue(value);
    return json ? [sql`${key}::text, ${json}`] : [];
  });
  const eventColumns: [PgColumn, SQL][] = [
    ...entries(event).map(
      ([key, value]) => [OUTBOX[key], recordValue(value, OUTBOX[key])] as [PgColumn, SQL],
    ),
    [OUTBOX.payload, sql`jsonb_build_object(${sql.join(payloadPairs, sql`, `)})`],
    [OUTBOX.createdAt, sql`changed.stamp`],
  ];
  const ctes = [
    sql`old AS (SELECT * FROM ${orders} WHERE ${orders.id} = ${table.orderId}${owner} FOR UPDATE)`,
    sql`plan AS (SELECT ${sql.join(plan, sql`, `)} FROM old WHERE ${inVariants(by, table.allowed)})`,
    sql`changed AS (UPDATE ${orders} SET ${sql.join(set, sql`, `)} FROM plan WHERE ${orders.id} = plan.id RETURNING ${sql.join(returned, sql`, `)})`,
    sql`history AS (${insertFromChanged(sql`${orderStatusHistory}`, history)})`,
    sql`event AS (${insertFromChanged(sql`${outbox}`, eventColumns)})`,
  ];
  if (!isConstant(table.settlePayments, null)) {
    ctes.push(sql`settle AS (
      UPDATE ${payments} SET status = changed.settle, settled_at = changed.stamp FROM changed
      WHERE ${payments.orderId} = changed.id AND ${payments.status} = 'pending' AND changed.settle IS NOT NULL)`);
  }
  if (!isConstant(table.releaseStock, false)) {
    ctes.push(sql`releases AS (
      INSERT INTO ${stockReleases} (order_id, product_id, quantity)
      SELECT ${orderItems.orderId}, ${orderItems.productId}, ${orderItems.quantity}
      FROM ${orderItems} JOIN changed ON ${orderItems.orderId} = changed.id WHERE changed.release
      ON CONFLICT DO NOTHING)`);
  }
  return sql`WITH ${sql.join(ctes, sql`, `)} ${refuseWhen({
    when: sql`NOT EXISTS (SELECT 1 FROM changed)`,
    code: CONCURRENT_CHANGE,
    message: "The order is not one this change applies to as it stands",
  })}`;
}

/** The condition that the order is the owner's, when the change is an owner's. */
function ownedBy(table: StatusChangeTable): SQL {
  return table.ownerId === null ? sql`` : sql` AND ${orders.userId} = ${table.ownerId}`;
}

/**
 * Changes an order's status in one batch, one round trip: the order is locked, then checked against
 * the table and changed, with its payments, owed stock, history entry and event, by one statement (its
 * CTEs share a snapshot and each runs once), or the batch refuses with CONCURRENT_CHANGE and writes
 * nothing: the order is not found (or not the owner's), or is in no variant the table allows. The
 * order is the first row it locks, as every change of an order does. Answers the order as changed,
 * with its items, and the event.
 */
export async function changeStatusAtOnce(
  db: HttpDb,
  table: StatusChangeTable,
): Promise<{ order: OrderWithItems; event: OutboxRow }> {
  const eventId = table.event.id;
  if (!eventId || !("constant" in eventId) || typeof eventId.constant !== "string")
    throw new Error("a status change's event needs an id of its own");
  const [, , [order], [event]] = await db.batch([
    // The lock first, in a statement of its own: the change's statement then takes its snapshot
    // once the lock is held, and so sees what committed while it waited (a payment attempt a retry
    // added, which a cancellation must void), not only the order's row as FOR UPDATE re-reads it.
    db.execute(
      sql`SELECT 1 FROM ${orders} WHERE ${orders.id} = ${table.orderId}${ownedBy(table)} FOR UPDATE`,
    ),
    db.execute(changeStatement(table)),
    db
      .select({ ...ORDER, items: lines })
      .from(orders)
      .where(eq(orders.id, table.orderId)),
    db.select().from(outbox).where(eq(outbox.id, eventId.constant)),
  ]);
  if (!order || !event) throw new Error(`order ${table.orderId} changed without its event`);
  return { order, event };
}

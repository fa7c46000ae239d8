import { getTableColumns } from "drizzle-orm";
import {
  type ByVariant,
  type ChangeField,
  type Derived,
  isConcurrentChange,
  type OrderRow,
  type StatusChangeTable,
  VARIANT_COLUMNS,
  type VariantColumn,
  changeStatusAtOnce as writeChangeAtOnce,
} from "../../db/queries.ts";
import { ORDER_STATUSES, orders, PAYMENT_METHODS, PAYMENT_STATUSES } from "../../db/schema.ts";
import { ApiError } from "../../lib/errors.ts";
import { uuidv7 } from "../../lib/ids.ts";
import { log } from "../../lib/log.ts";
import { toOrderEvent } from "../../queues/messages.ts";
import type { Order, UpdateStatusBody } from "../../schemas/order.ts";
import type { Actor, OrderDeps } from "./deps.ts";
import { changeRecordsTemplate } from "./events.ts";
import { checkTransition, planTransition, TRANSITIONS, type TransitionPlan } from "./transitions.ts";
import { toOrder } from "./view.ts";

/**
 * A status change in one round trip (issue 17). The rules stay in transitions.ts, in JavaScript: to
 * let the database apply them to the order as it stands, they are evaluated here for every variant
 * of an order (status × payment method × payment status, each other column a stand-in) and written as
 * a table (queries/status-change.ts) of the variants the change applies to and what each writes.
 * A value the rules take from the order's other columns is recognised by its stand-in, and checked
 * against a second stand-in (nulls), so that the table says exactly what the rules do, or is not
 * built at all.
 */

type Variant = Pick<OrderRow, VariantColumn>;

const COLUMNS = getTableColumns(orders);
const ORDER_KEYS = Object.keys(COLUMNS) as (keyof OrderRow)[];
const OTHER_KEYS = ORDER_KEYS.filter((key) => !(VARIANT_COLUMNS as readonly string[]).includes(key));
const VALUES: Record<VariantColumn, readonly string[]> = {
  status: ORDER_STATUSES,
  paymentMethod: PAYMENT_METHODS,
  paymentStatus: PAYMENT_STATUSES,
};

const VARIANTS: Variant[] = VARIANT_COLUMNS.reduce<Record<string, string>[]>(
  (partial, column) =>
    partial.flatMap((variant) => VALUES[column].map((value) => ({ ...variant, [column]: value }))),
  [{}],
) as Variant[];

/**
 * Stand-ins: strings no real value holds (the request's text cannot contain NUL: schemas/order.ts),
 * each naming what it stands for.
 */
const MARK = "\u0000stand-in:";
const standIn = (name: string) => `${MARK}${name}`;
const hasStandIn = (value: unknown): boolean =>
  typeof value === "string"
    ? value.includes(MARK)
    : typeof value === "object" && value !== null && Object.values(value).some(hasStandIn);

/** An order of `variant` whose other columns are stand-ins, or (`nulls`) null where they may be. */
function probe(variant: Variant, nulls: boolean): OrderRow {
  const others = OTHER_KEYS.map((key) => [
    key,
    nulls && !COLUMNS[key].notNull ? null : standIn(`order.${key}`),
  ]);
  return Object.freeze({ ...Object.fromEntries(others), ...variant }) as OrderRow;
}

/** For each variant and column, the variant's values in the other columns: its neighbours along that column share it. */
const REST = new Map(
  VARIANTS.map((variant) => [
    variant,
    Object.fromEntries(
      VARIANT_COLUMNS.map((column) => [
        column,
        VARIANT_COLUMNS.map((other) => (other === column ? "" : variant[other])).join("|"),
      ]),
    ) as Record<VariantColumn, string>,
  ]),
);

/** Every variant, with its two probes (frozen: the rules only read an order). */
const PROBES = VARIANTS.map((variant) => ({
  variant,
  marked: probe(variant, false),
  nulled: probe(variant, true),
}));

/** What a plan writes, by output: the patch's columns, the payments settled, the stock owed back, the change's fields. */
type Outputs = Map<string, unknown>;

function outputsOf(plan: TransitionPlan): Outputs {
  const outputs: Outputs = new Map();
  for (const [key, value] of Object.entries(plan.patch))
    if (value !== undefined) outputs.set(`patch.${key}`, value);
  outputs.set("settlePayments", plan.settlePayments);
  outputs.set("releaseStock", plan.releaseStock);
  const { from, actor, note, notify } = plan.change;
  const change: Record<ChangeField, unknown> = {
    from,
    note,
    notify,
    actorId: actor.id,
    actorRole: actor.role,
  };
  for (const [field, value] of Object.entries(change)) outputs.set(`change.${field}`, value);
  return outputs;
}

/** The rules' verdict on `order`: what the change writes, or null when it is refused. */
function judge(
  order: OrderRow,
  to: UpdateStatusBody["status"],
  actor: Actor,
  request: UpdateStatusBody,
  now: number,
) {
  // SPEC §4's flow refuses every other (from, to) pair before anything else is judged: asked first,
  // it spares most probes the rules' thrown refusal, which is most of the table's cost.
  if (!TRANSITIONS[order.status].includes(to)) return null;
  try {
    checkTransition(order, to, actor, request);
  } catch (error) {
    if (error instanceof ApiError) return null;
    throw error;
  }
  return outputsOf(planTransition(order, to, actor, request, now));
}

/** A value the rules wrote for `order` (a stand-in probe), as the database would compute it, or undefined. */
function derive(value: unknown, order: OrderRow, output: string): Derived | undefined {
  if (value === undefined && output.startsWith("patch.")) return { old: output.slice(6) as keyof OrderRow };
  const from = OTHER_KEYS.find((key) => value === order[key]);
  if (from) return { old: from };
  if (hasStandIn(value) || (value instanceof Date && Number.isNaN(value.getTime()))) return undefined;
  // SQL has no undefined: a change's absent note is recorded as null, as changeRecords does.
  return { constant: value ?? null };
}

const signature = (value: Derived) => JSON.stringify(value);
const valueOn = (value: Derived, order: OrderRow) => ("old" in value ? order[value.old] : value.constant);

/** An output's value in each allowed variant, preferring constants or the order's own column, whichever varies less. */
function chooseValues(allowed: Variant[], derived: Derived[], output: string): Derived[] {
  const asColumn = derived.map((value, at) => {
    if (!("constant" in value)) return value;
    const variant = allowed[at] as Variant;
    const own = output.slice(output.indexOf(".") + 1);
    const columns = [...VARIANT_COLUMNS].sort((a, b) => Number(b === own) - Number(a === own));
    const same = columns.find((column) => variant[column] === value.constant);
    return same ? { old: same } : value;
  });
  const spread = (values: Derived[]) => {
    const signatures = values.map(signature);
    return dependsOn(allowed, signatures).length * 100 + new Set(signatures).size;
  };
  return spread(asColumn) < spread(derived) ? asColumn : derived;
}

/**
 * The status rules for moving order `orderId` to `request.status`, as a table the database applies
 * in one statement; null when no order could be changed so (the read path answers the error) or
 * when the rules cannot be written as such a table.
 */
export function statusChangeTable(
  orderId: string,
  actor: Actor & { id: number },
  request: UpdateStatusBody,
): StatusChangeTable | null {
  const key = JSON.stringify([actor.role, actor.id, request]);
  const known = TABLES.get(key);
  // Each change records an event of its own; the rest of the table is the same for the same request.
  if (known) return { ...known, orderId, event: { ...known.event, id: { constant: uuidv7() } } };
  try {
    const table = tableOf(orderId, actor, request);
    if (table && !readsTheClock(table)) remember(key, table);
    return table;
  } catch (error) {
    // The rules failed on a stand-in (they compute with a column the table cannot stand in for):
    // the read path runs them on the order itself.
    return inexpressible(`${request.status}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Tables built lately, by request (and actor): an admin moving orders along sends the same request
 * again and again, and building a table costs 0.5 to 1 ms. Not kept: a table that writes a time it
 * computed (a shipment's estimated delivery), which must be the change's own.
 */
const TABLES = new Map<string, StatusChangeTable>();
const TABLES_KEPT = 64;

function remember(key: string, table: StatusChangeTable): void {
  if (TABLES.size >= TABLES_KEPT) TABLES.delete(TABLES.keys().next().value as string);
  TABLES.set(key, table);
}

function readsTheClock(table: StatusChangeTable): boolean {
  return Object.values(table.patch).some((cases) =>
    cases?.some(({ value }) => "constant" in value && value.constant instanceof Date),
  );
}

function tableOf(orderId: string, actor: Actor & { id: number }, request: UpdateStatusBody) {
  const to = request.status;
  // The rules read the clock (a shipment's estimated delivery): evaluated over ~200 probes, they must
  // all see one instant, as the read path's single evaluation does.
  const now = Date.now();
  const verdicts = PROBES.map((probes) => ({
    ...probes,
    outputs: judge(probes.marked, to, actor, request, now),
  }));
  const allowed = verdicts.filter((verdict) => verdict.outputs !== null);
  const indexOf = new Map(allowed.map(({ variant }, at) => [variant, at]));
  const first = allowed[0];
  if (!first) return null;
  const names = [...new Set(allowed.flatMap(({ outputs }) => [...(outputs as Outputs).keys()]))];
  const values = new Map<string, Derived[]>();
  for (const name of names) {
    const derived = allowed.map(({ outputs, marked }) => derive(outputs?.get(name), marked, name));
    if (derived.some((value) => value === undefined)) return inexpressible(`${to}: ${name}`);
    values.set(
      name,
      chooseValues(
        allowed.map(({ variant }) => variant),
        derived as Derived[],
        name,
      ),
    );
  }
  // The same verdicts on orders whose other columns are null, else the rules read them in a way the table cannot say.
  for (const [at, { nulled, variant }] of verdicts.entries()) {
    const outputs = judge(nulled, to, actor, request, now);
    const index = indexOf.get(variant) ?? -1;
    if ((outputs === null) !== index < 0) return inexpressible(`${to}: allowed differs on nulls (${at})`);
    if (!outputs) continue;
    for (const name of names) {
      const expected = valueOn(values.get(name)?.[index] as Derived, nulled);
      const kept = name.startsWith("patch.") ? nulled[name.slice(6) as keyof OrderRow] : null;
      const actual = outputs.has(name) ? outputs.get(name) : kept;
      if (JSON.stringify(expected ?? null) !== JSON.stringify(actual ?? null))
        return inexpressible(`${to}: ${name}`);
    }
  }

  const signatures = new Map(names.map((name) => [name, (values.get(name) as Derived[]).map(signature)]));
  const verdictSignatures = verdicts.map(({ variant }) => {
    const index = indexOf.get(variant);
    return index === undefined ? "refused" : names.map((name) => signatures.get(name)?.[index]).join("\n");
  });
  const by = dependsOn(VARIANTS, verdictSignatures);
  const tuple = (variant: Variant) => by.map((column) => variant[column]);
  const cases = (name: string): ByVariant => {
    const groups = new Map<string, { when: string[][]; value: Derived; seen: Set<string> }>();
    for (const [at, { variant }] of allowed.entries()) {
      const value = values.get(name)?.[at] as Derived;
      const key = signatures.get(name)?.[at] as string;
      const group = groups.get(key) ?? { when: [], value, seen: new Set() };
      const when = tuple(variant);
      if (!group.seen.has(when.join())) group.when.push(when);
      group.seen.add(when.join());
      groups.set(key, group);
    }
    return [...groups.values()].map(({ when, value }) => ({ when, value })) as ByVariant;
  };
  const allowedTuples = [...new Set(allowed.map(({ variant }) => JSON.stringify(tuple(variant))))].map(
    (text) => JSON.parse(text) as string[],
  );
  const records = changeRecordsTemplate();
  if (!records) return inexpressible(`${to}: changeRecords`);
  const patch: StatusChangeTable["patch"] = {};
  for (const name of names.filter((name) => name.startsWith("patch."))) {
    patch[name.slice(6) as keyof OrderRow] = cases(name);
  }
  const change = Object.fromEntries(
    (["from", "note", "notify", "actorId", "actorRole"] as const).map((field) => [
      field,
      cases(`change.${field}`),
    ]),
  ) as Record<ChangeField, ByVariant>;
  return {
    orderId,
    ownerId: actor.role === "USER" ? actor.id : null,
    by,
    allowed: allowedTuples as StatusChangeTable["allowed"],
    patch,
    settlePayments: cases("settlePayments"),
    releaseStock: cases("releaseStock"),
    change,
    ...records,
  };
}

/**
 * The variant columns along which some single step between `variants` changes their `signatures`.
 * Over every variant (a full grid), the signature is a function of these columns alone.
 */
function dependsOn(variants: Variant[], signatures: string[]): VariantColumn[] {
  return VARIANT_COLUMNS.filter((column) => {
    const byRest = new Map<string, string>();
    return variants.some((variant, at) => {
      const seen = byRest.get(REST.get(variant)?.[column] as string);
      if (seen === undefined) byRest.set(REST.get(variant)?.[column] as string, signatures[at] as string);
      return seen !== undefined && seen !== signatures[at];
    });
  });
}

function inexpressible(what: string): null {
  log("warn", "status rules not expressible in one statement; reading the order first", { what });
  return null;
}

/**
 * Writes a status change decided by the database from `table`, in one round trip, publishes its
 * event, and answers the order as changed; null when the database refused it (the order is missing,
 * another user's, or in a state the change does not apply to).
 */
export async function changeStatusAtOnce(deps: OrderDeps, table: StatusChangeTable): Promise<Order | null> {
  try {
    const { order, event } = await deps.database.batch((db) => writeChangeAtOnce(db, table));
    deps.events.publish([toOrderEvent(event)]);
    return toOrder(order, order.items);
  } catch (error) {
    if (isConcurrentChange(error)) return null;
    throw error;
  }
}

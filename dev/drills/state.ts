// What a drill leaves behind, read after it: the rows of its users and products in Postgres and what
// the notification stand-in accepted from them.
import type { LoadReport, LoadUser } from "./load.ts";
import type { Stack } from "./stack.ts";

export interface DrillRun {
  name: string;
  users: LoadUser[];
  products: { id: string; initial: number }[];
  load: LoadReport;
  /** The worker's JSON log lines during the drill and its settling. */
  logs: Record<string, unknown>[];
  /** Network errors are the expected face of a worker restart, and of nothing else. */
  networkErrorsExpected: boolean;
  /** When the worker was stopped (a restart drill). */
  stoppedAt?: number;
}

export interface Snapshot {
  orders: { id: string; user_id: string; status: string }[];
  /** Orders whose stored total is not the sum of their stored lines, or with a line not price × quantity. */
  badTotals: { id: string; total_amount: string; lines_total: string; bad_lines: number }[];
  items: { order_id: string; user_id: string; product_id: string; quantity: number }[];
  keys: { user_id: string; key: string; response_status: number | null; order_id: string | null }[];
  outbox: { id: string; order_id: string; type: string; published_at: Date | null }[];
  deadLetters: { id: string; order_id: string | null; event_type: string | null }[];
  releases: {
    order_id: string;
    product_id: string;
    quantity: number;
    claimed_at: Date | null;
    released_at: Date | null;
  }[];
  /** Notifications the stand-in accepted, one per Idempotency-Key. */
  notified: { key: string; order_id: string; type: string }[];
}

export async function snapshot(stack: Stack, run: DrillRun): Promise<Snapshot> {
  const users = run.users.map((user) => user.id);
  const products = run.products.map((product) => product.id);
  const q = async <T>(text: string, values: unknown[]) => (await stack.db.query(text, values)).rows as T[];
  const notifications = (await (await fetch(`${stack.notification}/__admin/notifications`)).json()) as {
    notifications: { key: string; order_id: string; type: string; user_id: number | string }[];
  };
  const userSet = new Set(users.map(String));
  return {
    orders: await q("SELECT id, user_id, status FROM orders WHERE user_id = ANY($1)", [users]),
    badTotals: await q(
      `SELECT o.id, o.total_amount, sum(i.total_price) AS lines_total,
         count(*) FILTER (WHERE i.total_price <> i.price * i.quantity)::int AS bad_lines
       FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.user_id = ANY($1)
       GROUP BY o.id, o.total_amount
       HAVING o.total_amount <> sum(i.total_price) OR bool_or(i.total_price <> i.price * i.quantity)`,
      [users],
    ),
    items: await q(
      `SELECT i.order_id, o.user_id, i.product_id, i.quantity FROM order_items i JOIN orders o ON o.id = i.order_id
       WHERE o.user_id = ANY($1) AND o.status <> 'cancelled'`,
      [users],
    ),
    keys: await q(
      `SELECT user_id, key, response_status, COALESCE(response_body->>'id', response_body->'data'->>'id') AS order_id FROM idempotency_keys
       WHERE user_id = ANY($1)`,
      [users],
    ),
    outbox: await q("SELECT id, order_id, type, published_at FROM outbox WHERE user_id = ANY($1)", [users]),
    deadLetters: await q("SELECT id, order_id, event_type FROM dead_letters WHERE user_id = ANY($1)", [
      users,
    ]),
    releases: await q(
      "SELECT order_id, product_id, quantity, claimed_at, released_at FROM stock_releases WHERE product_id = ANY($1)",
      [products],
    ),
    notified: notifications.notifications
      .filter((n) => userSet.has(String(n.user_id)))
      .map((n) => ({ key: n.key, order_id: String(n.order_id), type: n.type })),
  };
}

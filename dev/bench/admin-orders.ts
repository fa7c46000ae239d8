// The admin search's bench data: orders written straight into the bench database (not through the
// API, and not timed), enough that a search that scanned the table instead of an index would show.
import { rows, sql } from "../db.ts";

/** Orders generated for the admin search row (issue: at least 100,000 in the table). */
export const SEARCH_ORDERS = 100_000;

/**
 * SEARCH_ORDERS orders of 10,000 users over the past year, one every 5 minutes, in the statuses a
 * shop has: mostly delivered, 3% pending. Each has one item; shipped and delivered ones a tracking number.
 */
export async function seedSearchableOrders(databaseUrl: string): Promise<void> {
  await sql(
    databaseUrl,
    `WITH generated AS (
       SELECT gen_random_uuid() AS id, g,
              now() - g * interval '5 minutes' AS at,
              CASE WHEN g % 100 < 3 THEN 'pending' WHEN g % 100 < 8 THEN 'paid'
                   WHEN g % 100 < 13 THEN 'processing' WHEN g % 100 < 25 THEN 'shipped'
                   WHEN g % 100 < 35 THEN 'cancelled' ELSE 'delivered' END AS status
         FROM generate_series(1, ${SEARCH_ORDERS}) g
     ), placed AS (
       INSERT INTO orders (id, user_id, status, payment_status, payment_method, total_amount, currency,
                           shipping_address, tracking_number, carrier, payment_due_at, created_at, updated_at)
       SELECT id, 5000000 + g % 10000, status,
              CASE status WHEN 'pending' THEN 'pending' WHEN 'cancelled' THEN 'refunded' ELSE 'paid' END,
              (ARRAY['credit_card','upi','net_banking','cash_on_delivery'])[1 + g % 4],
              1999, 'USD',
              '{"street":"1 Bench St","city":"Mumbai","state":"MH","postalCode":"400001","country":"India"}',
              CASE WHEN status IN ('shipped', 'delivered') THEN 'BENCH-' || g END,
              CASE WHEN status IN ('shipped', 'delivered') THEN 'DHL' END,
              CASE WHEN status = 'pending' THEN at + interval '30 minutes' END,
              at, at
         FROM generated
       RETURNING id
     )
     INSERT INTO order_items (order_id, product_id, product_name, price, quantity, total_price)
     SELECT id, 'bench-product', 'Bench product', 1999, 1, 1999 FROM placed;
     ANALYZE orders; ANALYZE order_items;`,
  );
}

/**
 * `count` paid card orders of their own users, placed over the past hour, for the status change row:
 * each is moved to processing once. Returns their ids, oldest first.
 */
export async function seedPaidOrders(databaseUrl: string, count: number): Promise<string[]> {
  const placed = await rows<{ id: string }>(
    databaseUrl,
    `WITH placed AS (
       INSERT INTO orders (id, user_id, status, payment_status, payment_method, total_amount, currency,
                           shipping_address, created_at, updated_at)
       SELECT gen_random_uuid(), 6000000 + g, 'paid', 'paid', 'credit_card', 1999, 'USD',
              '{"street":"1 Bench St","city":"Mumbai","state":"MH","postalCode":"400001","country":"India"}',
              now() - interval '1 hour' + g * interval '1 millisecond', now()
         FROM generate_series(1, ${count}) g
       RETURNING id, created_at
     ), items AS (
       INSERT INTO order_items (order_id, product_id, product_name, price, quantity, total_price)
       SELECT id, 'bench-product', 'Bench product', 1999, 1, 1999 FROM placed
     )
     SELECT id FROM placed ORDER BY created_at`,
  );
  await sql(databaseUrl, "ANALYZE orders; ANALYZE order_items;");
  return placed.map(({ id }) => id);
}

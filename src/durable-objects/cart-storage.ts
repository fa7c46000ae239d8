import { type CartItem, type CartResult, MAX_LINE_QUANTITY } from "../schemas/cart.ts";

/**
 * The cart object's SQLite storage layout:
 *   cart_items     one row per line; product_id is unique, so adding a product twice grows its line
 *   cart_meta      a single row: the owner's user id (0 in a guest's cart) and when the cart last
 *                  changed (drives expiry)
 *   add_requests   the answers to adds (and merges) sent with an Idempotency-Key, replayed for 24 h
 *   checkout_lock  a single row while a checkout of this cart is in progress, with the id its order
 *                  will have, the lines it orders and its Idempotency-Key (`idem_key`, null without,
 *                  and `idem_hash`, its request's fingerprint);
 *                  it lapses by itself if the worker running the checkout dies
 *   checkout_keys  the Idempotency-Keys of this cart's checkouts in the last 25 h, with when each
 *                  was last used: a key seen here may already have an answer in the database
 *   checkout_memory  a single row: whether a checkout of this cart was refused for the user's
 *                  open orders since the cart's last order (`at_limit`), a refusal that a checkout
 *                  that reserves first would meet only after reserving; and, in an object that
 *                  held carts before checkout_keys existed, when that table began (`keys_since`)
 *   unsettled_checkouts  order ids of checkouts whose outcome is unknown (a lapsed lock, or a
 *                  placement whose answer was lost): the order may have been placed without its
 *                  lines leaving the cart, which the next checkout settles before ordering anything;
 *                  `reserved` is the stock the checkout held (JSON lines; null when not known), and
 *                  `in_doubt` what a lapsed checkout was ordering, some or all of which it may hold
 * A user's object also has transfer_decisions (cart-object.ts), a guest's cart_transfers
 * (guest-cart-object.ts): the two halves of a merge (cart-transfer.ts).
 */
export const CART_SCHEMA = `
  CREATE TABLE IF NOT EXISTS cart_items (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL UNIQUE,
    product_name TEXT NOT NULL,
    price INTEGER NOT NULL,
    currency TEXT NOT NULL,
    image TEXT,
    quantity INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND ${MAX_LINE_QUANTITY}),
    added_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS cart_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    user_id INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS add_requests (
    key TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    response TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS checkout_lock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    token TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    order_id TEXT,
    lines TEXT,
    idem_key TEXT,
    idem_hash TEXT
  );
  CREATE TABLE IF NOT EXISTS checkout_keys (
    key TEXT PRIMARY KEY,
    used_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS checkout_memory (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at_limit INTEGER NOT NULL DEFAULT 0,
    keys_since INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS unsettled_checkouts (
    order_id TEXT PRIMARY KEY,
    reserved TEXT,
    in_doubt TEXT
  );
`;

/** Brings an object created with an older layout up to date (SQLite: columns are added one by one). */
export function migrateCartSchema(sql: SqlStorage): void {
  const exists = (table: string) =>
    sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", table).toArray().length > 0;
  const keysUnknown = exists("cart_items") && !exists("checkout_keys");
  sql.exec(CART_SCHEMA);
  // The keys of the checkouts such an object ran so far are not known: see CheckoutLock.
  if (keysUnknown) {
    sql.exec(
      `INSERT INTO checkout_memory (id, keys_since) VALUES (1, ?)
       ON CONFLICT (id) DO UPDATE SET keys_since = excluded.keys_since`,
      Date.now(),
    );
  }
  for (const [table, column] of [
    ["checkout_lock", "order_id"],
    ["checkout_lock", "lines"],
    ["checkout_lock", "idem_key"],
    ["checkout_lock", "idem_hash"],
    ["unsettled_checkouts", "reserved"],
    ["unsettled_checkouts", "in_doubt"],
  ] as const) {
    const columns = sql.exec<{ name: string }>(`SELECT name FROM pragma_table_info('${table}')`).toArray();
    if (!columns.some(({ name }) => name === column))
      sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column} TEXT`);
  }
}

export type ItemRow = {
  id: string;
  product_id: string;
  product_name: string;
  price: number;
  currency: string;
  image: string | null;
  quantity: number;
  added_at: number;
};

export function toCartItem(row: ItemRow): CartItem {
  return {
    id: row.id,
    productId: row.product_id,
    productName: row.product_name,
    price: row.price,
    currency: row.currency,
    quantity: row.quantity,
    totalPrice: row.price * row.quantity,
    image: row.image,
  };
}

export function reject(
  code: Exclude<CartResult<never>, { ok: true }>["code"],
  message: string,
): { ok: false; code: typeof code; message: string } {
  return { ok: false, code, message };
}

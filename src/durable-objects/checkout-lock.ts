import type { CartItem, CartRejection } from "../schemas/cart.ts";
import { reject } from "./cart-storage.ts";

/** What the checkout lock needs of the cart it guards. */
export interface GuardedCart {
  items(): CartItem[];
  touch(userId: number): void;
}

type OrderedLine = { productId: string; quantity: number };

/**
 * A checkout whose order may or may not have been placed: the stock it held reserved, when it could
 * say (`reserved`), or, for one whose worker died, what it was ordering, some or all of which it may
 * hold (`inDoubt`).
 */
export interface UnsettledCheckout {
  orderId: string;
  reserved: OrderedLine[] | null;
  inDoubt?: OrderedLine[] | null;
}

/** What a checkout learns as it locks the cart (see CheckoutLock.begin). */
export interface CheckoutStart {
  token: string;
  items: CartItem[];
  unsettled: UnsettledCheckout[];
  /** The checkout's Idempotency-Key was used by an earlier checkout of this cart. */
  keySeen: boolean;
  /** A checkout of this cart was refused for the user's open orders since its last order. */
  refusedAtLimit: boolean;
}

/** A checkout's Idempotency-Key and its request's fingerprint. */
export interface CheckoutKey {
  value: string;
  requestHash: string;
}

/** How begin answers: the checkout's start, or a refusal, which says whether the key was seen too. */
export type CheckoutBegun =
  | { ok: true; value: CheckoutStart }
  | { ok: false; code: CartRejection; message: string; keySeen: boolean };

/**
 * How long a checkout's Idempotency-Key is remembered after its last use: longer than the database
 * keeps its answer (24 h from the placing batch, which comes within minutes of the use), so that a
 * key the cart forgot has no answer left to replay.
 */
const KEY_MEMORY_MS = 25 * 60 * 60 * 1000;

const linesOf = (json: string | null) => (json === null ? null : (JSON.parse(json) as OrderedLine[]));

/**
 * The checkout half of a user's object: the lock that lets one checkout of the cart run at a time,
 * and the orders of lapsed checkouts still to settle (tables checkout_lock and unsettled_checkouts,
 * see cart-storage.ts). Every method is one synchronous transaction.
 */
export class CheckoutLock {
  private readonly storage: DurableObjectStorage;
  private readonly sql: SqlStorage;
  private readonly cart: GuardedCart;

  constructor(storage: DurableObjectStorage, cart: GuardedCart) {
    this.storage = storage;
    this.sql = storage.sql;
    this.cart = cart;
  }

  /**
   * Starts a checkout of the order `orderId`: answers the lines to order and a token, or refuses
   * while another checkout of this cart is in progress, so that concurrent checkouts of one cart
   * yield one order: a checkout with the same Idempotency-Key as the one in progress is its twin,
   * refused as a key still in flight (or as reused, with another request). Taking over a lapsed
   * lock records that checkout's order as unsettled: it may have been placed without its lines
   * leaving the cart. Unsettled orders are answered too, for the worker to look up and settle
   * (settle) before ordering anything.
   *
   * Also answered, for the worker to choose how to check out: whether `key` was used by a checkout
   * of this cart before (its answer may be stored already: also said with a refusal), and whether
   * a checkout was refused for the user's open orders since the cart's last order (see finish). A
   * checkout that begins is remembered by its key from here on.
   */
  begin(lockMs: number, orderId: string, idempotency: CheckoutKey | null = null): CheckoutBegun {
    return this.storage.transactionSync(() => {
      const now = Date.now();
      const key = idempotency?.value ?? null;
      const keySeen = key !== null && this.remembers(key, now);
      const lock = this.sql
        .exec<{
          expires_at: number;
          order_id: string | null;
          lines: string | null;
          idem_key: string | null;
          idem_hash: string | null;
        }>("SELECT expires_at, order_id, lines, idem_key, idem_hash FROM checkout_lock")
        .toArray()[0];
      if (lock && lock.expires_at > now) {
        if (key !== null && lock.idem_key === key) {
          if (lock.idem_hash !== idempotency?.requestHash) {
            const reused = "This Idempotency-Key was already used with another request";
            return { ...reject("IDEMPOTENCY_KEY_REUSED", reused), keySeen };
          }
          const twin = "A request with this Idempotency-Key is still in progress";
          return { ...reject("IDEMPOTENCY_KEY_IN_FLIGHT", twin), keySeen };
        }
        return {
          ...reject("CHECKOUT_IN_PROGRESS", "A checkout of this cart is already in progress"),
          keySeen,
        };
      }
      if (lock?.order_id) {
        this.sql.exec(
          "INSERT OR IGNORE INTO unsettled_checkouts (order_id, in_doubt) VALUES (?, ?)",
          lock.order_id,
          lock.lines,
        );
      }
      const unsettled = this.sql
        .exec<{ order_id: string; reserved: string | null; in_doubt: string | null }>(
          "SELECT order_id, reserved, in_doubt FROM unsettled_checkouts",
        )
        .toArray()
        .map((row) => ({
          orderId: row.order_id,
          reserved: linesOf(row.reserved),
          inDoubt: linesOf(row.in_doubt),
        }));
      const items = this.cart.items();
      if (items.length === 0 && unsettled.length === 0)
        return { ...reject("EMPTY_CART", "The cart is empty"), keySeen };
      const token = crypto.randomUUID();
      const lines = items.map(({ productId, quantity }) => ({ productId, quantity }));
      this.sql.exec(
        `INSERT INTO checkout_lock (id, token, expires_at, order_id, lines, idem_key, idem_hash)
         VALUES (1, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at,
           order_id = excluded.order_id, lines = excluded.lines, idem_key = excluded.idem_key,
           idem_hash = excluded.idem_hash`,
        token,
        now + lockMs,
        orderId,
        JSON.stringify(lines),
        key,
        idempotency?.requestHash ?? null,
      );
      if (key !== null) {
        this.sql.exec(
          `INSERT INTO checkout_keys (key, used_at) VALUES (?, ?)
           ON CONFLICT (key) DO UPDATE SET used_at = excluded.used_at`,
          key,
          now,
        );
      }
      const refusedAtLimit = this.memory()?.at_limit === 1;
      return { ok: true, value: { token, items, unsettled, keySeen, refusedAtLimit } };
    });
  }

  /**
   * Whether a checkout of this cart used `key` in the last KEY_MEMORY_MS (forgetting older keys).
   * In an object that held carts before it kept keys, every key counts as used until its memory is
   * as long as KEY_MEMORY_MS.
   */
  private remembers(key: string, now: number): boolean {
    if (now - (this.memory()?.keys_since ?? 0) < KEY_MEMORY_MS) return true;
    this.sql.exec("DELETE FROM checkout_keys WHERE used_at <= ?", now - KEY_MEMORY_MS);
    return this.sql.exec("SELECT 1 FROM checkout_keys WHERE key = ?", key).toArray().length > 0;
  }

  private memory() {
    return this.sql
      .exec<{ at_limit: number; keys_since: number }>("SELECT at_limit, keys_since FROM checkout_memory")
      .toArray()[0];
  }

  /** Whether a checkout holds the cart now (a lapsed lock holds nothing). */
  inProgress(): boolean {
    return this.sql.exec("SELECT 1 FROM checkout_lock WHERE expires_at > ?", Date.now()).toArray().length > 0;
  }

  /**
   * Settles lapsed checkouts the worker looked up: the lines of those whose order was placed leave
   * the cart (`lines`), the others (`null`) simply stop being unsettled. Answers the cart's lines as
   * they now are, or null if this checkout no longer holds the lock.
   */
  settle(
    userId: number,
    token: string,
    settled: { orderId: string; lines: OrderedLine[] | null }[],
  ): CartItem[] | null {
    return this.storage.transactionSync(() => {
      if (this.sql.exec("SELECT 1 FROM checkout_lock WHERE token = ?", token).toArray().length === 0)
        return null;
      for (const { orderId, lines } of settled) {
        // Settled meanwhile by a replay of its answer (settleReplayed): its lines already left.
        const marked = this.sql.exec(
          "DELETE FROM unsettled_checkouts WHERE order_id = ?",
          orderId,
        ).rowsWritten;
        if (lines && marked > 0) this.removeOrdered(lines);
      }
      if (settled.some(({ lines }) => lines)) this.cart.touch(userId);
      return this.cart.items();
    });
  }

  /**
   * Ends a checkout. When it placed an order, exactly the ordered quantities leave the cart: a line
   * added or grown meanwhile keeps what was not ordered. When it cannot tell whether its order was
   * placed (`unsettled`), the order is left for the next checkout to settle, with the stock it holds.
   * `atLimit`: whether it was refused for the user's open orders; begin answers that from then on,
   * until a checkout places an order.
   */
  finish(
    userId: number,
    token: string,
    ordered: OrderedLine[] | null,
    unsettled?: UnsettledCheckout,
    atLimit = false,
  ): void {
    this.storage.transactionSync(() => {
      // Already finished (a retried call whose first attempt landed): removing the lines again
      // would take away units added since.
      if (this.sql.exec("DELETE FROM checkout_lock WHERE token = ?", token).rowsWritten === 0) return;
      // Remembered until an order goes through: other refusals say nothing of the open orders.
      if (atLimit || ordered) {
        this.sql.exec(
          `INSERT INTO checkout_memory (id, at_limit) VALUES (1, ?)
           ON CONFLICT (id) DO UPDATE SET at_limit = excluded.at_limit`,
          atLimit ? 1 : 0,
        );
      }
      if (unsettled) {
        this.sql.exec(
          "INSERT OR IGNORE INTO unsettled_checkouts (order_id, reserved) VALUES (?, ?)",
          unsettled.orderId,
          unsettled.reserved ? JSON.stringify(unsettled.reserved) : null,
        );
      }
      if (!ordered) return;
      this.removeOrdered(ordered);
      this.cart.touch(userId);
    });
  }

  /**
   * Settles a placed order whose checkout never finished, as a replay of its answer reports it: if
   * the cart is still locked by that checkout, or holds the order as unsettled, the ordered lines
   * leave the cart and the lock or mark goes; otherwise (finished, or settled already) nothing
   * changes. A late `finish` of the same checkout then finds no lock of its own and changes nothing.
   */
  settleReplayed(userId: number, orderId: string, ordered: OrderedLine[]): void {
    this.storage.transactionSync(() => {
      const unlocked = this.sql.exec("DELETE FROM checkout_lock WHERE order_id = ?", orderId).rowsWritten;
      const unmarked = this.sql.exec(
        "DELETE FROM unsettled_checkouts WHERE order_id = ?",
        orderId,
      ).rowsWritten;
      if (unlocked === 0 && unmarked === 0) return;
      this.removeOrdered(ordered);
      this.cart.touch(userId);
    });
  }

  /** Takes ordered quantities out of the cart; a line grown since keeps what was not ordered. */
  private removeOrdered(ordered: OrderedLine[]): void {
    for (const line of ordered) {
      this.sql.exec(
        "DELETE FROM cart_items WHERE product_id = ? AND quantity <= ?",
        line.productId,
        line.quantity,
      );
      this.sql.exec(
        "UPDATE cart_items SET quantity = quantity - ? WHERE product_id = ?",
        line.quantity,
        line.productId,
      );
    }
  }
}

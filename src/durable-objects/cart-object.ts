import { DurableObject } from "cloudflare:workers";
import type { LiveEvent } from "../queues/messages.ts";
import {
  type Cart,
  type CartItem,
  type CartResult,
  MAX_CART_LINES,
  MAX_LINE_QUANTITY,
  type ProductSnapshot,
} from "../schemas/cart.ts";
import { type ItemRow, migrateCartSchema, reject, toCartItem } from "./cart-storage.ts";
import { LiveChannel } from "./live-channel.ts";

/** Carts nobody touched for this long are emptied by the object's alarm (SPEC §4). */
export const CART_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/** Adds sent with an Idempotency-Key replay their first answer this long (SPEC §4: 24 h). */
const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export interface IdempotentAdd {
  key: string;
  requestHash: string;
}

export interface AddResult {
  item: CartItem;
  created: boolean;
  replayed: boolean;
}

/**
 * One user's object: their cart, in the object's SQLite storage, and their live order-status
 * sockets (live-channel.ts). Every RPC method runs its read-modify-write
 * synchronously: input gates do not hold across non-storage awaits, so the worker fetches product
 * data *before* calling in, and nothing here awaits between reading and writing.
 *
 * Storage layout: see cart-storage.ts.
 */
export class CartObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly live: LiveChannel;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrateCartSchema(this.sql);
    this.live = new LiveChannel(ctx);
  }

  issueLiveTicket(hash: string, expiresAt: number): void {
    this.live.issue(hash, expiresAt);
  }

  /** The WebSocket upgrade for live status; the worker checked the request and hashed its ticket. */
  override fetch(request: Request): Response {
    return this.live.connect(request.headers.get("x-live-ticket-hash"));
  }

  pushLive(events: LiveEvent[]): number {
    return this.live.push(events);
  }

  override webSocketClose(socket: WebSocket, code: number, reason: string): void {
    // 1005 and 1006 say "no code": they cannot be sent back.
    socket.close(code === 1005 || code === 1006 ? 1000 : code, reason);
  }

  getCart(userId: number, defaultCurrency: string): Cart {
    const items = this.items();
    const updatedAt = this.sql
      .exec<{ updated_at: number }>("SELECT updated_at FROM cart_meta")
      .toArray()[0]?.updated_at;
    return {
      id: this.ctx.id.toString(),
      userId,
      items,
      totalItems: items.reduce((sum, item) => sum + item.quantity, 0),
      totalAmount: items.reduce((sum, item) => sum + item.totalPrice, 0),
      currency: items[0]?.currency ?? defaultCurrency,
      updatedAt: new Date(updatedAt ?? Date.now()).toISOString(),
    };
  }

  /** Adds a product, or grows its line; the snapshot refreshes the line's name, price and image. */
  addItem(
    userId: number,
    product: ProductSnapshot,
    quantity: number,
    idempotency?: IdempotentAdd,
  ): CartResult<AddResult> {
    return this.ctx.storage.transactionSync(() => {
      // Checked again here: a concurrent request with the same key may have landed since findAdd.
      const earlier = idempotency && this.findAdd(idempotency);
      if (earlier) return earlier;
      const result = this.applyAdd(userId, product, quantity);
      if (result.ok && idempotency) {
        const now = Date.now();
        this.sql.exec("DELETE FROM add_requests WHERE expires_at <= ?", now);
        this.sql.exec(
          "INSERT INTO add_requests (key, request_hash, response, expires_at) VALUES (?, ?, ?, ?)",
          idempotency.key,
          idempotency.requestHash,
          JSON.stringify(result.value),
          now + IDEMPOTENCY_TTL_MS,
        );
      }
      return result;
    });
  }

  /** The stored answer to an earlier add with this Idempotency-Key, marked replayed; a key reused for another add is refused. */
  findAdd(idempotency: IdempotentAdd): CartResult<AddResult> | null {
    const row = this.sql
      .exec<{ request_hash: string; response: string }>(
        "SELECT request_hash, response FROM add_requests WHERE key = ? AND expires_at > ?",
        idempotency.key,
        Date.now(),
      )
      .toArray()[0];
    if (!row) return null;
    if (row.request_hash !== idempotency.requestHash) {
      return reject("IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was already used with another request");
    }
    return { ok: true, value: { ...(JSON.parse(row.response) as AddResult), replayed: true } };
  }

  private applyAdd(userId: number, product: ProductSnapshot, quantity: number): CartResult<AddResult> {
    const lines = this.items();
    const existing = lines.find((line) => line.productId === product.productId);
    if (lines.some((line) => line.currency !== product.currency)) {
      return reject(
        "CURRENCY_MISMATCH",
        `The cart holds ${lines[0]?.currency} items; this product is priced in ${product.currency}`,
      );
    }
    if (!existing && lines.length >= MAX_CART_LINES) {
      return reject("CART_LIMIT_EXCEEDED", `A cart holds at most ${MAX_CART_LINES} lines`);
    }
    const newQuantity = (existing?.quantity ?? 0) + quantity;
    if (newQuantity > MAX_LINE_QUANTITY) {
      return reject("CART_LIMIT_EXCEEDED", `A line holds at most ${MAX_LINE_QUANTITY} units`);
    }
    if (newQuantity > product.stock) {
      return reject(
        "INSUFFICIENT_STOCK",
        `Only ${Math.max(product.stock, 0)} units of ${product.name} are in stock`,
      );
    }
    const id = existing?.id ?? crypto.randomUUID();
    this.sql.exec(
      `INSERT INTO cart_items (id, product_id, product_name, price, currency, image, quantity, added_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (product_id) DO UPDATE SET
           product_name = excluded.product_name, price = excluded.price, currency = excluded.currency,
           image = excluded.image, quantity = excluded.quantity`,
      id,
      product.productId,
      product.name,
      product.price,
      product.currency,
      product.image,
      newQuantity,
      Date.now(),
    );
    this.touch(userId);
    return { ok: true, value: { item: this.item(id) as CartItem, created: !existing, replayed: false } };
  }

  /** Reads one line, so the worker can look its product up before changing it. */
  getItem(itemId: string): CartItem | null {
    return this.item(itemId);
  }

  /**
   * Sets a line's quantity. A product snapshot is required to grow a line (stock is re-checked
   * and the price refreshed); shrinking needs none, so it works while the product service is down.
   */
  setQuantity(
    userId: number,
    itemId: string,
    quantity: number,
    product?: ProductSnapshot,
  ): CartResult<CartItem> {
    return this.ctx.storage.transactionSync(() => {
      const line = this.item(itemId);
      if (!line) return reject("CART_ITEM_NOT_FOUND", "The cart has no such item");
      if (product && product.productId === line.productId) {
        if (quantity > product.stock) {
          return reject(
            "INSUFFICIENT_STOCK",
            `Only ${Math.max(product.stock, 0)} units of ${product.name} are in stock`,
          );
        }
        this.sql.exec(
          "UPDATE cart_items SET quantity = ?, product_name = ?, price = ?, image = ? WHERE id = ?",
          quantity,
          product.name,
          product.price,
          product.image,
          itemId,
        );
      } else if (quantity > line.quantity) {
        return reject("INSUFFICIENT_STOCK", "The product's stock could not be confirmed");
      } else {
        this.sql.exec("UPDATE cart_items SET quantity = ? WHERE id = ?", quantity, itemId);
      }
      this.touch(userId);
      return { ok: true, value: this.item(itemId) as CartItem };
    });
  }

  /** Removes a line and answers the cart as it now is, or null when there was no such line. */
  removeItem(userId: number, itemId: string, defaultCurrency: string): Cart | null {
    return this.ctx.storage.transactionSync(() => {
      if (this.sql.exec("DELETE FROM cart_items WHERE id = ?", itemId).rowsWritten === 0) return null;
      this.touch(userId);
      return this.getCart(userId, defaultCurrency);
    });
  }

  clear(userId: number, defaultCurrency: string): Cart {
    return this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM cart_items");
      this.touch(userId);
      return this.getCart(userId, defaultCurrency);
    });
  }

  /**
   * Starts a checkout of the order `orderId`: answers the lines to order and a token, or refuses
   * while another checkout of this cart is in progress, so that concurrent checkouts of one cart
   * yield one order. Taking over a lapsed lock records that checkout's order as unsettled: it may
   * have been placed without its lines leaving the cart. Unsettled orders are answered too, for the
   * worker to look up and settle (settleCheckouts) before ordering anything.
   */
  beginCheckout(
    lockMs: number,
    orderId: string,
  ): CartResult<{ token: string; items: CartItem[]; unsettled: string[] }> {
    return this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      const lock = this.sql
        .exec<{ expires_at: number; order_id: string | null }>(
          "SELECT expires_at, order_id FROM checkout_lock",
        )
        .toArray()[0];
      if (lock && lock.expires_at > now) {
        return reject("CHECKOUT_IN_PROGRESS", "A checkout of this cart is already in progress");
      }
      if (lock?.order_id) {
        this.sql.exec("INSERT OR IGNORE INTO unsettled_checkouts (order_id) VALUES (?)", lock.order_id);
      }
      const unsettled = this.sql
        .exec<{ order_id: string }>("SELECT order_id FROM unsettled_checkouts")
        .toArray()
        .map((row) => row.order_id);
      const items = this.items();
      if (items.length === 0 && unsettled.length === 0) return reject("EMPTY_CART", "The cart is empty");
      const token = crypto.randomUUID();
      this.sql.exec(
        `INSERT INTO checkout_lock (id, token, expires_at, order_id) VALUES (1, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET
           token = excluded.token, expires_at = excluded.expires_at, order_id = excluded.order_id`,
        token,
        now + lockMs,
        orderId,
      );
      return { ok: true, value: { token, items, unsettled } };
    });
  }

  /**
   * Settles lapsed checkouts the worker looked up: the lines of those whose order was placed leave
   * the cart (`lines`), the others (`null`) simply stop being unsettled. Answers the cart's lines as
   * they now are, or null if this checkout no longer holds the lock.
   */
  settleCheckouts(
    userId: number,
    token: string,
    settled: { orderId: string; lines: { productId: string; quantity: number }[] | null }[],
  ): CartItem[] | null {
    return this.ctx.storage.transactionSync(() => {
      if (this.sql.exec("SELECT 1 FROM checkout_lock WHERE token = ?", token).toArray().length === 0)
        return null;
      for (const { orderId, lines } of settled) {
        if (lines) this.removeOrdered(lines);
        this.sql.exec("DELETE FROM unsettled_checkouts WHERE order_id = ?", orderId);
      }
      if (settled.some(({ lines }) => lines)) this.touch(userId);
      return this.items();
    });
  }

  /**
   * Ends a checkout. When it placed an order, exactly the ordered quantities leave the cart: a line
   * added or grown meanwhile keeps what was not ordered. When it cannot tell whether its order was
   * placed (`unsettledOrderId`), the order is left for the next checkout to look up and settle.
   */
  finishCheckout(
    userId: number,
    token: string,
    ordered: { productId: string; quantity: number }[] | null,
    unsettledOrderId?: string,
  ): void {
    this.ctx.storage.transactionSync(() => {
      // Already finished (a retried call whose first attempt landed): removing the lines again
      // would take away units added since.
      if (this.sql.exec("DELETE FROM checkout_lock WHERE token = ?", token).rowsWritten === 0) return;
      if (unsettledOrderId) {
        this.sql.exec("INSERT OR IGNORE INTO unsettled_checkouts (order_id) VALUES (?)", unsettledOrderId);
      }
      if (!ordered) return;
      this.removeOrdered(ordered);
      this.touch(userId);
    });
  }

  /** Takes ordered quantities out of the cart; a line grown since keeps what was not ordered. */
  private removeOrdered(ordered: { productId: string; quantity: number }[]): void {
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

  /** Empties a cart idle for CART_TTL_MS; a cart touched since the alarm was set gets a new one. */
  override async alarm(): Promise<void> {
    const meta = this.sql.exec<{ updated_at: number }>("SELECT updated_at FROM cart_meta").toArray()[0];
    if (!meta) return;
    const expiresAt = meta.updated_at + CART_TTL_MS;
    if (expiresAt > Date.now()) {
      await this.ctx.storage.setAlarm(expiresAt);
      return;
    }
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM cart_items");
      this.sql.exec("DELETE FROM cart_meta");
      this.sql.exec("DELETE FROM add_requests");
      this.sql.exec("DELETE FROM unsettled_checkouts");
    });
  }

  private touch(userId: number): void {
    const now = Date.now();
    this.sql.exec(
      `INSERT INTO cart_meta (id, user_id, updated_at) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, updated_at = excluded.updated_at`,
      userId,
      now,
    );
    // Storage writes are ordered and confirmed before the RPC answers (output gate), so this need not be awaited.
    void this.ctx.storage.setAlarm(now + CART_TTL_MS);
  }

  private items(): CartItem[] {
    return this.sql.exec<ItemRow>("SELECT * FROM cart_items ORDER BY added_at, id").toArray().map(toCartItem);
  }

  private item(itemId: string): CartItem | null {
    const row = this.sql.exec<ItemRow>("SELECT * FROM cart_items WHERE id = ?", itemId).toArray()[0];
    return row ? toCartItem(row) : null;
  }
}

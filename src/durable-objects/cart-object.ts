import { DurableObject } from "cloudflare:workers";
import { log } from "../lib/log.ts";
import {
  type Cart,
  type CartItem,
  type CartResult,
  MAX_CART_LINES,
  MAX_LINE_QUANTITY,
  type ProductSnapshot,
} from "../schemas/cart.ts";
import type { LiveEvent } from "../schemas/live.ts";
import { type ItemRow, migrateCartSchema, reject, toCartItem } from "./cart-storage.ts";
import { CheckoutLock, type UnsettledCheckout } from "./checkout-lock.ts";
import { LiveChannel } from "./live-channel.ts";

/** Carts nobody touched for this long are emptied by the object's alarm (SPEC §4). */
export const CART_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/** Adds sent with an Idempotency-Key replay their first answer this long (SPEC §4: 24 h). */
const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

export interface IdempotentAdd {
  key: string;
  requestHash: string;
}

/** A grow of a line asked without its product: look `needsProduct` up, then ask again with it. */
export interface NeedsProduct {
  ok: false;
  needsProduct: string;
}

export interface AddResult {
  item: CartItem;
  created: boolean;
  replayed: boolean;
}

/**
 * One user's object: their cart, in the object's SQLite storage, its checkout lock
 * (checkout-lock.ts) and their live order-status sockets (live-channel.ts). Every RPC method runs
 * its read-modify-write synchronously: input gates do not hold across non-storage awaits, so the worker fetches product
 * data *before* calling in, and nothing here awaits between reading and writing.
 *
 * Storage layout: see cart-storage.ts.
 */
export class CartObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly live: LiveChannel;
  private readonly checkouts: CheckoutLock;
  /** The cart's id (the object's): computed once, not on every read. */
  private readonly id: string;
  /** Whether this instance has set the expiry alarm (a new instance sets it on its first change). */
  private alarmArmed = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.id = ctx.id.toString();
    migrateCartSchema(this.sql);
    this.live = new LiveChannel(ctx);
    this.checkouts = new CheckoutLock(ctx.storage, {
      items: () => this.items(),
      touch: (userId) => this.touch(userId),
    });
  }

  issueLiveTicket(hash: string, expiresAt: number, closesAt: number): void {
    this.live.issue(hash, expiresAt, closesAt);
  }

  /**
   * The WebSocket upgrade for live status; the worker checked the request, hashed its ticket and
   * says how many sockets the user may keep open. The alarm closes the socket at its closing time.
   */
  override async fetch(request: Request): Promise<Response> {
    const maxSockets = Number(request.headers.get("x-live-max-sockets")) || 1;
    const { response, closesAt } = this.live.connect(request.headers.get("x-live-ticket-hash"), maxSockets);
    if (closesAt !== undefined) {
      const current = await this.ctx.storage.getAlarm();
      if (current === null || closesAt < current) await this.ctx.storage.setAlarm(closesAt);
    }
    return response;
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
      id: this.id,
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

  /** Reads only the line it grows and what the limits need, and writes two rows. */
  private applyAdd(userId: number, product: ProductSnapshot, quantity: number): CartResult<AddResult> {
    const existing = this.sql
      .exec<ItemRow>("SELECT * FROM cart_items WHERE product_id = ?", product.productId)
      .toArray()[0];
    // Every line of a cart shares one currency, so any other currency found is the cart's.
    const { lines, other } = this.sql
      .exec<{ lines: number; other: string | null }>(
        `SELECT count(*) AS lines,
                (SELECT currency FROM cart_items WHERE currency <> ? LIMIT 1) AS other
           FROM cart_items`,
        product.currency,
      )
      .one();
    if (other !== null) {
      return reject(
        "CURRENCY_MISMATCH",
        `The cart holds ${other} items; this product is priced in ${product.currency}`,
      );
    }
    if (!existing && lines >= MAX_CART_LINES) {
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
    const row = this.sql
      .exec<ItemRow>(
        `INSERT INTO cart_items (id, product_id, product_name, price, currency, image, quantity, added_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (product_id) DO UPDATE SET
             product_name = excluded.product_name, price = excluded.price, currency = excluded.currency,
             image = excluded.image, quantity = excluded.quantity
           RETURNING *`,
        existing?.id ?? crypto.randomUUID(),
        product.productId,
        product.name,
        product.price,
        product.currency,
        product.image,
        newQuantity,
        Date.now(),
      )
      .one();
    this.touch(userId);
    return { ok: true, value: { item: toCartItem(row), created: !existing, replayed: false } };
  }

  /**
   * Sets a line's quantity. Growing needs a product snapshot (stock is re-checked and the price
   * refreshed): without one, a grow changes nothing and names the product to look up, so the worker
   * calls again with it. Shrinking needs none, so it works while the product service is down, and
   * takes one call.
   */
  setQuantity(
    userId: number,
    itemId: string,
    quantity: number,
    product?: ProductSnapshot,
  ): CartResult<CartItem> | NeedsProduct {
    return this.ctx.storage.transactionSync(() => {
      const line = this.item(itemId);
      if (!line) return reject("CART_ITEM_NOT_FOUND", "The cart has no such item");
      if (!product && quantity > line.quantity) return { ok: false, needsProduct: line.productId };
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

  /** Starts a checkout of the order `orderId` (see CheckoutLock.begin). */
  beginCheckout(
    lockMs: number,
    orderId: string,
  ): CartResult<{ token: string; items: CartItem[]; unsettled: UnsettledCheckout[] }> {
    return this.checkouts.begin(lockMs, orderId);
  }

  /** Settles lapsed checkouts the worker looked up (see CheckoutLock.settle). */
  settleCheckouts(
    userId: number,
    token: string,
    settled: { orderId: string; lines: { productId: string; quantity: number }[] | null }[],
  ): CartItem[] | null {
    return this.checkouts.settle(userId, token, settled);
  }

  /** Settles the cart of a checkout whose answer was replayed (see CheckoutLock.settleReplayed). */
  settleReplayedCheckout(
    userId: number,
    orderId: string,
    ordered: { productId: string; quantity: number }[],
  ): void {
    this.checkouts.settleReplayed(userId, orderId, ordered);
  }

  /** Ends a checkout (see CheckoutLock.finish). */
  finishCheckout(
    userId: number,
    token: string,
    ordered: { productId: string; quantity: number }[] | null,
    unsettled?: UnsettledCheckout,
  ): void {
    this.checkouts.finish(userId, token, ordered, unsettled);
  }

  /**
   * The one alarm serves two clocks: it closes live sockets whose time has come, and empties a
   * cart idle for CART_TTL_MS (a cart touched since the alarm was set gets a new one). It is re-armed
   * for whichever comes first.
   */
  override async alarm(): Promise<void> {
    // A fired alarm is gone: the next change arms one again unless this one re-arms.
    this.alarmArmed = false;
    const nextClose = this.live.closeDue();
    const meta = this.sql.exec<{ updated_at: number }>("SELECT updated_at FROM cart_meta").toArray()[0];
    const cartExpiresAt = meta ? meta.updated_at + CART_TTL_MS : null;
    if (cartExpiresAt === null || cartExpiresAt > Date.now()) {
      this.alarmArmed = cartExpiresAt !== null;
      const next = Math.min(cartExpiresAt ?? Number.POSITIVE_INFINITY, nextClose ?? Number.POSITIVE_INFINITY);
      if (Number.isFinite(next)) await this.ctx.storage.setAlarm(next);
      return;
    }
    if (nextClose !== null) await this.ctx.storage.setAlarm(nextClose);
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM cart_items");
      this.sql.exec("DELETE FROM cart_meta");
      this.sql.exec("DELETE FROM add_requests");
    });
    // Unsettled checkouts stay: the stock they may hold is settled by the user's next checkout (an
    // empty cart still settles them), and until then an operator has the trail below.
    const unsettled = this.sql
      .exec<{ order_id: string; reserved: string | null; in_doubt: string | null }>(
        "SELECT order_id, reserved, in_doubt FROM unsettled_checkouts",
      )
      .toArray();
    for (const { order_id, reserved, in_doubt } of unsettled) {
      log("error", "expired cart keeps an unsettled checkout", {
        orderId: order_id,
        reserved: reserved === null ? null : JSON.parse(reserved),
        inDoubt: in_doubt === null ? null : JSON.parse(in_doubt),
      });
    }
  }

  private touch(userId: number): void {
    const now = Date.now();
    this.sql.exec(
      `INSERT INTO cart_meta (id, user_id, updated_at) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, updated_at = excluded.updated_at`,
      userId,
      now,
    );
    // One alarm at most CART_TTL_MS after this change is enough: alarm() re-arms it from updated_at
    // when the cart was touched since. So the alarm is written once per object instance, not on
    // every change. Storage writes are ordered and confirmed before the RPC answers (output gate),
    // so this need not be awaited.
    if (!this.alarmArmed) {
      this.alarmArmed = true;
      // Never later than a live socket's closing time, which the alarm also keeps.
      void this.ctx.storage.setAlarm(
        Math.min(now + CART_TTL_MS, this.live.nextClose() ?? Number.POSITIVE_INFINITY),
      );
    }
  }

  private items(): CartItem[] {
    return this.sql.exec<ItemRow>("SELECT * FROM cart_items ORDER BY added_at, id").toArray().map(toCartItem);
  }

  private item(itemId: string): CartItem | null {
    const row = this.sql.exec<ItemRow>("SELECT * FROM cart_items WHERE id = ?", itemId).toArray()[0];
    return row ? toCartItem(row) : null;
  }
}

import { DurableObject } from "cloudflare:workers";
import type {
  Cart,
  CartItem,
  CartOwner,
  CartRejection,
  CartResult,
  ProductSnapshot,
} from "../schemas/cart.ts";
import { MAX_CART_LINES, MAX_LINE_QUANTITY } from "../schemas/cart.ts";
import { type ItemRow, migrateCartSchema, reject, toCartItem } from "./cart-storage.ts";

/** Adds (and merges) sent with an Idempotency-Key replay their first answer this long (SPEC §4: 24 h). */
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
 * A cart in a Durable Object's SQLite storage, with the cart rules (SPEC §4): the RPC methods both
 * a user's object (CartObject) and a guest's (GuestCartObject) answer. Every method runs its
 * read-modify-write synchronously: input gates do not hold across non-storage awaits, so the worker
 * fetches product data *before* calling in, and nothing here awaits between reading and writing.
 *
 * Storage layout: see cart-storage.ts.
 */
export abstract class CartBase extends DurableObject<Env> {
  protected readonly sql: SqlStorage;
  /** The cart's id (the object's): computed once, not on every read. */
  private readonly id: string;
  /** Whether this instance has set the expiry alarm (a new instance sets it on its first change). */
  private alarmArmed = false;

  /** How long the cart may stay untouched before its alarm empties it. */
  protected abstract readonly idleTtlMs: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.id = ctx.id.toString();
    migrateCartSchema(this.sql);
  }

  getCart(owner: CartOwner, defaultCurrency: string): Cart {
    const items = this.items();
    const updatedAt = this.sql
      .exec<{ updated_at: number }>("SELECT updated_at FROM cart_meta")
      .toArray()[0]?.updated_at;
    return {
      id: this.id,
      userId: "userId" in owner ? owner.userId : null,
      guestId: "guestId" in owner ? owner.guestId : null,
      items,
      totalItems: items.reduce((sum, item) => sum + item.quantity, 0),
      totalAmount: items.reduce((sum, item) => sum + item.totalPrice, 0),
      currency: items[0]?.currency ?? defaultCurrency,
      updatedAt: new Date(updatedAt ?? Date.now()).toISOString(),
    };
  }

  /** Adds a product, or grows its line; the snapshot refreshes the line's name, price and image. */
  addItem(
    owner: CartOwner,
    product: ProductSnapshot,
    quantity: number,
    idempotency?: IdempotentAdd,
  ): CartResult<AddResult> {
    return this.ctx.storage.transactionSync(() => {
      // Checked again here: a concurrent request with the same key may have landed since findAdd.
      const earlier = idempotency && this.findAdd(idempotency);
      if (earlier) return earlier;
      const refused = this.refuseChanges();
      if (refused) return refused;
      const result = this.applyAdd(owner, product, quantity);
      if (result.ok && idempotency) this.storeReplay(idempotency, result.value);
      return result;
    });
  }

  /** The stored answer to an earlier add with this Idempotency-Key, marked replayed; a key reused for another add is refused. */
  findAdd(idempotency: IdempotentAdd): CartResult<AddResult> | null {
    const earlier = this.findReplay<AddResult>(idempotency);
    return earlier?.ok ? { ok: true, value: { ...earlier.value, replayed: true } } : earlier;
  }

  /**
   * Sets a line's quantity. Growing needs a product snapshot (stock is re-checked and the price
   * refreshed): without one, a grow changes nothing and names the product to look up, so the worker
   * calls again with it. Shrinking needs none, so it works while the product service is down, and
   * takes one call.
   */
  setQuantity(
    owner: CartOwner,
    itemId: string,
    quantity: number,
    product?: ProductSnapshot,
  ): CartResult<CartItem> | NeedsProduct {
    return this.ctx.storage.transactionSync(() => {
      const refused = this.refuseChanges();
      if (refused) return refused;
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
      this.touch(owner);
      return { ok: true, value: this.item(itemId) as CartItem };
    });
  }

  /** Removes a line and answers the cart as it now is. */
  removeItem(owner: CartOwner, itemId: string, defaultCurrency: string): CartResult<Cart> {
    return this.ctx.storage.transactionSync(() => {
      const refused = this.refuseChanges();
      if (refused) return refused;
      if (this.sql.exec("DELETE FROM cart_items WHERE id = ?", itemId).rowsWritten === 0) {
        return reject("CART_ITEM_NOT_FOUND", "The cart has no such item");
      }
      this.touch(owner);
      return { ok: true, value: this.getCart(owner, defaultCurrency) };
    });
  }

  clear(owner: CartOwner, defaultCurrency: string): CartResult<Cart> {
    return this.ctx.storage.transactionSync(() => {
      const refused = this.refuseChanges();
      if (refused) return refused;
      this.sql.exec("DELETE FROM cart_items");
      this.touch(owner);
      return { ok: true, value: this.getCart(owner, defaultCurrency) };
    });
  }

  /**
   * The one alarm serves the cart's expiry, and whatever else the object keeps time for (onAlarm,
   * nextDeadline): it empties a cart idle for idleTtlMs (a cart touched since the alarm was set gets
   * a new one), and is re-armed for whichever comes first.
   */
  override async alarm(): Promise<void> {
    // A fired alarm is gone: the next change arms one again unless this one re-arms.
    this.alarmArmed = false;
    const other = this.onAlarm();
    const meta = this.sql.exec<{ updated_at: number }>("SELECT updated_at FROM cart_meta").toArray()[0];
    const expiresAt = meta ? meta.updated_at + this.idleTtlMs : null;
    if (expiresAt === null || expiresAt > Date.now()) {
      this.alarmArmed = expiresAt !== null;
      const next = Math.min(expiresAt ?? Number.POSITIVE_INFINITY, other ?? Number.POSITIVE_INFINITY);
      if (Number.isFinite(next)) await this.ctx.storage.setAlarm(next);
      return;
    }
    if (other !== null) await this.ctx.storage.setAlarm(other);
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM cart_items");
      this.sql.exec("DELETE FROM cart_meta");
      this.sql.exec("DELETE FROM add_requests");
    });
    this.expired();
  }

  /** Called after the alarm emptied an idle cart. */
  protected expired(): void {}

  /** Called first when the alarm fires: does what was due, and answers when it is next due (or null). */
  protected onAlarm(): number | null {
    return null;
  }

  /** When the alarm must fire besides the cart's expiry (or null). */
  protected nextDeadline(): number | null {
    return null;
  }

  /** A refusal of every change to the cart's lines while the object says so; none by default. */
  protected refuseChanges(): { ok: false; code: CartRejection; message: string } | null {
    return null;
  }

  /** Reads only the line it grows and what the limits need, and writes two rows. */
  private applyAdd(owner: CartOwner, product: ProductSnapshot, quantity: number): CartResult<AddResult> {
    const existing = this.sql
      .exec<ItemRow>("SELECT * FROM cart_items WHERE product_id = ?", product.productId)
      .toArray()[0];
    const { lines, other } = this.lineCount(product.currency);
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
    const row = this.writeLine(product, newQuantity, existing);
    this.touch(owner);
    return { ok: true, value: { item: toCartItem(row), created: !existing, replayed: false } };
  }

  /**
   * How many lines the cart has, and a currency of its other than `currency` (every line of a cart
   * shares one currency, so any other currency found is the cart's).
   */
  protected lineCount(currency: string): { lines: number; other: string | null } {
    return this.sql
      .exec<{ lines: number; other: string | null }>(
        `SELECT count(*) AS lines,
                (SELECT currency FROM cart_items WHERE currency <> ? LIMIT 1) AS other
           FROM cart_items`,
        currency,
      )
      .one();
  }

  /** Writes a product's line with `quantity` units, its name, price and image from the snapshot. */
  protected writeLine(product: ProductSnapshot, quantity: number, existing: ItemRow | undefined): ItemRow {
    return this.sql
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
        quantity,
        Date.now(),
      )
      .one();
  }

  /** The stored answer to an earlier request with this Idempotency-Key, or a refusal if it was another request. */
  protected findReplay<T>(idempotency: IdempotentAdd): CartResult<T> | null {
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
    return { ok: true, value: JSON.parse(row.response) as T };
  }

  /** Keeps the answer to a request sent with an Idempotency-Key, for IDEMPOTENCY_TTL_MS. */
  protected storeReplay(idempotency: IdempotentAdd, response: unknown): void {
    const now = Date.now();
    this.sql.exec("DELETE FROM add_requests WHERE expires_at <= ?", now);
    this.sql.exec(
      "INSERT INTO add_requests (key, request_hash, response, expires_at) VALUES (?, ?, ?, ?)",
      idempotency.key,
      idempotency.requestHash,
      JSON.stringify(response),
      now + IDEMPOTENCY_TTL_MS,
    );
  }

  /** Marks the cart changed now (its idle time starts again); `owner` omitted: a guest's. */
  protected touch(owner?: CartOwner): void {
    const now = Date.now();
    this.sql.exec(
      `INSERT INTO cart_meta (id, user_id, updated_at) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, updated_at = excluded.updated_at`,
      owner && "userId" in owner ? owner.userId : 0,
      now,
    );
    // One alarm at most idleTtlMs after this change is enough: alarm() re-arms it from updated_at
    // when the cart was touched since. So the alarm is written once per object instance, not on
    // every change. Storage writes are ordered and confirmed before the RPC answers (output gate),
    // so this need not be awaited.
    if (!this.alarmArmed) {
      this.alarmArmed = true;
      void this.ctx.storage.setAlarm(
        Math.min(now + this.idleTtlMs, this.nextDeadline() ?? Number.POSITIVE_INFINITY),
      );
    }
  }

  protected items(): CartItem[] {
    return this.rows().map(toCartItem);
  }

  /** The cart's lines as stored, in the order they were added. */
  protected rows(): ItemRow[] {
    return this.sql.exec<ItemRow>("SELECT * FROM cart_items ORDER BY added_at, id").toArray();
  }

  private item(itemId: string): CartItem | null {
    const row = this.sql.exec<ItemRow>("SELECT * FROM cart_items WHERE id = ?", itemId).toArray()[0];
    return row ? toCartItem(row) : null;
  }
}

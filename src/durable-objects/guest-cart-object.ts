import { getConfig } from "../config.ts";
import { describeError, log } from "../lib/log.ts";
import type { MergeMode, ProductSnapshot } from "../schemas/cart.ts";
import { CartBase } from "./cart-base.ts";
import { type ItemRow, reject } from "./cart-storage.ts";
import { type CartTransfer, TRANSFER_GRACE_MS } from "./cart-transfer.ts";
import { userCartName } from "./names.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
/** An abandoned transfer the user's object could not be reached for is tried again this much later. */
const TRANSFER_RETRY_MS = 30_000;

/** At most one row: the guest's lines on their way into a user's cart (see cart-transfer.ts). */
const TRANSFER_SCHEMA = `
  CREATE TABLE IF NOT EXISTS cart_transfers (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    mode TEXT NOT NULL,
    lines TEXT NOT NULL,
    products TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
`;

type TransferRow = {
  id: string;
  user_id: number;
  mode: MergeMode;
  lines: string;
  products: string;
  created_at: number;
};

/**
 * A guest's cart (SPEC §4 Guests): the same cart and rules as a user's (cart-base.ts), in an object
 * of its own namespace, so that no guest id can ever name a user's object. It expires after
 * GUEST_TTL_DAYS idle, and hands its lines over to a user's cart at sign-in (cart-transfer.ts).
 */
export class GuestCartObject extends CartBase {
  protected readonly idleTtlMs: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.idleTtlMs = getConfig(env).GUEST_TTL_DAYS * DAY_MS;
    this.sql.exec(TRANSFER_SCHEMA);
  }

  /**
   * Takes the cart's lines out into a transfer to `userId`'s cart, in one transaction, if every
   * line's product is in `products` (fresh reads by the worker); otherwise changes nothing and names
   * the products still to read. A transfer already under way is answered as it is to the user it
   * goes to (a retried merge finishes it), and as nothing to anyone else: of two users merging one
   * guest cart at once, exactly one gets its lines.
   */
  beginTransfer(
    transferId: string,
    userId: number,
    mode: MergeMode,
    products: Record<string, ProductSnapshot | null>,
  ): { missing: string[] } | { transfer: CartTransfer | null } | { busy: MergeMode } {
    return this.ctx.storage.transactionSync(() => {
      const pending = this.pendingTransfer();
      if (pending && pending.userId !== userId) return { transfer: null };
      // The same user's retry finishes it; asked in the other mode, it would do what was not asked.
      if (pending) return pending.mode === mode ? { transfer: pending } : { busy: pending.mode };
      const lines = this.rows();
      if (lines.length === 0) return { transfer: null };
      const missing = lines.map((line) => line.product_id).filter((id) => !(id in products));
      if (missing.length > 0) return { missing };

      const transfer: CartTransfer = {
        id: transferId,
        userId,
        mode,
        lines,
        products: Object.fromEntries(
          lines.map((line) => [line.product_id, products[line.product_id] ?? null]),
        ),
        createdAt: Date.now(),
      };
      this.sql.exec(
        "INSERT INTO cart_transfers (id, user_id, mode, lines, products, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        transfer.id,
        userId,
        mode,
        JSON.stringify(lines),
        JSON.stringify(transfer.products),
        transfer.createdAt,
      );
      this.sql.exec("DELETE FROM cart_items");
      // Should the worker die before finishing it, the alarm does.
      void this.ctx.storage.setAlarm(transfer.createdAt + TRANSFER_GRACE_MS);
      return { transfer };
    });
  }

  /** The user's object applied the transfer: its lines are there now. */
  completeTransfer(transferId: string): void {
    this.sql.exec("DELETE FROM cart_transfers WHERE id = ?", transferId);
  }

  /**
   * The user's object refused the transfer: its lines come back as they were (the cart took no
   * change while they were away: refuseChanges), and its idle time starts again.
   */
  abortTransfer(transferId: string): void {
    this.ctx.storage.transactionSync(() => {
      const row = this.sql
        .exec<{ lines: string }>("DELETE FROM cart_transfers WHERE id = ? RETURNING lines", transferId)
        .toArray()[0];
      if (!row) return;
      for (const line of JSON.parse(row.lines) as ItemRow[]) {
        this.sql.exec(
          `INSERT INTO cart_items (id, product_id, product_name, price, currency, image, quantity, added_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (product_id) DO NOTHING`,
          line.id,
          line.product_id,
          line.product_name,
          line.price,
          line.currency,
          line.image,
          line.quantity,
          line.added_at,
        );
      }
      this.touch();
    });
  }

  /**
   * While a transfer is under way the cart takes no change: whatever it is decided, its lines come
   * back to a cart exactly as they left it (within its limits and its one currency), and no add
   * moves the alarm that finishes an abandoned transfer.
   */
  protected override refuseChanges() {
    if (this.sql.exec("SELECT 1 FROM cart_transfers LIMIT 1").toArray().length === 0) return null;
    return reject(
      "MERGE_IN_PROGRESS",
      "This guest cart is being merged into a user's cart; retry in a moment",
    );
  }

  /** Expires an idle cart, then finishes a transfer its request abandoned. */
  override async alarm(): Promise<void> {
    await super.alarm();
    const pending = this.pendingTransfer();
    if (!pending) return;
    const dueAt = pending.createdAt + TRANSFER_GRACE_MS;
    if (dueAt > Date.now()) {
      await this.ctx.storage.setAlarm(dueAt);
      return;
    }
    try {
      const { DEFAULT_CURRENCY } = getConfig(this.env);
      const { transfer } = await this.env.CART.getByName(userCartName(pending.userId)).applyTransfer(
        pending.userId,
        pending,
        DEFAULT_CURRENCY,
      );
      if (transfer === "applied") this.completeTransfer(pending.id);
      else this.abortTransfer(pending.id);
      log("info", "finished an abandoned cart transfer", { transferId: pending.id, outcome: transfer });
    } catch (error) {
      log("warn", "could not finish an abandoned cart transfer yet", {
        transferId: pending.id,
        ...describeError(error),
      });
      await this.ctx.storage.setAlarm(Date.now() + TRANSFER_RETRY_MS);
    }
  }

  private pendingTransfer(): CartTransfer | null {
    const row = this.sql.exec<TransferRow>("SELECT * FROM cart_transfers LIMIT 1").toArray()[0];
    if (!row) return null;
    return {
      id: row.id,
      userId: row.user_id,
      mode: row.mode,
      lines: JSON.parse(row.lines) as ItemRow[],
      products: JSON.parse(row.products) as CartTransfer["products"],
      createdAt: row.created_at,
    };
  }
}

import { log } from "../lib/log.ts";
import type { CartItem, CartResult, MergeResult } from "../schemas/cart.ts";
import type { LiveEvent } from "../schemas/live.ts";
import { CartBase, type IdempotentAdd } from "./cart-base.ts";
import { reject } from "./cart-storage.ts";
import { type CartTransfer, planMerge, type TransferDecision } from "./cart-transfer.ts";
import {
  type CheckoutBegun,
  type CheckoutKey,
  CheckoutLock,
  type UnsettledCheckout,
} from "./checkout-lock.ts";
import { LiveChannel } from "./live-channel.ts";

export type { AddResult, IdempotentAdd, NeedsProduct } from "./cart-base.ts";

/** Carts nobody touched for this long are emptied by the object's alarm (SPEC §4). */
export const CART_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/** A transfer's decision is kept this long: far beyond the time any transfer can stay unfinished. */
const DECISION_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * The decisions on guest carts' transfers into this cart (see cart-transfer.ts): one row per
 * transfer, `decision` the TransferDecision as JSON.
 */
const TRANSFER_DECISIONS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS transfer_decisions (
    transfer_id TEXT PRIMARY KEY,
    decision TEXT NOT NULL,
    decided_at INTEGER NOT NULL
  );
`;

/** What applyTransfer answers: the merge's answer or refusal, and what became of the transfer. */
export interface TransferAnswer {
  result: CartResult<MergeResult & { replayed: boolean }>;
  /** applied: the guest object drops the transfer; refused: it puts the lines back; none: there was none. */
  transfer: "applied" | "refused" | "none";
}

/**
 * One user's object: their cart (cart-base.ts), its checkout lock (checkout-lock.ts), their live
 * order-status sockets (live-channel.ts), and the guest carts merged into it (cart-transfer.ts).
 */
export class CartObject extends CartBase {
  protected readonly idleTtlMs = CART_TTL_MS;
  private readonly live: LiveChannel;
  private readonly checkouts: CheckoutLock;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql.exec(TRANSFER_DECISIONS_SCHEMA);
    this.live = new LiveChannel(ctx);
    this.checkouts = new CheckoutLock(ctx.storage, {
      items: () => this.items(),
      touch: (userId) => this.touch({ userId }),
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

  /** Starts a checkout of the order `orderId` (see CheckoutLock.begin). */
  beginCheckout(lockMs: number, orderId: string, key: CheckoutKey | null = null): CheckoutBegun {
    return this.checkouts.begin(lockMs, orderId, key);
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
    atLimit = false,
  ): void {
    this.checkouts.finish(userId, token, ordered, unsettled, atLimit);
  }

  /** The stored answer to an earlier merge with this Idempotency-Key, marked replayed (see findAdd). */
  findMerge(idempotency: IdempotentAdd): CartResult<MergeResult & { replayed: boolean }> | null {
    const earlier = this.findReplay<MergeResult>(idempotency);
    return earlier?.ok ? { ok: true, value: { ...earlier.value, replayed: true } } : earlier;
  }

  /**
   * Merges a guest cart's transfer into this cart (see cart-transfer.ts), or, with none (an empty
   * guest cart), answers the cart as it is. The transfer is decided once: a transfer seen again (a
   * retried merge, the guest object's alarm) gets the same decision, applied nothing twice. It is
   * refused while a checkout holds the cart, or when the Idempotency-Key was used for another
   * request; refused, its lines go back to the guest.
   */
  applyTransfer(
    userId: number,
    transfer: CartTransfer | null,
    defaultCurrency: string,
    idempotency?: IdempotentAdd,
  ): TransferAnswer {
    return this.ctx.storage.transactionSync(() => {
      const decision = transfer && (this.decision(transfer.id) ?? this.decide(userId, transfer, idempotency));
      const outcome = !transfer ? "none" : decision?.applied ? "applied" : "refused";
      if (decision && !decision.applied) {
        return { result: reject(decision.code, decision.message), transfer: outcome };
      }
      const earlier = idempotency && this.findReplay<MergeResult>(idempotency);
      if (earlier) {
        return {
          result: earlier.ok ? { ok: true, value: { ...earlier.value, replayed: true } } : earlier,
          transfer: outcome,
        };
      }
      const answer = {
        cart: this.getCart({ userId }, defaultCurrency),
        adjustments: decision?.adjustments ?? [],
      };
      if (idempotency) this.storeReplay(idempotency, answer);
      return { result: { ok: true, value: { ...answer, replayed: false } }, transfer: outcome };
    });
  }

  private decision(transferId: string): TransferDecision | null {
    const row = this.sql
      .exec<{ decision: string }>("SELECT decision FROM transfer_decisions WHERE transfer_id = ?", transferId)
      .toArray()[0];
    return row ? (JSON.parse(row.decision) as TransferDecision) : null;
  }

  private decide(userId: number, transfer: CartTransfer, idempotency?: IdempotentAdd): TransferDecision {
    let decision: TransferDecision;
    const earlier = idempotency && this.findReplay(idempotency);
    if (earlier && !earlier.ok) {
      decision = { applied: false, code: "IDEMPOTENCY_KEY_REUSED", message: earlier.message };
    } else if (this.checkouts.inProgress()) {
      decision = {
        applied: false,
        code: "CHECKOUT_IN_PROGRESS",
        message: "A checkout of this cart is in progress; the guest's cart was left as it was",
      };
    } else {
      const plan = planMerge(this.rows(), transfer);
      if (plan.replace) this.sql.exec("DELETE FROM cart_items");
      for (const { product, quantity, existing } of plan.writes) this.writeLine(product, quantity, existing);
      this.touch({ userId });
      decision = { applied: true, adjustments: plan.adjustments };
    }
    const now = Date.now();
    this.sql.exec("DELETE FROM transfer_decisions WHERE decided_at <= ?", now - DECISION_TTL_MS);
    this.sql.exec(
      "INSERT INTO transfer_decisions (transfer_id, decision, decided_at) VALUES (?, ?, ?)",
      transfer.id,
      JSON.stringify(decision),
      now,
    );
    return decision;
  }

  /** The one alarm also closes live sockets whose time has come (see CartBase.alarm). */
  protected override onAlarm(): number | null {
    return this.live.closeDue();
  }

  protected override nextDeadline(): number | null {
    return this.live.nextClose();
  }

  /** Unsettled checkouts stay: the stock they may hold is settled by the user's next checkout (an
   * empty cart still settles them), and until then an operator has the trail below. */
  protected override expired(): void {
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
}

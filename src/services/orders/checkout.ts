import { Database, type Tx } from "../../db/client.ts";
import {
  abandonCheckout,
  beginOrderPlacement,
  countPendingOrders,
  findOrder,
  findOrderWithItems,
  insertOrder,
  itemsOf,
  latestPayment,
  lockPlacements,
  type PaymentRow,
  transactionStatus,
} from "../../db/queries.ts";
import { ApiError } from "../../lib/errors.ts";
import { uuidv7 } from "../../lib/ids.ts";
import { describeError, log } from "../../lib/log.ts";
import type { OrderEvent } from "../../queues/messages.ts";
import type { CartItem } from "../../schemas/cart.ts";
import type { CreateOrderBody, Order } from "../../schemas/order.ts";
import type { Product } from "../../schemas/product.ts";
import { cartStub } from "../cart.ts";
import type { CompleteKey } from "../idempotency.ts";
import { releaseAll, reserveAll } from "../stock.ts";
import type { OrderDeps } from "./deps.ts";
import { recordChange } from "./events.ts";
import { instrumentOf, startPayment, submitToGateway } from "./payments.ts";
import { toOrder } from "./view.ts";

/**
 * A checkout gives up (releasing what it reserved) once it has run this long, so that it always
 * ends before the cart's checkout lock, which lapses in case the worker dies mid-checkout.
 * Outbound calls are capped at 3 s each, and a 50-line cart is reserved one line at a time.
 */
const CHECKOUT_DEADLINE_MS = 4 * 60_000;
const CHECKOUT_LOCK_MS = 5 * 60_000;
const DELIVERY_DAYS = 7;
const DAY_MS = 24 * 60 * 60 * 1000;

interface PricedLine {
  productId: string;
  productName: string;
  price: number;
  quantity: number;
  totalPrice: number;
  image: string | null;
}

/** Re-reads every product (fresh, never cached) and prices the cart from what it says now. */
async function priceCart(
  deps: OrderDeps,
  items: CartItem[],
): Promise<{ lines: PricedLine[]; currency: string }> {
  const products = await Promise.all(
    items.map((item) =>
      deps.products.get(item.productId).catch((error: unknown) => {
        if (error instanceof ApiError && error.code === "PRODUCT_NOT_FOUND") {
          throw new ApiError("PRODUCT_UNAVAILABLE", `${item.productName} is no longer sold`);
        }
        throw error;
      }),
    ),
  );
  const currencies = new Set(products.map((product) => product.currency));
  if (currencies.size > 1)
    throw new ApiError("CURRENCY_MISMATCH", "The cart's products are priced in several currencies");
  const lines = items.map((item, index) => {
    const product = products[index] as Product;
    if (!product.isActive) throw new ApiError("PRODUCT_UNAVAILABLE", `${product.name} is not available`);
    if (product.stock < item.quantity) {
      throw new ApiError(
        "INSUFFICIENT_STOCK",
        `Only ${Math.max(product.stock, 0)} units of ${product.name} are in stock`,
      );
    }
    return {
      productId: product.id,
      productName: product.name,
      price: product.price,
      quantity: item.quantity,
      totalPrice: product.price * item.quantity,
      image: product.image,
    };
  });
  return { lines, currency: products[0]?.currency ?? deps.config.DEFAULT_CURRENCY };
}

/**
 * Places an order from the user's cart (SPEC §4): lock the cart against a concurrent checkout,
 * re-price it, reserve stock (all lines or none), then write the order, its items, history,
 * payment attempt, outbox event and idempotency record in one transaction. Any failure after
 * the reservation gives the stock back; the cart is only emptied of what was ordered, after commit.
 */
export async function checkout(
  deps: OrderDeps,
  userId: number,
  body: CreateOrderBody,
  completeKey: CompleteKey,
): Promise<Order> {
  const started = Date.now();
  const cart = cartStub(deps.env, userId);
  const orderId = uuidv7();
  const lock = await cart.beginCheckout(CHECKOUT_LOCK_MS, orderId);
  if (!lock.ok) throw new ApiError(lock.code, lock.message);

  let ordered: PricedLine[] | null = null;
  let unsettled: string | undefined;
  try {
    const items = lock.value.unsettled.length
      ? await settleLapsedCheckouts(deps, cart, {
          userId,
          token: lock.value.token,
          orderIds: lock.value.unsettled,
        })
      : lock.value.items;
    if (items.length === 0)
      throw new ApiError("EMPTY_CART", "The cart is empty: its lines were already ordered");
    const { lines, currency } = await priceCart(deps, items);
    // Checked before touching stock (and so also reaching the database: with it down, fail now with
    // nothing reserved), and again, under a lock, in the order's transaction.
    checkOpenOrders(await deps.database.read((db) => countPendingOrders(db, userId)), deps);
    const owed = { database: deps.database, orderId };
    const reserved = await reserveAll(deps.products, lines, owed);
    if (Date.now() - started > CHECKOUT_DEADLINE_MS) {
      await releaseAll(deps.products, reserved, owed);
      throw new ApiError("UPSTREAM_UNAVAILABLE", "The product service is too slow to place this order now");
    }

    let placed: { order: Order; payment: PaymentRow; event: OrderEvent | null };
    const attempt: Attempt = { txid: null };
    try {
      placed = await deps.database.transaction((tx) =>
        writeOrder(tx, deps, { orderId, userId, body, lines, currency, completeKey, attempt }),
      );
    } catch (error) {
      // A connection lost around COMMIT leaves the outcome unknown. If the order did land, its stock
      // stays reserved and its lines leave the cart (a retry with the Idempotency-Key replays it).
      // If the database cannot say yet, the stock stays reserved too: a leak, never an oversell.
      const outcome = await commitOutcome(deps, attempt, error);
      if (outcome === "aborted") await releaseAll(deps.products, reserved, owed);
      if (outcome === "unknown") {
        log("error", "checkout outcome unknown; stock left reserved", { orderId, lines: reserved });
        // The next checkout of this cart looks the order up first, and settles the cart if it landed.
        unsettled = orderId;
      }
      if (outcome !== "committed") throw error;
      // Placed after all: answer it (its event is relayed by the sweep; a failed read-back still
      // leaves the order standing, its lines out of the cart).
      ordered = lines;
      placed = await readPlacedOrder(deps, orderId).catch(() => {
        throw error;
      });
    }
    ordered = lines;
    if (placed.event) deps.events.publish([placed.event]);
    await submitToGateway(deps.env, placed.payment, deps.config.PAYMENT_SETTLE_DELAY_MS).catch(
      (error: unknown) =>
        // The attempt is pending in the database: the scheduled sweep re-submits it.
        log("warn", "payment submission deferred", { orderId: placed.order.id, ...describeError(error) }),
    );
    return placed.order;
  } finally {
    await finishCheckout(cart, userId, lock.value.token, ordered, unsettled);
  }
}

/** An order whose transaction committed though its answer was lost, read back as the checkout answers it. */
async function readPlacedOrder(deps: OrderDeps, orderId: string) {
  const [order, payment] = await Promise.all([
    deps.database.once((db) => findOrderWithItems(db, orderId)),
    deps.database.read((db) => latestPayment(db, orderId)),
  ]);
  if (!order || !payment) throw new Error(`order ${orderId} committed but cannot be read back`);
  return { order: toOrder(order, order.items), payment, event: null };
}

/** The transaction id of the order's latest write attempt, once its first statement answered. */
interface Attempt {
  txid: string | null;
}

/**
 * Whether a failed order transaction committed after all. Our own refusals, thrown inside it, and a
 * failure before its first statement answered, never sent a COMMIT. Otherwise a new session asks
 * Postgres for the transaction's status: `in progress` (the COMMIT may still land) or no answer is
 * unknown, never "not placed", which would release the stock of an order that then lands.
 */
async function commitOutcome(
  deps: OrderDeps,
  attempt: Attempt,
  error: unknown,
): Promise<"committed" | "aborted" | "unknown"> {
  if (error instanceof ApiError && error.code !== "DATABASE_UNAVAILABLE") return "aborted";
  const txid = attempt.txid;
  if (!txid) return "aborted";
  const session = new Database(deps.config);
  try {
    const status = await session.read((db) => transactionStatus(db, txid));
    return status === "committed" ? "committed" : status === "aborted" ? "aborted" : "unknown";
  } catch {
    return "unknown";
  } finally {
    await session.close();
  }
}

/** SPEC §4: a user holds at most MAX_OPEN_ORDERS_PER_USER pending orders, so no account can pin stock. */
function checkOpenOrders(pending: number, deps: OrderDeps): void {
  const max = deps.config.MAX_OPEN_ORDERS_PER_USER;
  if (pending >= max) {
    throw new ApiError(
      "TOO_MANY_OPEN_ORDERS",
      `You already have ${max} orders awaiting payment or confirmation; pay for or cancel one first`,
    );
  }
}

/** The order, its items, first history entry, payment attempt, outbox event and idempotency record. */
async function writeOrder(
  tx: Tx,
  deps: OrderDeps,
  input: {
    orderId: string;
    userId: number;
    body: CreateOrderBody;
    lines: PricedLine[];
    currency: string;
    completeKey: CompleteKey;
    attempt: Attempt;
  },
): Promise<{ order: Order; payment: PaymentRow; event: OrderEvent }> {
  const { orderId, userId, body, lines, currency, attempt } = input;
  attempt.txid = null;
  const placement = await beginOrderPlacement(tx, userId, orderId);
  attempt.txid = placement.txid;
  if (placement.abandoned) {
    throw new ApiError(
      "CHECKOUT_IN_PROGRESS",
      "This checkout took too long and a newer one of the cart took over",
    );
  }
  checkOpenOrders(placement.pending, deps);
  const instrument = instrumentOf(body);
  // Millisecond timestamps from here, not now() with microseconds, so the keyset cursor round-trips.
  const now = new Date();
  const items = lines.map((line) => ({ ...line, orderId }));
  const row = await insertOrder(
    tx,
    {
      id: orderId,
      userId,
      status: "pending",
      paymentStatus: "pending",
      paymentMethod: instrument.method,
      totalAmount: lines.reduce((sum, line) => sum + line.totalPrice, 0),
      currency,
      shippingAddress: body.shippingAddress,
      estimatedDelivery: new Date(now.getTime() + DELIVERY_DAYS * DAY_MS),
      // Cash on delivery is paid on delivery, so it is never cancelled for want of payment.
      paymentDueAt:
        instrument.method === "cash_on_delivery"
          ? null
          : new Date(now.getTime() + deps.config.PAYMENT_TIMEOUT_MINUTES * 60_000),
      createdAt: now,
      updatedAt: now,
    },
    items,
  );
  const payment = await startPayment(tx, row, instrument, 1);
  const event = await recordChange(tx, row, {
    from: null,
    actor: { id: userId, role: "USER" },
    notify: "order_confirmation",
  });
  const order = toOrder(row, items);
  await input.completeKey(tx, 201, order);
  return { order, payment, event };
}

/**
 * A checkout whose worker died, or could not take the ordered lines out of the cart, left its lock
 * to lapse: its order may stand while the cart still holds what it ordered. Before ordering again,
 * look each such order up and take the lines of those that were placed out of the cart, so a cart
 * is never ordered twice. Answers the cart's lines as they then are.
 */
async function settleLapsedCheckouts(
  deps: OrderDeps,
  cart: ReturnType<typeof cartStub>,
  lapsed: { userId: number; token: string; orderIds: string[] },
): Promise<CartItem[]> {
  // Under the user's placement lock: a placement of one of these orders still running (its COMMIT
  // in flight, say) finishes first, and one that has not begun yet will find its order abandoned.
  const settled = await deps.database.transaction(async (tx) => {
    await lockPlacements(tx, lapsed.userId);
    const outcomes = [];
    for (const orderId of lapsed.orderIds) {
      const order = await findOrder(tx, orderId);
      if (order?.userId === lapsed.userId) {
        log("warn", "settled a lapsed checkout whose order was placed", { orderId, userId: lapsed.userId });
        const lines = await itemsOf(tx, [orderId]);
        outcomes.push({ orderId, lines: lines.map(({ productId, quantity }) => ({ productId, quantity })) });
      } else {
        await abandonCheckout(tx, orderId);
        outcomes.push({ orderId, lines: null });
      }
    }
    return outcomes;
  });
  const items = await cart.settleCheckouts(lapsed.userId, lapsed.token, settled);
  if (!items) throw new ApiError("CHECKOUT_IN_PROGRESS", "A checkout of this cart is already in progress");
  return items;
}

/**
 * Unlocks the cart and, after an order, removes what was ordered. Retried: a cart left full after
 * its order lands could be ordered twice once the lock lapses.
 */
async function finishCheckout(
  cart: ReturnType<typeof cartStub>,
  userId: number,
  token: string,
  ordered: PricedLine[] | null,
  unsettledOrderId?: string,
): Promise<void> {
  const lines = ordered?.map(({ productId, quantity }) => ({ productId, quantity })) ?? null;
  for (let attempt = 1; ; attempt++) {
    try {
      await cart.finishCheckout(userId, token, lines, unsettledOrderId);
      return;
    } catch (error) {
      if (attempt === 3) {
        log("error", "could not finish the cart's checkout", {
          userId,
          ordered: Boolean(ordered),
          ...describeError(error),
        });
        return;
      }
    }
  }
}

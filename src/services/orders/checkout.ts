import type { Config } from "../../config.ts";
import {
  countPendingOrders,
  findOrderWithItems,
  latestPayment,
  type OrderRow,
  type PaymentRow,
  type Placement,
  placeOrder,
  settlePlacements,
  type UnknownPlacement,
} from "../../db/queries.ts";
import type { CheckoutStart } from "../../durable-objects/checkout-lock.ts";
import { Slots, WORKER_CONNECTIONS } from "../../lib/concurrency.ts";
import { ApiError } from "../../lib/errors.ts";
import { uuidv7 } from "../../lib/ids.ts";
import { describeError, log } from "../../lib/log.ts";
import { type OrderEvent, toOrderEvent } from "../../queues/messages.ts";
import type { CartItem } from "../../schemas/cart.ts";
import type { CreateOrderBody, Order } from "../../schemas/order.ts";
import type { Product } from "../../schemas/product.ts";
import { cartStub } from "../cart.ts";
import type { CompleteKey } from "../idempotency.ts";
import {
  applyStockReleases,
  type OwedStock,
  releaseAll,
  reserveAll,
  reserveAlongside,
  type StockLine,
} from "../stock.ts";
import { paymentDueAt } from "./deadlines.ts";
import type { OrderDeps } from "./deps.ts";
import { changeRecords } from "./events.ts";
import { instrumentOf, newPayment, submitToGateway } from "./payments.ts";
import { toOrder } from "./view.ts";

/**
 * A checkout must be over before its cart's lock lapses (the lock lapses in case the worker dies
 * mid-checkout; a newer checkout then takes over and settles this one's order, which must not still
 * be running). Measured from the checkout's start:
 * - SETTLE_BY_MS: the last moment to settle a placement whose answer was lost; each settlement is cut
 *   short at it (the placement is then left unsettled, for the next checkout). What follows it,
 *   giving back a reservation (a 50-line cart, four lines at a time, 3 s a call: 39 s) and unlocking
 *   the cart, fits in the minute left.
 * - CHECKOUT_DEADLINE_MS: the last moment to send the placing batch, checked right before it (and
 *   after the reservation, which the product service may have made slow): leaves the batch (10 s a
 *   send, sent twice after a conflict) and a first settlement of the same length before SETTLE_BY_MS.
 */
const CHECKOUT_LOCK_MS = 5 * 60_000;
const SETTLE_BY_MS = CHECKOUT_LOCK_MS - 60_000;
const CHECKOUT_DEADLINE_MS = SETTLE_BY_MS - 40_000;
const DELIVERY_DAYS = 7;
/** A checkout reserves before asking the database only if the isolate heard it answer this recently. */
const DATABASE_ANSWERED_WITHIN_MS = 30_000;
/** The fields of a new order's answer that its placing batch writes with its own time (queries/clock.ts). */
const PLACEMENT_STAMPS = ["createdAt", "updatedAt"] as const;
const DAY_MS = 24 * 60 * 60 * 1000;

interface PricedLine {
  productId: string;
  productName: string;
  price: number;
  quantity: number;
  totalPrice: number;
  image: string | null;
}

interface Priced {
  lines: PricedLine[];
  currency: string;
}

/**
 * Re-reads every product (fresh, never cached) and prices the cart from what it says now. With
 * `checkStock`, a line the product's stock cannot cover is refused before anything is reserved (the
 * reservation is the check that counts, since the stock can change in between); without, as when
 * the reservations run alongside (and the read may see the stock after this checkout's own), the
 * reservation is the only check.
 */
async function priceCart(
  deps: OrderDeps,
  items: CartItem[],
  slots: Slots,
  { checkStock }: { checkStock: boolean },
): Promise<Priced> {
  const products = await Promise.all(
    items.map((item) =>
      slots.run(() =>
        deps.products.get(item.productId).catch((error: unknown) => {
          if (error instanceof ApiError && error.code === "PRODUCT_NOT_FOUND") {
            throw new ApiError("PRODUCT_UNAVAILABLE", `${item.productName} is no longer sold`);
          }
          throw error;
        }),
      ),
    ),
  );
  const currencies = new Set(products.map((product) => product.currency));
  if (currencies.size > 1)
    throw new ApiError("CURRENCY_MISMATCH", "The cart's products are priced in several currencies");
  const lines = items.map((item, index) => {
    const product = products[index] as Product;
    if (!product.isActive) throw new ApiError("PRODUCT_UNAVAILABLE", `${product.name} is not available`);
    if (checkStock && product.stock < item.quantity) {
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
 * What a checkout that asks first must know before it touches stock, asked at once: the
 * Idempotency-Key's claim (made here), the user's open orders and each product as it is now. One
 * round trip to the origins where asking in turn took two (three calls and more for a 4-line cart,
 * within a request's six connections: see Slots). None of them changes anything, so the first
 * refusal is answered at once (a replay, a key reused, the open-order limit, a product gone, the
 * database down), the reads still in flight left to finish, and the cart is unlocked without waiting
 * for them. Nothing is reserved before all three have answered.
 */
async function prepareOrder(
  deps: OrderDeps,
  input: { userId: number; items: CartItem[]; completeKey: CompleteKey },
): Promise<Priced> {
  const { userId, items, completeKey } = input;
  const slots = new Slots();
  const claimed = slots.run(() => completeKey.held());
  const priced = priceCart(deps, items, slots, { checkStock: true });
  const counted = slots.run(async () =>
    checkOpenOrders(await deps.database.once((db) => countPendingOrders(db, userId)), deps),
  );
  // Only the first refusal is answered; the others are moot.
  for (const answer of [claimed, priced, counted]) answer.catch(() => {});
  const [, pricing] = await Promise.all([claimed, priced, counted]);
  return pricing;
}

/**
 * Whether this checkout may reserve its stock while it reads its products, asking the database
 * nothing before the placing batch (two round trips to the origins where asking first takes three).
 * The batch then claims the Idempotency-Key and checks the open orders itself; a checkout it refuses
 * has reserved first, and gives the stock back at once. So only when nothing known says the batch
 * may refuse or fail:
 * - the key, if any, is new to the cart (not a retry or a replay, whose answer may be stored);
 * - no checkout of the cart was refused for the user's open orders since its last order;
 * - the isolate's last word from the database, in the last 30 s, was an answer: after a failure the
 *   batch's own would leave the stock in doubt (reserved, with the cart, until its next checkout);
 * - no lapsed checkout is to be settled first (which asks the database anyway);
 * - the reads and the reservations fit in the invocation's connections at once (three lines).
 */
function reservesFirst(deps: OrderDeps, start: CheckoutStart): boolean {
  return (
    !start.keySeen &&
    !start.refusedAtLimit &&
    start.unsettled.length === 0 &&
    start.items.length * 2 <= WORKER_CONNECTIONS &&
    deps.database.answeredLately(DATABASE_ANSWERED_WITHIN_MS)
  );
}

/** Prices the cart and reserves its stock, all lines or none: at once, or once the checkout was asked. */
async function priceAndReserve(
  deps: OrderDeps,
  input: { userId: number; items: CartItem[]; completeKey: CompleteKey; reserveFirst: boolean },
  owed: OwedStock,
): Promise<Priced & { reserved: StockLine[] }> {
  const { items, reserveFirst } = input;
  if (reserveFirst) {
    const slots = new Slots();
    const priced = priceCart(deps, items, slots, { checkStock: false });
    const lines = items.map(({ productId, quantity }) => ({ productId, quantity }));
    const { value, reserved } = await reserveAlongside(deps.products, lines, owed, slots, priced);
    return { ...value, reserved };
  }
  const priced = await prepareOrder(deps, input);
  return { ...priced, reserved: await reserveAll(deps.products, priced.lines, owed) };
}

/**
 * Places an order from the user's cart (SPEC §4): lock the cart against a concurrent checkout,
 * re-price it, reserve stock (all lines or none), then write the order, its items, history,
 * payment attempt, outbox event and idempotency record in one batched transaction over HTTP (one
 * request, no connection of our own). Any failure after the reservation gives the stock back; the
 * cart is only emptied of what was ordered, after commit.
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
  const lock = await cart.beginCheckout(CHECKOUT_LOCK_MS, orderId, completeKey.key);
  if (!lock.ok) {
    // The twin of a checkout in progress (same key): retried, it replays that one's answer. Its
    // key is not claimed here (nor with another body, a reuse): that checkout may claim it yet.
    if (lock.code === "IDEMPOTENCY_KEY_IN_FLIGHT")
      throw new ApiError(lock.code, lock.message, undefined, { "Retry-After": "1" });
    // A key this cart has seen may have an answer to replay (its order emptied the cart): that
    // answer, if any, is the request's (the claim's refusal), else the cart's.
    if (lock.keySeen && lock.code !== "IDEMPOTENCY_KEY_REUSED") await completeKey.held();
    throw new ApiError(lock.code, lock.message);
  }

  const reserveFirst = reservesFirst(deps, lock.value);
  // Asking first, the key is claimed at once: a retry's answer may be stored already (a replay), and
  // is its answer even when settling a lapsed checkout leaves the cart empty.
  if (!reserveFirst) completeKey.held().catch(() => {});
  let ordered: PricedLine[] | null = null;
  let unsettled: UnknownPlacement | undefined;
  let atLimit = false;
  try {
    const items = lock.value.unsettled.length
      ? await settleLapsedCheckouts(deps, cart, {
          userId,
          token: lock.value.token,
          placements: lock.value.unsettled,
        })
      : lock.value.items;
    if (items.length === 0)
      throw new ApiError("EMPTY_CART", "The cart is empty: its lines were already ordered");
    const owed = { database: deps.database, orderId };
    const { lines, currency, reserved } = await priceAndReserve(
      deps,
      { userId, items, completeKey, reserveFirst },
      owed,
    );
    const placement = newPlacement(deps.config, { orderId, userId, body, lines, currency });
    const order = toOrder(placement.order, placement.items);
    if (Date.now() - started > CHECKOUT_DEADLINE_MS) {
      await releaseAll(deps.products, reserved, owed);
      throw new ApiError("UPSTREAM_UNAVAILABLE", "The product service is too slow to place this order now");
    }
    let placed: { payment: PaymentRow | undefined; event: OrderEvent | null; order: Order };
    try {
      const written = await deps.database.batch((db) =>
        placeOrder(db, { ...placement, also: completeKey.inBatch(db, 201, order, PLACEMENT_STAMPS) }),
      );
      const at = written.placedAt.toISOString();
      placed = {
        payment: written.payment,
        event: toOrderEvent(written.event),
        order: { ...order, createdAt: at, updatedAt: at },
      };
    } catch (error) {
      // With the answer lost (a dropped request, a timeout), the batch may have committed, or may
      // still: settle it. If it did land, its stock stays reserved and its lines leave the cart (a
      // retry with the Idempotency-Key replays it). If even that cannot be told, the stock stays
      // reserved, recorded with the cart for its next checkout to settle: never an oversell.
      const outcome = await placementOutcome(
        deps,
        userId,
        { orderId, reserved },
        error,
        started + SETTLE_BY_MS,
      );
      if (outcome === "not placed") await releaseAll(deps.products, reserved, owed);
      if (outcome === "unknown") {
        log("error", "checkout outcome unknown; stock left reserved", { orderId, lines: reserved });
        // The next checkout of this cart settles the order first: the cart if it landed, the stock if not.
        unsettled = {
          orderId,
          reserved: reserved.map(({ productId, quantity }) => ({ productId, quantity })),
        };
      }
      if (outcome !== "placed") throw error;
      // Placed after all: answer it. The sweep relays its event; its payment attempt is read back
      // for the gateway (or, failing that, re-submitted by the sweep).
      ordered = lines;
      const [payment, stored] = await Promise.all([
        deps.database.once((db) => latestPayment(db, orderId)).catch(() => undefined),
        deps.database.once((db) => findOrderWithItems(db, orderId)).catch(() => undefined),
      ]);
      // Its times are the batch's: read back (the worker's own only if even that read fails).
      placed = { payment, event: null, order: stored ? toOrder(stored, stored.items) : order };
    }
    ordered = lines;
    if (placed.event) deps.events.publish([placed.event]);
    if (placed.payment) {
      await submitToGateway(deps.env, placed.payment, deps.config.PAYMENT_SETTLE_DELAY_MS).catch(
        (error: unknown) =>
          // The attempt is pending in the database: the scheduled sweep re-submits it.
          log("warn", "payment submission deferred", { orderId, ...describeError(error) }),
      );
    }
    return placed.order;
  } catch (error) {
    atLimit = error instanceof ApiError && error.code === "TOO_MANY_OPEN_ORDERS";
    throw error;
  } finally {
    await finishCheckout(cart, userId, lock.value.token, { ordered, unsettled, atLimit });
  }
}

/**
 * Whether an order whose batch failed was placed after all. Our own refusals, answered by the
 * database, rolled it back. Any other failure may have lost the answer of a batch that committed, or
 * that is still on its way: settling the order (`settlePlacements`) waits for a placement in flight,
 * and fences off one that has not begun, so that "not placed" stays true. Unknown when the database
 * cannot be asked, or not before `settleBy` (epoch ms), after which the cart's lock may lapse.
 */
async function placementOutcome(
  deps: OrderDeps,
  userId: number,
  placement: UnknownPlacement,
  error: unknown,
  settleBy: number,
): Promise<"placed" | "not placed" | "unknown"> {
  if (error instanceof ApiError && error.code !== "DATABASE_UNAVAILABLE") return "not placed";
  const { orderId } = placement;
  // Tried twice: what lost the placement's answer may lose the settlement's too.
  for (let attempt = 1; ; attempt++) {
    const left = settleBy - Date.now();
    if (left <= 0) {
      log("warn", "no time left to settle a failed placement", { orderId, attempt });
      return "unknown";
    }
    try {
      // Settled without its stock (reserved: null): a checkout that finds it not placed releases it.
      const placed = await withinMs(
        left,
        deps.database.batch((db) => settlePlacements(db, userId, [{ orderId, reserved: null }])),
      );
      return placed.has(orderId) ? "placed" : "not placed";
    } catch (settleError) {
      log("warn", "could not settle a failed placement", { orderId, attempt, ...describeError(settleError) });
      if (attempt === 2) return "unknown";
    }
  }
}

/**
 * `work`, or a DATABASE_UNAVAILABLE once `ms` have passed. The work itself goes on (a batch cannot be
 * recalled), which is why a settlement cut short leaves its placement unsettled, not "not placed".
 */
async function withinMs<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ApiError("DATABASE_UNAVAILABLE", "The order database did not answer in time")),
      ms,
    );
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
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

/** The rows of a new order: the order, its items, first history entry, payment attempt and outbox event. */
export function newPlacement(
  config: Config,
  input: { orderId: string; userId: number; body: CreateOrderBody; lines: PricedLine[]; currency: string },
): Omit<Placement, "also"> {
  const { orderId, userId, body, lines, currency } = input;
  const instrument = instrumentOf(body);
  // The worker's time, for the deadlines below; createdAt and updatedAt are replaced by the
  // database's own when the order is written (placeOrder, queries/clock.ts).
  const now = new Date();
  const order: OrderRow = {
    id: orderId,
    userId,
    status: "pending",
    paymentStatus: "pending",
    paymentMethod: instrument.method,
    totalAmount: lines.reduce((sum, line) => sum + line.totalPrice, 0),
    currency,
    shippingAddress: body.shippingAddress,
    trackingNumber: null,
    carrier: null,
    estimatedDelivery: new Date(now.getTime() + DELIVERY_DAYS * DAY_MS),
    paymentDueAt: paymentDueAt(config, instrument.method, now),
    createdAt: now,
    updatedAt: now,
  };
  const { history, event } = changeRecords(order, {
    from: null,
    actor: { id: userId, role: "USER" },
    notify: "order_confirmation",
  });
  return {
    order,
    items: lines.map((line) => ({ ...line, orderId })),
    payment: newPayment(order, instrument, 1),
    history,
    event,
    maxOpenOrders: config.MAX_OPEN_ORDERS_PER_USER,
  };
}

/**
 * A checkout whose worker died, or that could not tell whether its order was placed, left the order
 * unsettled: it may stand while the cart still holds what it ordered. Before ordering again, settle
 * each such order (`settlePlacements`: a placement still running finishes first, and one that has not
 * begun will refuse) and take the lines of those that were placed out of the cart, so a cart is never
 * ordered twice. The stock an order that was not placed held (when its checkout could say) is owed
 * back, and given back now (or by the sweep). Answers the cart's lines as they then are.
 */
async function settleLapsedCheckouts(
  deps: OrderDeps,
  cart: ReturnType<typeof cartStub>,
  lapsed: { userId: number; token: string; placements: UnknownPlacement[] },
): Promise<CartItem[]> {
  const placed = await deps.database.batch((db) => settlePlacements(db, lapsed.userId, lapsed.placements));
  const settled = lapsed.placements.map(({ orderId }) => {
    const lines = placed.get(orderId) ?? null;
    if (lines)
      log("warn", "settled a lapsed checkout whose order was placed", { orderId, userId: lapsed.userId });
    return { orderId, lines };
  });
  for (const { orderId, reserved, inDoubt } of lapsed.placements) {
    if (inDoubt && !placed.has(orderId)) {
      // Its worker died, having reserved none, some or all of these: never released blindly (an
      // oversell if it had not), but logged for an operator, as an unknown reservation is.
      log("error", "stock in doubt after a lapsed checkout", { orderId, lines: inDoubt });
    }
    if (reserved && !placed.has(orderId)) {
      await applyStockReleases(deps.database, deps.products, { orderId }).catch((error: unknown) =>
        log("warn", "stock release deferred to the sweep", { orderId, ...describeError(error) }),
      );
    }
  }
  const items = await cart.settleCheckouts(lapsed.userId, lapsed.token, settled);
  if (!items) throw new ApiError("CHECKOUT_IN_PROGRESS", "A checkout of this cart is already in progress");
  return items;
}

/**
 * A checkout replayed from its Idempotency-Key: if the worker that placed the order died before it
 * took the ordered lines out of the cart, the cart still holds them, locked by that checkout (or
 * marked unsettled by a later one). The cart's object removes them now, exactly once; a cart already
 * settled is left as it is. Best effort: the lock's lapse settles it otherwise.
 */
export async function settleReplayedCheckout(deps: OrderDeps, userId: number, order: Order): Promise<void> {
  const lines = order.items.map(({ productId, quantity }) => ({ productId, quantity }));
  await cartStub(deps.env, userId)
    .settleReplayedCheckout(userId, order.id, lines)
    .catch((error: unknown) =>
      log("warn", "could not settle a replayed checkout's cart", {
        orderId: order.id,
        ...describeError(error),
      }),
    );
}

/**
 * Unlocks the cart and, after an order, removes what was ordered; records whether it was refused for
 * the user's open orders (see reservesFirst). Retried: a cart left full after
 * its order lands could be ordered twice once the lock lapses.
 */
async function finishCheckout(
  cart: ReturnType<typeof cartStub>,
  userId: number,
  token: string,
  outcome: { ordered: PricedLine[] | null; unsettled: UnknownPlacement | undefined; atLimit: boolean },
): Promise<void> {
  const { ordered, unsettled, atLimit } = outcome;
  const lines = ordered?.map(({ productId, quantity }) => ({ productId, quantity })) ?? null;
  for (let attempt = 1; ; attempt++) {
    try {
      await cart.finishCheckout(userId, token, lines, unsettled, atLimit);
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

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { ProductClient } from "../../src/clients/product.ts";
import { getConfig } from "../../src/config.ts";
import { Database, type HttpDb } from "../../src/db/client.ts";
import { ApiError } from "../../src/lib/errors.ts";
import { cartStub } from "../../src/services/cart.ts";
import { idempotent, idempotentDeferred, NO_KEY } from "../../src/services/idempotency.ts";
import { checkout } from "../../src/services/orders/checkout.ts";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { CASH_ON_DELIVERY, cartWith, orderDeps, placeOrder, query } from "../helpers/orders.ts";
import { readProduct } from "../helpers/products.ts";

const SLOW_STREET = "SLOW COMMIT";
const COMMIT_SECONDS = 2;

const lostConnection = () => new ApiError("DATABASE_UNAVAILABLE", "Network connection lost");

type Loss =
  /** The placement's answer is lost after `ms`, whether or not it has committed by then. */
  | { giveUpMs: number }
  /** The placement commits, then its answer is lost. */
  | { afterCommit: true }
  /** The placement's request is lost at once, but reaches the database `ms` later. */
  | { arrivesLateMs: number }
  /** The placement's request is lost, and never reaches the database. */
  | { neverArrives: true };

/**
 * The order database as a checkout sees it when the answer to its placement is lost: the batch runs
 * for real, but the caller is told the request failed. `settlement` says what the batches after it (the
 * settlements of the lost placement) meet: the database, or the same outage. `late` is the lost
 * placement's own outcome, for the test to wait on.
 */
class PlacementAnswerLost extends Database {
  private calls = 0;
  late: Promise<unknown> = Promise.resolve();
  private readonly loss: Loss;
  private readonly settlement: "reachable" | "unreachable";

  constructor(loss: Loss, settlement: "reachable" | "unreachable" = "reachable") {
    super(getConfig(env));
    this.loss = loss;
    this.settlement = settlement;
  }

  override async batch<T>(work: (db: HttpDb) => Promise<T>): Promise<T> {
    this.calls += 1;
    if (this.calls > 1 && this.settlement === "unreachable") throw lostConnection();
    if (this.calls !== 1) return super.batch(work);
    const loss = this.loss;
    if ("neverArrives" in loss) throw lostConnection();
    if ("arrivesLateMs" in loss) {
      this.late = new Promise((resolve) => setTimeout(resolve, loss.arrivesLateMs)).then(() =>
        super.batch(work).then(
          () => "placed",
          (error: unknown) => error,
        ),
      );
      throw lostConnection();
    }
    const real = super.batch(work);
    this.late = real.then(
      () => "placed",
      (error: unknown) => error,
    );
    if ("afterCommit" in loss) {
      await real;
      throw lostConnection();
    }
    return Promise.race([
      real,
      new Promise<never>((_, reject) => setTimeout(() => reject(lostConnection()), loss.giveUpMs)),
    ]);
  }
}

/**
 * A checkout as the request runs it, on the given database. Like a request, it does not wait for
 * its database to close (which would wait for a COMMIT still in flight) before answering.
 */
async function checkoutOn(database: Database, userId: number, body: unknown, completeKey = NO_KEY) {
  const deps = orderDeps(database);
  try {
    return await checkout(deps, userId, body as never, completeKey);
  } finally {
    void deps.events.drain().finally(() => database.close());
  }
}

const slowOrder = {
  ...CASH_ON_DELIVERY,
  shippingAddress: { ...CASH_ON_DELIVERY.shippingAddress, street: SLOW_STREET },
};

beforeAll(async () => {
  // A COMMIT of an order shipped to SLOW_STREET takes COMMIT_SECONDS: a deferred constraint trigger
  // runs at COMMIT time. Other orders are not affected.
  await query(
    sql.raw(`
    CREATE OR REPLACE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.shipping_address->>'street' = '${SLOW_STREET}' THEN PERFORM pg_sleep(${COMMIT_SECONDS}); END IF;
      RETURN NULL;
    END $$`),
  );
  await query(sql.raw("DROP TRIGGER IF EXISTS test_slow_commit ON orders"));
  await query(
    sql.raw(`CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON orders
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit()`),
  );
});

describe("a checkout whose placement answer is lost", () => {
  it("waits for a COMMIT still in flight, and answers the order it placed", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const database = new PlacementAnswerLost({ giveUpMs: 700 });
    const order = await checkoutOn(database, user.id, slowOrder);
    // The settlement waited for the placement's COMMIT (the user's placement lock) and found it.
    expect(order).toMatchObject({ status: "pending", items: [{ productId: product.id, quantity: 2 }] });
    expect(await database.late).toBe("placed");
    expect(await query(sql`SELECT id FROM orders WHERE user_id = ${user.id}`)).toEqual([{ id: order.id }]);
    expect((await readProduct(product.id)).stock).toBe(8);
    expect((await api("GET", "/api/cart", { headers: user.headers })).body.data.items).toEqual([]);
  });

  it("answers an order whose COMMIT landed before the answer was lost as placed", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const order = await checkoutOn(new PlacementAnswerLost({ afterCommit: true }), user.id, CASH_ON_DELIVERY);
    expect(order).toMatchObject({ status: "pending", items: [{ productId: product.id, quantity: 2 }] });
    expect(await query(sql`SELECT id FROM orders WHERE user_id = ${user.id}`)).toEqual([{ id: order.id }]);
    expect((await readProduct(product.id)).stock).toBe(8);
    // Placed: its lines left the cart, and its event is relayed by the sweep.
    expect((await api("GET", "/api/cart", { headers: user.headers })).body.data.items).toEqual([]);
    expect(
      await query(sql`SELECT type FROM outbox WHERE order_id = ${order.id} AND published_at IS NULL`),
    ).toEqual([{ type: "order_confirmation" }]);
  });

  it("fences off a placement that arrives after its settlement, and gives the stock back", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const database = new PlacementAnswerLost({ arrivesLateMs: 500 });
    const failure = await checkoutOn(database, user.id, CASH_ON_DELIVERY).catch((error) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
    // Settled as not placed: released at once, and the cart keeps its lines for a retry.
    expect((await readProduct(product.id)).stock).toBe(10);
    expect((await api("GET", "/api/cart", { headers: user.headers })).body.data.items).toMatchObject([
      { productId: product.id, quantity: 2 },
    ]);
    // The lost placement reaches the database afterwards, and refuses: no order without its stock.
    const late = await database.late;
    expect(late).toBeInstanceOf(ApiError);
    expect((late as ApiError).code).toBe("CHECKOUT_IN_PROGRESS");
    expect(await query(sql`SELECT id FROM orders WHERE user_id = ${user.id}`)).toEqual([]);

    const retried = await placeOrder(user, CASH_ON_DELIVERY);
    expect(retried.status).toBe(201);
    expect((await readProduct(product.id)).stock).toBe(8);
  });

  it("keeps the stock reserved when the outcome cannot be told, and never orders the cart twice", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const database = new PlacementAnswerLost({ giveUpMs: 700 }, "unreachable");
    const failure = await checkoutOn(database, user.id, slowOrder).catch((error) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
    // Neither placed nor fenced off as far as the checkout knows: not released, since it may (and here does) land.
    expect((await readProduct(product.id)).stock).toBe(8);
    expect(
      await runInDurableObject(cartStub(env, user.id), (_object, state) =>
        state.storage.sql.exec("SELECT order_id FROM unsettled_checkouts").toArray(),
      ),
    ).toHaveLength(1);

    // Retried at once, while the COMMIT is still in flight: the next checkout waits for it to land,
    // finds the order, and does not order the cart again.
    const retried = await placeOrder(user, CASH_ON_DELIVERY);
    expect(retried.status).toBe(409);
    expect(retried.body.error.code).toBe("EMPTY_CART");
    expect(await database.late).toBe("placed");
    expect(await query(sql`SELECT id FROM orders WHERE user_id = ${user.id}`)).toHaveLength(1);
    expect((await readProduct(product.id)).stock).toBe(8);
    const unsettled = await runInDurableObject(cartStub(env, user.id), (_object, state) =>
      state.storage.sql.exec("SELECT order_id FROM unsettled_checkouts").toArray(),
    );
    expect(unsettled).toEqual([]);
    expect((await api("GET", "/api/cart", { headers: user.headers })).body.data.items).toEqual([]);
  });
});

describe("a checkout whose outcome stayed unknown", () => {
  it("gives its stock back once the next checkout finds its order was never placed", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const database = new PlacementAnswerLost({ neverArrives: true }, "unreachable");
    const failure = await checkoutOn(database, user.id, CASH_ON_DELIVERY).catch((error) => error);
    expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
    // Unknown: kept reserved, and the cart's object keeps what it holds.
    expect((await readProduct(product.id)).stock).toBe(8);
    const [unsettled] = await runInDurableObject(cartStub(env, user.id), (_object, state) =>
      state.storage.sql.exec("SELECT order_id, reserved FROM unsettled_checkouts").toArray(),
    );
    expect(JSON.parse(unsettled?.reserved as string)).toEqual([{ productId: product.id, quantity: 2 }]);

    // The next checkout settles it: not placed, so fenced off and its 2 units given back; then it
    // orders the cart, which still holds them.
    const retried = await placeOrder(user, CASH_ON_DELIVERY);
    expect(retried.status).toBe(201);
    expect(await query(sql`SELECT id FROM orders WHERE user_id = ${user.id}`)).toEqual([
      { id: retried.body.data.id },
    ]);
    expect((await readProduct(product.id)).stock).toBe(8);
    const owed = await query<{ quantity: number; released: boolean }>(
      sql`SELECT quantity, released_at IS NOT NULL AS released FROM stock_releases WHERE order_id = ${unsettled?.order_id as string}`,
    );
    expect(owed).toEqual([{ quantity: 2, released: true }]);
    expect(
      await query(sql`SELECT 1 FROM abandoned_checkouts WHERE order_id = ${unsettled?.order_id as string}`),
    ).toHaveLength(1);
  });
});

describe("a keyed checkout that reserved first and whose outcome stayed unknown", () => {
  it("replays the order to a retry with its key, once the retry finds it placed", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const key = `unknown-${user.id}`;
    await new Database(getConfig(env)).ping(); // the isolate has heard the database: it reserves first
    const database = new PlacementAnswerLost({ afterCommit: true }, "unreachable");
    const deps = orderDeps(database);
    const failure = await idempotentDeferred(
      database,
      { userId: user.id, key, scope: "POST /api/orders", body: CASH_ON_DELIVERY },
      async (complete) => ({ status: 201, body: await checkout(deps, user.id, CASH_ON_DELIVERY, complete) }),
    ).catch((error: unknown) => error);
    void deps.events.drain().finally(() => database.close());
    expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
    expect(await database.late).toBe("placed");
    const [placed] = await query<{ id: string }>(sql`SELECT id FROM orders WHERE user_id = ${user.id}`);

    // The retry settles the lapsed placement (placed: its lines leave the cart), and the key's
    // answer, stored by the placing batch, is the retry's, not the empty cart's 409.
    const retried = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(retried.status).toBe(201);
    expect(retried.headers.get("idempotent-replayed")).toBe("true");
    expect(retried.body.data.id).toBe(placed?.id);
    expect(await query(sql`SELECT id FROM orders WHERE user_id = ${user.id}`)).toHaveLength(1);
    expect((await readProduct(product.id)).stock).toBe(8);
    expect((await api("GET", "/api/cart", { headers: user.headers })).body.data.items).toEqual([]);
  });
});

describe("a checkout whose Idempotency-Key was taken over while it ran", () => {
  it("places nothing, gives the stock back, and leaves the key to the request that took it", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const key = `taken-over-${user.id}`;
    const database = new Database(getConfig(env));
    const outcome = await idempotent(
      database,
      { userId: user.id, key, scope: "POST /api/orders", body: CASH_ON_DELIVERY },
      async (complete) => {
        // The key's lock lapsed and a retry took it over before this checkout's batch ran.
        await query(sql`UPDATE idempotency_keys SET claim_token = ${crypto.randomUUID()}
                        WHERE user_id = ${user.id} AND key = ${key}`);
        return { status: 201, body: await checkoutOn(database, user.id, CASH_ON_DELIVERY, complete) };
      },
    ).catch((error: unknown) => error);
    expect(outcome).toBeInstanceOf(ApiError);
    expect((outcome as ApiError).code).toBe("IDEMPOTENCY_KEY_IN_FLIGHT");
    expect(await query(sql`SELECT id FROM orders WHERE user_id = ${user.id}`)).toEqual([]);
    expect((await readProduct(product.id)).stock).toBe(10);
    expect((await api("GET", "/api/cart", { headers: user.headers })).body.data.items).toMatchObject([
      { productId: product.id, quantity: 2 },
    ]);
    // Still the other request's, unanswered: not freed by the loser.
    expect(
      await query(
        sql`SELECT response_status FROM idempotency_keys WHERE user_id = ${user.id} AND key = ${key}`,
      ),
    ).toEqual([{ response_status: null }]);
  });
});

describe("a checkout near the end of its cart's lock", () => {
  /** Moves the isolate's clock (the checkout's and the cart object's) `ms` ahead until restored. */
  function clockAhead(ms: number) {
    const now = Date.now.bind(Date);
    return vi.spyOn(Date, "now").mockImplementation(() => now() + ms);
  }

  it("does not settle a lost placement once too little of the lock is left: it leaves it to the next checkout", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    let settlements = 0;
    let clock: ReturnType<typeof clockAhead> | undefined;
    // The placement never reaches the database, and its answer comes back 4 min 30 s into the
    // checkout: past the moment a settlement could still end before the lock lapses (at 5 min).
    class LateAndLost extends Database {
      private calls = 0;
      override async batch<T>(work: (db: HttpDb) => Promise<T>): Promise<T> {
        this.calls += 1;
        if (this.calls === 1) {
          clock = clockAhead(4.5 * 60_000);
          throw lostConnection();
        }
        settlements += 1;
        return super.batch(work);
      }
    }
    try {
      const failure = await checkoutOn(new LateAndLost(getConfig(env)), user.id, CASH_ON_DELIVERY).catch(
        (error: unknown) => error,
      );
      expect(failure).toBeInstanceOf(ApiError);
      expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
    } finally {
      clock?.mockRestore();
    }
    expect(settlements).toBe(0);
    // Unsettled, with its stock still held: recorded for the next checkout of the cart.
    expect((await readProduct(product.id)).stock).toBe(8);
    expect(
      await runInDurableObject(cartStub(env, user.id), (_object, state) =>
        state.storage.sql.exec("SELECT order_id FROM unsettled_checkouts").toArray(),
      ),
    ).toHaveLength(1);
    // Which settles it (not placed: its 2 units come back) and orders the cart once.
    const retried = await placeOrder(user, CASH_ON_DELIVERY);
    expect(retried.status).toBe(201);
    expect(await query(sql`SELECT id FROM orders WHERE user_id = ${user.id}`)).toHaveLength(1);
    expect((await readProduct(product.id)).stock).toBe(8);
  });

  it("gives its reservation back instead of placing the order once the placing deadline has passed", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    let batches = 0;
    let clock: ReturnType<typeof clockAhead> | undefined;
    // The reservation answers 3 min 30 s into the checkout (a slow product service).
    class SlowStock extends ProductClient {
      override async adjustStock(productId: string, delta: number) {
        const change = await super.adjustStock(productId, delta);
        clock ??= clockAhead(3.5 * 60_000);
        return change;
      }
    }
    class Counted extends Database {
      override async batch<T>(work: (db: HttpDb) => Promise<T>): Promise<T> {
        batches += 1;
        return super.batch(work);
      }
    }
    const config = getConfig(env);
    try {
      const database = new Counted(config);
      const deps = {
        ...orderDeps(database),
        products: new SlowStock(config.PRODUCT_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS),
      };
      const failure = await checkout(deps, user.id, CASH_ON_DELIVERY, NO_KEY).catch(
        (error: unknown) => error,
      );
      void deps.events.drain().finally(() => database.close());
      expect((failure as ApiError).code).toBe("UPSTREAM_UNAVAILABLE");
    } finally {
      clock?.mockRestore();
    }
    expect(batches).toBe(0);
    expect((await readProduct(product.id)).stock).toBe(10);
    expect((await api("GET", "/api/cart", { headers: user.headers })).body.data.items).toMatchObject([
      { productId: product.id, quantity: 2 },
    ]);
  });
});

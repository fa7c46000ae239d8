import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import { ProductClient } from "../../src/clients/product.ts";
import { getConfig } from "../../src/config.ts";
import { Database, type Tx } from "../../src/db/client.ts";
import { ApiError } from "../../src/lib/errors.ts";
import { EventPublisher } from "../../src/queues/producer.ts";
import { cartStub } from "../../src/services/cart.ts";
import { checkout } from "../../src/services/orders/checkout.ts";
import type { OrderDeps } from "../../src/services/orders/deps.ts";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { CASH_ON_DELIVERY, cartWith, eventually, placeOrder, query } from "../helpers/orders.ts";
import { readProduct } from "../helpers/products.ts";

const SLOW_STREET = "SLOW COMMIT";
const COMMIT_SECONDS = 2;

const lostConnection = () => new ApiError("DATABASE_UNAVAILABLE", "Connection terminated unexpectedly");

/**
 * The order database as a client sees it when the answer to its COMMIT is lost: the transaction runs
 * for real, but the client gives up after `giveUpMs` (a dropped connection) whether or not the COMMIT
 * has landed by then, or, with `afterCommit`, once the COMMIT has landed.
 */
class CommitAnswerLost extends Database {
  private readonly when: { giveUpMs: number } | { afterCommit: true };
  constructor(when: { giveUpMs: number } | { afterCommit: true }) {
    super(getConfig(env));
    this.when = when;
  }
  override async transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const real = super.transaction(work);
    real.catch(() => {});
    if ("afterCommit" in this.when) {
      await real;
      throw lostConnection();
    }
    const giveUpMs = this.when.giveUpMs;
    return Promise.race([
      real,
      new Promise<never>((_, reject) => setTimeout(() => reject(lostConnection()), giveUpMs)),
    ]);
  }
}

/**
 * A checkout as the request runs it, on the given database. Like a request, it does not wait for
 * its database to close (which would wait for a COMMIT still in flight) before answering.
 */
async function checkoutOn(database: Database, userId: number, body: unknown) {
  const config = getConfig(env);
  const deps: OrderDeps = {
    env,
    config,
    database,
    products: new ProductClient(config.PRODUCT_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS),
    events: new EventPublisher(env, database),
  };
  try {
    return await checkout(deps, userId, body as never, async () => {});
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

describe("a checkout whose COMMIT answer is lost", () => {
  it("keeps the stock reserved while the COMMIT may still land, and never orders the cart twice", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const failure = await checkoutOn(new CommitAnswerLost({ giveUpMs: 700 }), user.id, slowOrder).catch(
      (error) => error,
    );
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
    // Postgres said "in progress": not released, since the COMMIT may (and here does) land.
    expect((await readProduct(product.id)).stock).toBe(8);

    // Retried at once, while the COMMIT is still in flight: the next checkout waits for it to land,
    // finds the order, and does not order the cart again.
    const retried = await placeOrder(user, CASH_ON_DELIVERY);
    expect(retried.status).toBe(409);
    expect(retried.body.error.code).toBe("EMPTY_CART");

    const orders = await eventually(
      () => query<{ id: string }>(sql`SELECT id FROM orders WHERE user_id = ${user.id}`),
      (rows) => rows.length === 1,
    );
    expect(orders).toHaveLength(1);
    expect((await readProduct(product.id)).stock).toBe(8);
    const unsettled = await runInDurableObject(cartStub(env, user.id), (_object, state) =>
      state.storage.sql.exec("SELECT order_id FROM unsettled_checkouts").toArray(),
    );
    expect(unsettled).toEqual([]);
    expect((await api("GET", "/api/cart", { headers: user.headers })).body.data.items).toEqual([]);
    expect(await query(sql`SELECT id FROM orders WHERE user_id = ${user.id}`)).toHaveLength(1);
    expect((await readProduct(product.id)).stock).toBe(8);
  });

  it("answers an order whose COMMIT landed before the answer was lost as placed", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { stock: 10 });
    const order = await checkoutOn(new CommitAnswerLost({ afterCommit: true }), user.id, slowOrder);
    expect(order).toMatchObject({ status: "pending", items: [{ productId: product.id, quantity: 2 }] });
    expect(await query(sql`SELECT id FROM orders WHERE user_id = ${user.id}`)).toEqual([{ id: order.id }]);
    expect((await readProduct(product.id)).stock).toBe(8);
    // Placed: its lines left the cart.
    expect((await api("GET", "/api/cart", { headers: user.headers })).body.data.items).toEqual([]);
  });
});

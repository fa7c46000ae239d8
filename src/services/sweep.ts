import { ProductClient } from "../clients/product.ts";
import { getConfig } from "../config.ts";
import { Database } from "../db/client.ts";
import {
  deleteExpiredIdempotencyKeys,
  lockOverdueOrder,
  overdueOrderIds,
  stalePendingPayments,
} from "../db/queries.ts";
import { describeError, log } from "../lib/log.ts";
import { SYSTEM } from "./orders/deps.ts";
import { submitToGateway } from "./orders/payments.ts";
import { applyTransition } from "./orders/status.ts";
import { applyStockReleases } from "./stock.ts";

const BATCH = 50;
/** A gateway settles within PAYMENT_SETTLE_DELAY_MS; an attempt pending this much longer was never acknowledged. */
const GATEWAY_GRACE_MS = 2 * 60_000;

/**
 * The scheduled sweep (every minute): cancels orders left unpaid past their deadline, re-submits
 * payments the gateway never acknowledged, retries deferred stock releases and drops expired
 * idempotency keys. Each step is idempotent and safe to run concurrently with requests.
 */
export async function runSweep(env: Env): Promise<void> {
  const config = getConfig(env);
  const database = new Database(config);
  const products = new ProductClient(config.PRODUCT_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS);
  const started = Date.now();
  try {
    // One transaction per order: an order that cannot be cancelled does not hold back the others.
    const now = new Date();
    let cancelled = 0;
    for (const orderId of await database.read((db) => overdueOrderIds(db, now, BATCH))) {
      try {
        const done = await database.transaction(async (tx) => {
          const order = await lockOverdueOrder(tx, orderId, now);
          if (order)
            await applyTransition(tx, order, "cancelled", SYSTEM, { note: "Payment not received in time" });
          return Boolean(order);
        });
        if (done) cancelled += 1;
      } catch (error) {
        log("error", "could not cancel an overdue order", { orderId, ...describeError(error) });
      }
    }

    const stale = await database.read((db) =>
      stalePendingPayments(
        db,
        new Date(Date.now() - config.PAYMENT_SETTLE_DELAY_MS - GATEWAY_GRACE_MS),
        BATCH,
      ),
    );
    const submissions = await Promise.allSettled(stale.map((payment) => submitToGateway(env, payment, 0)));
    const unsent = submissions.filter((result) => result.status === "rejected").length;

    const releases = await applyStockReleases(database, products, { limit: BATCH * 4 });
    await database.read((db) => deleteExpiredIdempotencyKeys(db));

    log("info", "sweep", {
      cancelled,
      resubmitted: stale.length - unsent,
      unsent,
      ...releases,
      durationMs: Date.now() - started,
    });
  } catch (error) {
    log("error", "sweep failed", { durationMs: Date.now() - started, ...describeError(error) });
    throw error;
  } finally {
    await database.close();
  }
}

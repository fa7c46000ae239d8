import { ProductClient } from "../clients/product.ts";
import { getConfig } from "../config.ts";
import { Database } from "../db/client.ts";
import { deleteExpiredIdempotencyKeys, lockOverdueOrders, stalePendingPayments } from "../db/queries.ts";
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
    const cancelled = await database.transaction(async (tx) => {
      const overdue = await lockOverdueOrders(tx, new Date(), BATCH);
      for (const order of overdue) {
        await applyTransition(tx, order, "cancelled", SYSTEM, { note: "Payment not received in time" });
      }
      return overdue.length;
    });

    const stale = await database.read((db) =>
      stalePendingPayments(
        db,
        new Date(Date.now() - config.PAYMENT_SETTLE_DELAY_MS - GATEWAY_GRACE_MS),
        BATCH,
      ),
    );
    await Promise.all(stale.map((payment) => submitToGateway(env, payment, 0)));

    const releases = await applyStockReleases(database, products, { limit: BATCH * 4 });
    await database.read((db) => deleteExpiredIdempotencyKeys(db));

    log("info", "sweep", {
      cancelled,
      resubmitted: stale.length,
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

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
import type { OrderEvent } from "../queues/messages.ts";
import { pruneOutbox, publishEvents, relayOutbox } from "../queues/producer.ts";
import { SYSTEM } from "./orders/deps.ts";
import { submitToGateway } from "./orders/payments.ts";
import { applyTransition } from "./orders/status.ts";
import { applyStockReleases } from "./stock.ts";

const BATCH = 50;
/** A gateway settles within PAYMENT_SETTLE_DELAY_MS; an attempt pending this much longer was never acknowledged. */
const GATEWAY_GRACE_MS = 2 * 60_000;

interface SweepContext {
  env: Env;
  config: ReturnType<typeof getConfig>;
  database: Database;
  products: ProductClient;
}

/** Cancels orders left unpaid past their deadline, one transaction each, and publishes the changes. */
async function cancelOverdue({ database, env }: SweepContext) {
  const now = new Date();
  const events: OrderEvent[] = [];
  let failed = 0;
  for (const orderId of await database.read((db) => overdueOrderIds(db, now, BATCH))) {
    try {
      const event = await database.transaction(async (tx) => {
        const order = await lockOverdueOrder(tx, orderId, now);
        if (!order) return null;
        const cancelled = await applyTransition(tx, order, "cancelled", SYSTEM, {
          note: "Payment not received in time",
        });
        return cancelled.event;
      });
      if (event) events.push(event);
    } catch (error) {
      failed += 1;
      log("error", "could not cancel an overdue order", { orderId, ...describeError(error) });
    }
  }
  await publishEvents(env, database, events);
  return { cancelled: events.length, cancelFailed: failed };
}

async function resubmitPayments({ database, env, config }: SweepContext) {
  const stale = await database.read((db) =>
    stalePendingPayments(db, new Date(Date.now() - config.PAYMENT_SETTLE_DELAY_MS - GATEWAY_GRACE_MS), BATCH),
  );
  const submissions = await Promise.allSettled(stale.map((payment) => submitToGateway(env, payment, 0)));
  const unsent = submissions.filter((result) => result.status === "rejected").length;
  return { resubmitted: stale.length - unsent, unsent };
}

/**
 * The scheduled sweep (every minute): cancels orders left unpaid past their deadline, re-submits
 * payments the gateway never acknowledged, retries deferred stock releases, relays order events no
 * request published, prunes relayed ones and drops expired idempotency keys. Each step is
 * idempotent, safe to run concurrently with requests and other sweeps, and runs even if another
 * step failed; the run fails (for the cron's own retry and alerting) if any did.
 */
export async function runSweep(env: Env): Promise<void> {
  const config = getConfig(env);
  const context: SweepContext = {
    env,
    config,
    database: new Database(config),
    products: new ProductClient(config.PRODUCT_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS),
  };
  const { database, products } = context;
  const steps: [string, () => Promise<Record<string, number>>][] = [
    ["cancelOverdue", () => cancelOverdue(context)],
    ["resubmitPayments", () => resubmitPayments(context)],
    [
      "releaseStock",
      async () => {
        const { released, failed } = await applyStockReleases(database, products, { limit: BATCH * 4 });
        return { stockReleased: released, stockReleaseFailed: failed };
      },
    ],
    ["relayOutbox", async () => ({ relayed: await relayOutbox(env, database) })],
    ["pruneOutbox", async () => ({ pruned: await pruneOutbox(database) })],
    [
      "expireKeys",
      async () => {
        await database.read((db) => deleteExpiredIdempotencyKeys(db));
        return {};
      },
    ],
  ];
  const started = Date.now();
  const results: Record<string, number> = {};
  const failed: string[] = [];
  try {
    for (const [name, step] of steps) {
      try {
        Object.assign(results, await step());
      } catch (error) {
        failed.push(name);
        log("error", "sweep step failed", { step: name, ...describeError(error) });
      }
    }
  } finally {
    await database.close();
  }
  log(failed.length ? "error" : "info", "sweep", {
    ...results,
    failedSteps: failed,
    durationMs: Date.now() - started,
  });
  if (failed.length) throw new Error(`Sweep steps failed: ${failed.join(", ")}`);
}

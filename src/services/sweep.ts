import { ProductClient } from "../clients/product.ts";
import { getConfig } from "../config.ts";
import { Database } from "../db/client.ts";
import {
  deleteExpiredIdempotencyKeys,
  duePaymentResubmissions,
  lockOverdueOrder,
  markResubmitted,
  overdueOrderIds,
  pruneAbandonedCheckouts,
} from "../db/queries.ts";
import { mapConcurrently } from "../lib/concurrency.ts";
import { describeError, log } from "../lib/log.ts";
import type { OrderEvent } from "../queues/messages.ts";
import { overdueNote } from "./orders/deadlines.ts";
import { SYSTEM } from "./orders/deps.ts";
import { submitToGateway } from "./orders/payments.ts";
import { applyTransition } from "./orders/status.ts";
import { pruneOutbox, publishEvents, relayOutbox } from "./outbox.ts";
import { applyStockReleases, stockReleasesInDoubt } from "./stock.ts";

const BATCH = 50;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Cancellations in flight at once: the database client's pool holds 4 connections. */
const CANCEL_CONCURRENCY = 4;
/** A gateway settles within PAYMENT_SETTLE_DELAY_MS; an attempt pending this much longer was never acknowledged. */
const GATEWAY_GRACE_MS = 2 * 60_000;

interface SweepContext {
  env: Env;
  config: ReturnType<typeof getConfig>;
  database: Database;
  products: ProductClient;
}

/**
 * Cancels orders left unpaid (or cash on delivery left unconfirmed) past their deadline
 * (orders/deadlines.ts), a few at a time (one transaction each, on the
 * sweep's own connections), and publishes the changes.
 */
async function cancelOverdue({ database, env }: SweepContext) {
  const now = new Date();
  const overdue = await database.once((db) => overdueOrderIds(db, now, BATCH));
  const outcomes = await mapConcurrently(overdue, CANCEL_CONCURRENCY, async (orderId) => {
    try {
      return await database.transaction(async (tx) => {
        const order = await lockOverdueOrder(tx, orderId, now);
        if (!order) return null;
        const cancelled = await applyTransition(tx, order, "cancelled", SYSTEM, {
          note: overdueNote(order.paymentMethod),
        });
        return cancelled.event;
      });
    } catch (error) {
      log("error", "could not cancel an overdue order", { orderId, ...describeError(error) });
      return "failed" as const;
    }
  });
  const events = outcomes.filter(
    (outcome): outcome is OrderEvent => outcome !== null && outcome !== "failed",
  );
  await publishEvents(env, database, events);
  return {
    cancelled: events.length,
    cancelFailed: outcomes.filter((outcome) => outcome === "failed").length,
  };
}

/**
 * Re-sends gateway attempts nobody acknowledged, concurrently. Each one tried (whether the gateway
 * took it or not) then waits longer before the next try, so stuck ones never starve the others.
 */
async function resubmitPayments({ database, env, config }: SweepContext) {
  const due = await database.once((db) =>
    duePaymentResubmissions(
      db,
      new Date(Date.now() - config.PAYMENT_SETTLE_DELAY_MS - GATEWAY_GRACE_MS),
      BATCH,
    ),
  );
  const submissions = await Promise.allSettled(due.map((payment) => submitToGateway(env, payment, 0)));
  await database.once((db) =>
    markResubmitted(
      db,
      due.map((payment) => payment.id),
    ),
  );
  const unsent = submissions.filter((result) => result.status === "rejected").length;
  return { resubmitted: due.length - unsent, unsent };
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
        const inDoubt = await stockReleasesInDoubt(database);
        if (inDoubt > 0) log("error", "stock releases in doubt", { inDoubt });
        return { stockReleased: released, stockReleaseFailed: failed, stockReleasesInDoubt: inDoubt };
      },
    ],
    ["relayOutbox", async () => ({ relayed: await relayOutbox(env, database) })],
    ["pruneOutbox", async () => ({ pruned: await pruneOutbox(database) })],
    [
      "expireKeys",
      async () => {
        await database.once((db) => deleteExpiredIdempotencyKeys(db));
        await database.once((db) => pruneAbandonedCheckouts(db, new Date(Date.now() - DAY_MS)));
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

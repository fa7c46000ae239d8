import { DurableObject } from "cloudflare:workers";
import { ProductClient } from "../clients/product.ts";
import { getConfig } from "../config.ts";
import { Database } from "../db/client.ts";
import type { PaymentMethod } from "../db/schema.ts";
import { describeError, log } from "../lib/log.ts";
import type { OrderDeps } from "../services/orders/deps.ts";
import { gatewayOutcome, settleGatewayPayment } from "../services/orders/payments.ts";
import { EventPublisher } from "../services/outbox.ts";

export interface AuthorizeRequest {
  paymentId: string;
  method: PaymentMethod;
  reference: string | null;
  delayMs: number;
}

type Stored = AuthorizeRequest & { failures: number };

/** Backoff between settlement attempts while the database is unreachable, capped at a minute. */
const retryDelayMs = (failures: number) => Math.min(60_000, 500 * 2 ** failures);

/**
 * The mock payment gateway: one object per payment attempt. `authorize` records the attempt and
 * arms an alarm; the alarm decides the outcome and settles it in Postgres, retrying with backoff
 * until the database takes it. Alarms survive restarts, so a pending payment is never forgotten.
 * It stands in for an outside system and calls the settlement service as a real gateway's webhook
 * would, so it sits above the services, not in durable-objects/ (which the services call).
 */
export class PaymentGateway extends DurableObject<Env> {
  async authorize(request: AuthorizeRequest): Promise<void> {
    if (await this.ctx.storage.get<Stored>("request")) return;
    await this.ctx.storage.put<Stored>("request", { ...request, failures: 0 });
    await this.ctx.storage.setAlarm(Date.now() + request.delayMs);
  }

  override async alarm(): Promise<void> {
    const request = await this.ctx.storage.get<Stored>("request");
    if (!request) return;
    const config = getConfig(this.env);
    // Over the HTTP path only: no connection is opened, so a flash sale's settlements cannot
    // exhaust the database's connections.
    const database = new Database(config);
    const events = new EventPublisher(this.env, database);
    const deps: OrderDeps = {
      env: this.env,
      config,
      database,
      products: new ProductClient(config.PRODUCT_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS),
      events,
    };
    try {
      await settleGatewayPayment(deps, request.paymentId, gatewayOutcome(request));
      await this.ctx.storage.deleteAll();
    } catch (error) {
      const failures = request.failures + 1;
      log("warn", "payment settlement deferred", {
        paymentId: request.paymentId,
        failures,
        ...describeError(error),
      });
      await this.ctx.storage.put<Stored>("request", { ...request, failures });
      await this.ctx.storage.setAlarm(Date.now() + retryDelayMs(failures));
    } finally {
      // What committed is published (or left in the outbox for the sweep's relay).
      await events.drain().catch(() => {});
      await database.close();
    }
  }
}

import { env } from "cloudflare:workers";
import { createApp } from "./app.ts";
import { getConfig } from "./config.ts";
import { handleQueue } from "./queues/index.ts";
import { runSweep } from "./services/sweep.ts";

export { CartObject } from "./durable-objects/cart-object.ts";
export { GuestCartObject } from "./durable-objects/guest-cart-object.ts";
export { RateLimiter } from "./durable-objects/rate-limiter.ts";
export { PaymentGateway } from "./mocks/payment-gateway.ts";

// Validated when the worker starts, so a bad setting fails the deploy (or `wrangler dev`) with a
// message naming each offending variable, instead of surfacing on the first request.
getConfig(env);

const app = createApp();

export default {
  fetch: app.fetch,
  queue: (batch, env, _ctx: ExecutionContext) => handleQueue(batch, env),
  scheduled: (_controller, env, ctx) => {
    ctx.waitUntil(runSweep(env));
  },
} satisfies ExportedHandler<Env>;

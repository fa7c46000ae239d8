import { createApp } from "./app.ts";
import { runSweep } from "./services/sweep.ts";

export { CartObject } from "./durable-objects/cart-object.ts";
export { PaymentGateway } from "./durable-objects/payment-gateway.ts";
export { RateLimiter } from "./durable-objects/rate-limiter.ts";

const app = createApp();

export default {
  fetch: app.fetch,
  scheduled: (_controller, env, ctx) => {
    ctx.waitUntil(runSweep(env));
  },
} satisfies ExportedHandler<Env>;

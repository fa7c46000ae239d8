import { createApp } from "./app.ts";

export { CartObject } from "./durable-objects/cart-object.ts";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;

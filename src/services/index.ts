import type { Services } from "../app-env.ts";
import { createCache } from "../cache/cache.ts";
import { ProductClient } from "../clients/product.ts";
import { UserClient } from "../clients/user.ts";
import { getConfig } from "../config.ts";
import { Database } from "../db/client.ts";
import { EventPublisher } from "../queues/producer.ts";
import { CartService } from "./cart.ts";

/** Builds one request's services from the environment; cheap (the database connects on first use), so done per request. */
export function createServices(env: Env): Services {
  const config = getConfig(env);
  const products = new ProductClient(config.PRODUCT_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS);
  const database = new Database(config);
  const events = new EventPublisher(env, database);
  return {
    config,
    cache: createCache(config),
    products,
    users: new UserClient(config.USER_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS),
    cart: new CartService(env, { config, products }),
    database,
    orders: { env, config, database, products, events },
  };
}

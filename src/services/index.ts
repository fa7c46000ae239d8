import { type Background, type Cache, detached, MemoryCache } from "../cache/cache.ts";
import { CachedProducts } from "../cache/products.ts";
import { RedisCache } from "../cache/redis-cache.ts";
import { ProductClient } from "../clients/product.ts";
import { UserClient } from "../clients/user.ts";
import { type Config, getConfig } from "../config.ts";
import { Database } from "../db/client.ts";
import { CartService } from "./cart.ts";
import type { OrderDeps } from "./orders/deps.ts";
import { EventPublisher } from "./outbox.ts";

/** What every request carries: the parsed config and the per-request services. */
export interface Services {
  config: Config;
  cache: Cache;
  products: ProductClient;
  users: UserClient;
  cart: CartService;
  database: Database;
  orders: OrderDeps;
}

/** The longest an isolate reuses a product it looked up for a cart add (see CachedProducts). */
export const LOCAL_PRODUCT_TTL_SECONDS = 5;

/**
 * Builds one request's services from the environment; cheap (the database connects on first use),
 * so done per request. `background` is the request's waitUntil (cache writes go there).
 */
export function createServices(env: Env, background: Background = detached): Services {
  const config = getConfig(env);
  const products = new ProductClient(config.PRODUCT_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS);
  const database = new Database(config);
  const events = new EventPublisher(env, database);
  const cache = createCache(config, background);
  // Cart adds read products through the isolate's short-lived copy, then Redis; checkout (orders)
  // keeps the uncached client. The isolate's copy lives at most LOCAL_PRODUCT_TTL_SECONDS, nobody
  // can flush it, so that is also how long a flushed Redis entry (or, without Redis, a changed
  // product) may still be seen by adds.
  const cartProducts = new CachedProducts(products, cache, {
    ttlSeconds: config.UPSTASH_REDIS_REST_URL ? config.PRODUCT_CACHE_TTL_SECONDS : 0,
    localTtlSeconds: Math.min(config.PRODUCT_CACHE_TTL_SECONDS, LOCAL_PRODUCT_TTL_SECONDS),
    maxFlightMs: config.CACHE_TIMEOUT_MS + config.UPSTREAM_TIMEOUT_MS + 250,
    scope: `${config.PRODUCT_SERVICE_URL}|${config.CACHE_KEY_PREFIX}`,
  });
  return {
    config,
    cache,
    products,
    users: new UserClient(config.USER_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS),
    cart: new CartService(env, { config, products: cartProducts, freshProducts: products }),
    database,
    orders: { env, config, database, products, events },
  };
}

/** Used when no Redis is configured: one per isolate, shared by its requests. */
const memoryCache = new MemoryCache();

/** Upstash Redis when configured; otherwise the isolate's memory cache. */
function createCache(config: Config, background: Background = detached): Cache {
  if (config.UPSTASH_REDIS_REST_URL && config.UPSTASH_REDIS_REST_TOKEN) {
    return new RedisCache({
      url: config.UPSTASH_REDIS_REST_URL,
      token: config.UPSTASH_REDIS_REST_TOKEN,
      keyPrefix: config.CACHE_KEY_PREFIX,
      timeoutMs: config.CACHE_TIMEOUT_MS,
      background,
    });
  }
  return memoryCache;
}

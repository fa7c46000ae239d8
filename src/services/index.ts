import type { Services } from "../app-env.ts";
import { createCache } from "../cache/cache.ts";
import { ProductClient } from "../clients/product.ts";
import { UserClient } from "../clients/user.ts";
import { getConfig } from "../config.ts";
import { CartService } from "./cart.ts";

/** Builds one request's services from the environment; cheap, so done per request. */
export function createServices(env: Env): Services {
  const config = getConfig(env);
  const products = new ProductClient(config.PRODUCT_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS);
  return {
    config,
    cache: createCache(config),
    products,
    users: new UserClient(config.USER_SERVICE_URL, config.UPSTREAM_TIMEOUT_MS),
    cart: new CartService(env, { config, products }),
  };
}

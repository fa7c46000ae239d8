import type { Cache } from "./cache/cache.ts";
import type { ProductClient } from "./clients/product.ts";
import type { UserClient } from "./clients/user.ts";
import type { Config } from "./config.ts";
import type { Database } from "./db/client.ts";
import type { AuthUser } from "./lib/auth.ts";
import type { CartOwner } from "./schemas/cart.ts";
import type { CartService } from "./services/cart.ts";
import type { OrderDeps } from "./services/orders/deps.ts";

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

export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    services: Services;
    /** Who called: a signed-in user or a guest (middleware/auth.ts). */
    caller: CartOwner;
    /** The signed-in user; never set for a guest, whom requireSignIn keeps off every other route. */
    user: AuthUser;
  };
};

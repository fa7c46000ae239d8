import type { AuthUser } from "./lib/auth.ts";
import type { CartOwner } from "./schemas/cart.ts";
import type { Services } from "./services/index.ts";

/** The Hono environment of every router and middleware: the bindings, and what middleware sets. */
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

import { createRouter } from "../openapi.ts";
import * as handlers from "./cart.handlers.ts";
import * as routes from "./cart.routes.ts";

export const cartRouter = createRouter()
  .openapi(routes.getCart, handlers.getCart)
  .openapi(routes.addItem, handlers.addItem)
  .openapi(routes.updateItem, handlers.updateItem)
  .openapi(routes.removeItem, handlers.removeItem)
  .openapi(routes.clearCart, handlers.clearCart)
  .openapi(routes.mergeCart, handlers.mergeCart);

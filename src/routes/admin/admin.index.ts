import { createRouter } from "../openapi.ts";
import * as handlers from "./admin.handlers.ts";
import * as routes from "./admin.routes.ts";

// The summary before the order route, whose {order_id} would take "summary" for an id.
export const adminRouter = createRouter()
  .openapi(routes.searchOrders, handlers.searchOrders)
  .openapi(routes.orderSummary, handlers.orderSummary)
  .openapi(routes.getOrder, handlers.getOrder)
  .openapi(routes.listDeadLetters, handlers.listDeadLetters)
  .openapi(routes.replayDeadLetter, handlers.replayDeadLetter);

import { createRouter } from "../openapi.ts";
import * as handlers from "./orders.handlers.ts";
import * as routes from "./orders.routes.ts";

export const ordersRouter = createRouter()
  .openapi(routes.createOrder, handlers.createOrder)
  .openapi(routes.listOrders, handlers.listOrders)
  .openapi(routes.getOrder, handlers.getOrder)
  .openapi(routes.updateStatus, handlers.updateStatus)
  .openapi(routes.getTracking, handlers.getTracking)
  .openapi(routes.retryPayment, handlers.retryPayment);

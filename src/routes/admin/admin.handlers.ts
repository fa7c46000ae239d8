// Admins only: middleware/require-admin.ts refuses everyone else on /api/admin/* (app.ts).
import { listDeadLetterPage, replayDeadLetter as replay } from "../../services/dead-letters.ts";
import { getAdminOrder, searchAllOrders, summarizeOrders } from "../../services/orders/admin.ts";
import type { AppRouteHandler as Handler } from "../openapi.ts";
import type * as routes from "./admin.routes.ts";

export const listDeadLetters: Handler<typeof routes.listDeadLetters> = async (c) => {
  const page = await listDeadLetterPage(c.var.services.database, c.req.valid("query"));
  return c.json({ success: true as const, message: "Dead letters retrieved", data: page }, 200);
};

export const replayDeadLetter: Handler<typeof routes.replayDeadLetter> = async (c) => {
  const letter = await replay(c.env, c.var.services.database, c.req.valid("param").dead_letter_id);
  return c.json({ success: true as const, message: "Dead letter queued again", data: letter }, 200);
};

export const searchOrders: Handler<typeof routes.searchOrders> = async (c) => {
  const page = await searchAllOrders(c.var.services.orders, c.req.valid("query"));
  return c.json({ success: true as const, message: "Orders retrieved", data: page }, 200);
};

export const orderSummary: Handler<typeof routes.orderSummary> = async (c) => {
  const summary = await summarizeOrders(c.var.services.orders, c.req.valid("query"));
  return c.json({ success: true as const, message: "Summary retrieved", data: summary }, 200);
};

export const getOrder: Handler<typeof routes.getOrder> = async (c) => {
  const order = await getAdminOrder(c.var.services.orders, c.var.user, c.req.valid("param").order_id);
  return c.json({ success: true as const, message: "Order retrieved", data: order }, 200);
};

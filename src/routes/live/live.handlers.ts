import type { AppRouteHandler as Handler } from "../../lib/openapi.ts";
import { connectLive, issueLiveTicket } from "../../services/live.ts";
import type * as routes from "./live.routes.ts";

export const issueTicket: Handler<typeof routes.issueTicket> = async (c) => {
  const ticket = await issueLiveTicket(c.env, c.var.user.id);
  return c.json({ success: true as const, message: "Ticket issued", data: ticket }, 201);
};

export const connect: Handler<typeof routes.connect> = async (c) =>
  connectLive(c.env, c.req.header("upgrade"), c.req.query("ticket"));

import { decodeJwt } from "jose";
import { bearerToken } from "../../lib/auth.ts";
import { connectLive, issueLiveTicket } from "../../services/live.ts";
import type { AppRouteHandler as Handler } from "../openapi.ts";
import type * as routes from "./live.routes.ts";

export const issueTicket: Handler<typeof routes.issueTicket> = async (c) => {
  // The token was verified by the auth middleware; only its expiry is read here.
  const { exp } = decodeJwt(bearerToken(c.req.header("authorization")));
  const ticket = await issueLiveTicket(c.env, c.var.user.id, (exp ?? 0) * 1000);
  return c.json({ success: true as const, message: "Ticket issued", data: ticket }, 201);
};

export const connect: Handler<typeof routes.connect> = async (c) =>
  connectLive(c.env, c.req.header("upgrade"), c.req.query("ticket"));

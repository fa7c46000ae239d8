import { issueGuestToken as issue } from "../../lib/guest-tokens.ts";
import type { AppRouteHandler as Handler } from "../openapi.ts";
import type * as routes from "./guest.routes.ts";

export const issueGuestToken: Handler<typeof routes.issueGuestToken> = async (c) => {
  const guest = await issue(c.var.services.config);
  return c.json({ success: true as const, message: "Guest token issued", data: guest }, 201);
};

import { createRoute } from "@hono/zod-openapi";
import { guestIssuanceLimit } from "../../middleware/rate-limit.ts";
import { envelope } from "../../schemas/common.ts";
import { GuestTokenSchema } from "../../schemas/guest.ts";
import { errorResponses, jsonResponse } from "../openapi.ts";

export const issueGuestToken = createRoute({
  operationId: "issueGuestToken",
  method: "post",
  path: "/api/guest",
  tags: ["Cart"],
  summary: "A guest token, for a cart before sign-in",
  description:
    "No authentication. The token opens the cart routes for a cart of the guest's own, and expires after " +
    "GUEST_TTL_DAYS (7 by default); the guest's cart is emptied after as long idle. At sign-in, " +
    "POST /api/cart/merge takes it over into the user's cart. Every other route answers a guest 403 " +
    "SIGN_IN_REQUIRED. Rate-limited per client IP.",
  security: [],
  middleware: [guestIssuanceLimit] as const,
  responses: {
    201: jsonResponse(envelope(GuestTokenSchema, "GuestTokenResponse"), "A new guest and its token"),
    ...errorResponses(413, 429),
  },
});

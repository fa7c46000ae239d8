import { z } from "@hono/zod-openapi";
import { GuestId, Timestamp } from "./common.ts";

export const GuestTokenSchema = z
  .object({
    token: z.string().openapi({ description: "Send as `Authorization: Bearer <token>` on the cart routes" }),
    guestId: GuestId,
    expiresAt: Timestamp,
  })
  .openapi("GuestToken");

import { z } from "@hono/zod-openapi";
import { ORDER_STATUSES, PAYMENT_STATUSES } from "../db/schema.ts";
import { Timestamp } from "./common.ts";

export const LiveTicketSchema = z
  .object({
    ticket: z.string().openapi({ description: "Single-use; pass as `?ticket=` to GET /api/orders/live" }),
    expiresAt: Timestamp,
  })
  .openapi("LiveTicket");

/** One WebSocket text message: a change of one of the user's orders (SPEC §4). */
export const LiveEventSchema = z
  .object({
    type: z.literal("order.status"),
    orderId: z.uuid().max(36),
    status: z.enum(ORDER_STATUSES),
    paymentStatus: z.enum(PAYMENT_STATUSES),
    at: Timestamp,
  })
  .openapi("LiveOrderEvent");
export type LiveEvent = z.infer<typeof LiveEventSchema>;

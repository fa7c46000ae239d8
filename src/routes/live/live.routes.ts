import { createRoute } from "@hono/zod-openapi";
import { envelope } from "../../schemas/common.ts";
import { LiveTicketSchema } from "../../schemas/live.ts";
import { bearerAuth, errorResponses, jsonResponse, SIGNED_IN, WRITE } from "../openapi.ts";

const tags = ["Live"];

export const issueTicket = createRoute({
  operationId: "issueLiveTicket",
  method: "post",
  path: "/api/orders/live/ticket",
  tags,
  summary: "A ticket for the live order-status WebSocket",
  description:
    "Browsers cannot set headers on a WebSocket: trade the bearer token for a ticket, then connect to " +
    "GET /api/orders/live?ticket=…. A ticket is valid for 30 s and for one connection.",
  security: bearerAuth,
  responses: {
    201: jsonResponse(envelope(LiveTicketSchema, "LiveTicketResponse"), "The ticket"),
    ...errorResponses(...SIGNED_IN, ...WRITE),
  },
});

export const connect = createRoute({
  operationId: "connectLive",
  method: "get",
  path: "/api/orders/live",
  tags,
  summary: "Live status of the caller's orders (WebSocket)",
  description:
    "Upgrades to a WebSocket (`Upgrade: websocket`) authenticated by a ticket from POST /api/orders/live/ticket. " +
    "Every committed status or payment change of the ticket owner's orders then arrives as one JSON text " +
    'message, a `LiveOrderEvent`: `{ "type": "order.status", "orderId", "status", "paymentStatus", "at" }`. ' +
    "A `ping` text message is answered with `pong`. Events are not replayed: after reconnecting, read the " +
    "orders again.",
  security: [{ liveTicket: [] }],
  responses: {
    101: { description: "Switching Protocols: the WebSocket is open" },
    ...errorResponses(401, 426, 503),
    401: { ...errorResponses(401)[401], description: "Missing, forged, expired or already used ticket" },
  },
});

import { createRoute } from "@hono/zod-openapi";
import { bearerAuth, errorResponses, jsonResponse, SIGNED_IN, WRITE } from "../../lib/openapi.ts";
import { envelope } from "../../schemas/common.ts";
import {
  DeadLetterIdParamSchema,
  DeadLetterPageSchema,
  DeadLetterViewSchema,
  ListDeadLettersQuerySchema,
} from "../../schemas/dead-letter.ts";

const tags = ["Admin"];

export const listDeadLetters = createRoute({
  operationId: "listDeadLetters",
  method: "get",
  path: "/api/admin/dead-letters",
  tags,
  summary: "Notifications the consumer gave up on (admins)",
  description: "Most recent failure first. By default only those not replayed since they last failed.",
  security: bearerAuth,
  request: { query: ListDeadLettersQuerySchema },
  responses: {
    200: jsonResponse(envelope(DeadLetterPageSchema, "DeadLetterPageResponse"), "One page"),
    ...errorResponses(...SIGNED_IN, 400, 403),
  },
});

export const replayDeadLetter = createRoute({
  operationId: "replayDeadLetter",
  method: "post",
  path: "/api/admin/dead-letters/{dead_letter_id}/replay",
  tags,
  summary: "Send a dead letter's event to the notification service again (admins)",
  description:
    "Queues the event again under its own id (the Idempotency-Key), so the receiver drops it if an earlier " +
    "attempt got through. If it fails again it returns to the dead letters.",
  security: bearerAuth,
  request: { params: DeadLetterIdParamSchema },
  responses: {
    200: jsonResponse(envelope(DeadLetterViewSchema, "DeadLetterResponse"), "Queued again"),
    ...errorResponses(...SIGNED_IN, ...WRITE, 400, 403, 404, 409),
  },
});

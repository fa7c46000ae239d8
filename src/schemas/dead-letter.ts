import { z } from "@hono/zod-openapi";
import { OUTBOX_TYPES } from "../db/schema.ts";
import { Cursor, int32, int64, Timestamp } from "./common.ts";
import { MAX_PAGE } from "./order.ts";

export const DeadLetterViewSchema = z
  .object({
    id: z
      .string()
      .openapi({ description: "The event's id (its Idempotency-Key), or `message:<queue message id>`" }),
    type: z.enum(OUTBOX_TYPES).nullable().openapi({ description: "Null when the message was not an event" }),
    orderId: z.string().nullable(),
    userId: int64(-Number.MAX_SAFE_INTEGER).nullable(),
    attempts: int32(),
    lastError: z.string(),
    failedAt: Timestamp,
    replayedAt: Timestamp.nullable(),
    replays: int32(),
    body: z.unknown().openapi({ description: "The message exactly as the queue delivered it" }),
  })
  .openapi("DeadLetter");

export const DeadLetterPageSchema = z
  .object({ deadLetters: z.array(DeadLetterViewSchema).max(MAX_PAGE), nextCursor: z.string().nullable() })
  .openapi("DeadLetterPage");

export const ListDeadLettersQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(50).openapi({ example: 50, format: "int32" }),
  cursor: Cursor(300),
  pending: z
    .enum(["true", "false"])
    .default("true")
    .transform((value) => value === "true")
    .openapi({ description: "`true` (default): only those not replayed since they last failed" }),
});

export const DeadLetterIdParamSchema = z.object({
  // An event id (a UUID) or `message:<queue message id>`: printable ASCII either way.
  dead_letter_id: z
    .string()
    .min(1)
    .max(300)
    .regex(/^[\x21-\x7e]+$/, "must be a dead letter id"),
});
export type DeadLetter = z.infer<typeof DeadLetterViewSchema>;

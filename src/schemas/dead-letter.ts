import { z } from "@hono/zod-openapi";
import { OUTBOX_TYPES } from "../db/schema.ts";
import { Timestamp } from "./common.ts";

export const DeadLetterViewSchema = z
  .object({
    id: z
      .string()
      .openapi({ description: "The event's id (its Idempotency-Key), or `message:<queue message id>`" }),
    type: z.enum(OUTBOX_TYPES).nullable().openapi({ description: "Null when the message was not an event" }),
    orderId: z.string().nullable(),
    userId: z.number().int().nullable(),
    attempts: z.number().int(),
    lastError: z.string(),
    failedAt: Timestamp,
    replayedAt: Timestamp.nullable(),
    replays: z.number().int(),
    body: z.unknown().openapi({ description: "The message exactly as the queue delivered it" }),
  })
  .openapi("DeadLetter");

export const DeadLetterPageSchema = z
  .object({ deadLetters: z.array(DeadLetterViewSchema), nextCursor: z.string().nullable() })
  .openapi("DeadLetterPage");

export const ListDeadLettersQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50).openapi({ example: 50 }),
  cursor: z.string().max(300).optional().openapi({ description: "nextCursor of the previous page" }),
  pending: z
    .enum(["true", "false"])
    .default("true")
    .transform((value) => value === "true")
    .openapi({ description: "`true` (default): only those not replayed since they last failed" }),
});

export const DeadLetterIdParamSchema = z.object({
  dead_letter_id: z.string().min(1).max(300),
});
export type DeadLetter = z.infer<typeof DeadLetterViewSchema>;

import { z } from "@hono/zod-openapi";
import { ERROR_CODES } from "../lib/errors.ts";

export const ErrorResponseSchema = z
  .object({
    success: z.literal(false),
    message: z.string(),
    error: z.object({
      code: z.enum(ERROR_CODES),
      details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("ErrorResponse");

/** The success envelope: `{ success: true, message, data }`. */
export function envelope<T extends z.ZodType>(data: T, name?: string) {
  const schema = z.object({ success: z.literal(true), message: z.string(), data });
  return name ? schema.openapi(name) : schema;
}

export const Timestamp = z.iso.datetime().openapi({ example: "2026-11-25T12:00:00.000Z" });
export const Currency = z
  .string()
  .regex(/^[A-Z]{3}$/)
  .openapi({ example: "USD" });
/** Money is an integer in minor units (99999 = 999.99) next to a currency code. */
export const MinorUnits = z.number().int().openapi({ example: 99999 });

/** `Idempotency-Key` on POSTs (SPEC §4). */
export const IdempotencyKeyHeaderSchema = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces")
    .optional()
    .openapi({ description: "Replays the first response for 24 h (same key and body), per user" }),
});

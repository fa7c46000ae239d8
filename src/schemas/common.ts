import { z } from "@hono/zod-openapi";
import { ERROR_CODES, MAX_ERROR_DETAILS } from "../lib/errors.ts";

export const ErrorResponseSchema = z
  .object({
    success: z.literal(false),
    message: z.string(),
    error: z.object({
      code: z.enum(ERROR_CODES),
      details: z
        .array(z.object({ path: z.string(), message: z.string() }))
        .max(MAX_ERROR_DETAILS)
        .optional(),
    }),
  })
  .openapi("ErrorResponse");

/** The success envelope: `{ success: true, message, data }`. */
export function envelope<T extends z.ZodType>(data: T, name?: string) {
  const schema = z.object({ success: z.literal(true), message: z.string(), data });
  return name ? schema.openapi(name) : schema;
}

/** As `Date.prototype.toISOString` writes it (24 characters; 27 past the year 9999). */
export const Timestamp = z.iso.datetime().max(27).openapi({ example: "2026-11-25T12:00:00.000Z" });
export const Currency = z
  .string()
  .max(3)
  .regex(/^[A-Z]{3}$/)
  .openapi({ example: "USD" });
/**
 * Integers with the range and format the document states for them: what JavaScript numbers hold
 * exactly (int64 up to 2^53 - 1), or a 32-bit count.
 */
export const int64 = (min = 0) =>
  z.number().int().min(min).max(Number.MAX_SAFE_INTEGER).openapi({ format: "int64" });
export const int32 = (min = 0, max = 2_147_483_647) =>
  z.number().int().min(min).max(max).openapi({ format: "int32" });

/** Money is an integer in minor units (99999 = 999.99) next to a currency code. */
export const MinorUnits = int64().openapi({ example: 99999 });
/** A user id, as tokens carry it. */
export const UserId = int64(1);
/** A guest's id, as POST /api/guest issues it (a random UUID). */
export const GuestId = z.uuid().max(36).openapi({ example: "5b0e7e0c-3f5a-4b8e-9a55-0f3c2d1e4a7b" });
/** Keyset cursors are base64url (lib/cursor.ts). */
export const Cursor = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/, "is not a cursor this API issued")
    .optional()
    .openapi({ description: "nextCursor of the previous page" });

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

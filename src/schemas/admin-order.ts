import { z } from "@hono/zod-openapi";
import { ATTEMPT_STATUSES, ORDER_STATUSES, PAYMENT_METHODS, PAYMENT_STATUSES } from "../db/schema.ts";
import { Currency, Cursor, int32, int64, MinorUnits, Timestamp, UserId } from "./common.ts";
import { MAX_PAGE, OrderSchema, OrderStatusSchema } from "./order.ts";

/**
 * A filter of one or more values of `values`: repeated (`?status=a&status=b`), comma-separated
 * (`?status=a,b`), or both. The document states it as the comma-separated form.
 */
function oneOrMore<const T extends readonly [string, ...string[]]>(values: T, name: string) {
  const one = `(${values.join("|")})`;
  const pattern = `^${one}(,${one})*$`;
  return z
    .preprocess(
      (input) => (Array.isArray(input) ? input.join(",") : input),
      z
        .string()
        .max(200)
        .regex(
          new RegExp(`^${one}(,${one})*$`),
          `must be one or more of ${values.join(", ")}, comma-separated`,
        )
        .transform((text) => [...new Set(text.split(","))] as T[number][]),
    )
    .optional()
    .openapi({
      type: "string",
      maxLength: 200,
      pattern,
      description: `One or more ${name}, comma-separated or repeated: ${values.join(", ")}`,
      example: values[0],
    });
}

const Instant = (description: string) =>
  z.iso
    .datetime({ offset: true })
    .max(35)
    .transform((text) => new Date(text))
    .optional()
    .openapi({
      type: "string",
      format: "date-time",
      maxLength: 35,
      description,
      example: "2026-12-01T00:00:00Z",
    });

const Window = {
  createdFrom: Instant("Orders created at or after this instant (ISO 8601)"),
  createdTo: Instant("Orders created before this instant (ISO 8601)"),
};

function checkWindow(query: { createdFrom?: Date; createdTo?: Date }, context: z.RefinementCtx) {
  if (query.createdFrom && query.createdTo && query.createdFrom > query.createdTo) {
    context.addIssue({ code: "custom", path: ["createdFrom"], message: "must not be after createdTo" });
  }
}

export const AdminOrderSearchQuerySchema = z
  .object({
    status: oneOrMore(ORDER_STATUSES, "order statuses"),
    paymentStatus: oneOrMore(PAYMENT_STATUSES, "payment statuses"),
    paymentMethod: oneOrMore(PAYMENT_METHODS, "payment methods"),
    userId: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional().openapi({
      type: "integer",
      format: "int64",
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: "The buyer's user id",
    }),
    ...Window,
    q: z
      .string()
      .trim()
      .min(1)
      .max(64)
      // Whatever shipping accepts as a tracking number (spaces included), bar control characters.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
      .regex(/^[^\x00-\x1f\x7f]+$/, "must be an order id or a tracking number")
      .optional()
      .openapi({ description: "An order id, or an exact tracking number" }),
    limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(20).openapi({ example: 20, format: "int32" }),
    cursor: Cursor(300).openapi({
      description: "nextCursor of the previous page, sent with the same filters",
    }),
  })
  .superRefine(checkWindow);
export type AdminOrderSearchQuery = z.infer<typeof AdminOrderSearchQuerySchema>;

export const AdminSummaryQuerySchema = z.object(Window).superRefine(checkWindow);

const countsOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.object(
    Object.fromEntries(values.map((value) => [value, int64()])) as Record<
      T[number],
      ReturnType<typeof int64>
    >,
  );

export const AdminSummarySchema = z
  .object({
    window: z.object({ createdFrom: Timestamp, createdTo: Timestamp }),
    byStatus: countsOf(ORDER_STATUSES).openapi({ description: "Orders created in the window, by status" }),
    byPaymentStatus: countsOf(PAYMENT_STATUSES).openapi({
      description: "Orders created in the window, by payment status",
    }),
    overduePending: int64().openapi({
      description: "Pending orders past their payment (or cash-on-delivery confirmation) deadline, any age",
    }),
    deadLetters: int64().openapi({ description: "Dead letters not replayed since they last failed" }),
    outboxBacklog: int64().openapi({ description: "Order events written but not yet handed to the queue" }),
    revenue: z
      .array(z.object({ currency: Currency, amount: MinorUnits }))
      .max(200)
      .openapi({
        description:
          "Totals of the window's orders whose payment was collected (paymentStatus paid): paid, processing, " +
          "shipped or delivered by card, UPI or net banking, and cash on delivery once delivered",
      }),
  })
  .openapi("AdminOrderSummary");

export const AdminOrderDetailSchema = z
  .object({
    order: OrderSchema,
    history: z
      .array(
        z.object({
          // Inline: the generator drops `null` from a nullable reference to the named OrderStatus.
          fromStatus: z
            .enum(ORDER_STATUSES)
            .nullable()
            .openapi({ description: "Null for the order's creation" }),
          status: OrderStatusSchema,
          at: Timestamp,
          actorRole: z.enum(["USER", "ADMIN", "SYSTEM"]),
          actorId: UserId.nullable(),
          note: z.string().nullable(),
        }),
      )
      .openapi({ description: "Every change of the order, oldest first" }),
    payments: z
      .array(
        z.object({
          attempt: int32(1),
          method: z.enum(PAYMENT_METHODS),
          status: z.enum(ATTEMPT_STATUSES),
          reference: z.string().nullable().openapi({
            description:
              "What identifies the instrument without being a secret: a card's last four digits, a UPI id, a bank code",
          }),
          amount: MinorUnits,
          currency: Currency,
          declineReason: z.string().nullable(),
          createdAt: Timestamp,
          settledAt: Timestamp.nullable(),
        }),
      )
      .openapi({ description: "Payment attempts, first first" }),
    allowedStatuses: z.array(OrderStatusSchema).max(ORDER_STATUSES.length).openapi({
      description: "The statuses an admin may move the order to now (shipping also needs a tracking number)",
    }),
  })
  .openapi("AdminOrderDetail");
export type AdminOrderDetail = z.infer<typeof AdminOrderDetailSchema>;

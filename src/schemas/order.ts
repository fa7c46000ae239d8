import { z } from "@hono/zod-openapi";
import { ORDER_STATUSES, PAYMENT_METHODS, PAYMENT_STATUSES } from "../db/schema.ts";
import { MAX_CART_LINES, MAX_LINE_QUANTITY } from "./cart.ts";
import { Currency, Cursor, int32, MinorUnits, Timestamp, UserId } from "./common.ts";

/**
 * Free text: at most `max` characters as sent, then trimmed, not blank, and without NUL characters
 * (which Postgres text cannot hold). The pattern puts both into the document too: its minLength
 * alone would promise that "  " is accepted.
 */
const text = (max: number, whenMissing = "is required") =>
  z
    .string({ error: (issue) => (issue.input === undefined ? whenMissing : "must be a string") })
    .max(max, `must be at most ${max} characters`)
    .trim()
    .min(1, "must not be empty")
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what it refuses
    .regex(/^[^\x00]*[^\x00\s][^\x00]*$/, "must not be empty nor contain NUL characters");

export const ShippingAddressSchema = z
  .object({
    street: text(200).openapi({ example: "123 Main St" }),
    city: text(100).openapi({ example: "Mumbai" }),
    state: text(100).openapi({ example: "Maharashtra" }),
    postalCode: text(20).openapi({ example: "400001" }),
    country: text(100).openapi({ example: "India" }),
  })
  .openapi("ShippingAddress");

/**
 * `MM/YY`, valid through the end of that month: a card whose month has passed is refused (SPEC §4).
 * "Passed" where the customer is: the month is judged 12 hours behind UTC (the westernmost time
 * zone), so nobody's card is refused on the last evening of its month.
 */
const LATEST_OFFSET_MS = 12 * 60 * 60 * 1000;
const Expiry = z
  .string()
  .max(5)
  .regex(/^(0[1-9]|1[0-2])\/\d{2}$/, "must be MM/YY")
  .refine((expiry) => {
    const [month, year] = expiry.split("/").map(Number) as [number, number];
    const now = new Date(Date.now() - LATEST_OFFSET_MS);
    return (
      2000 + year > now.getUTCFullYear() ||
      (2000 + year === now.getUTCFullYear() && month >= now.getUTCMonth() + 1)
    );
  }, "the card has expired")
  .openapi({ example: "12/30", description: "MM/YY, not before the current month" });

// Only a masked number is accepted (the last four digits visible): a full card number never reaches us.
const MaskedCardNumber = z
  .string()
  .max(24)
  .regex(
    /^[*Xx•]{4}([ -]?[*Xx•]{4}){1,2}[ -]?[*Xx•]{0,4}[ -]?\d{4}$/,
    "must be a masked card number like **** **** **** 1234",
  )
  .openapi({ example: "**** **** **** 1234" });

const CardDetails = z
  .object({ cardNumber: MaskedCardNumber, expiryDate: Expiry })
  .openapi("CardPaymentDetails");
const UpiDetails = z
  .object({
    upiId: z
      .string()
      .max(321)
      .regex(/^[A-Za-z0-9._-]{2,256}@[A-Za-z]{2,64}$/, "must be a UPI id like name@bank"),
  })
  .openapi("UpiPaymentDetails");
const NetBankingDetails = z
  .object({
    bankCode: z
      .string()
      .max(11)
      .regex(/^[A-Z0-9]{2,11}$/, "must be a bank code like HDFC"),
  })
  .openapi("NetBankingPaymentDetails");
const NoDetails = z.object({}).optional().openapi("CashOnDeliveryPaymentDetails");

/** A payment method with the details its own schema demands. */
export const PaymentSchema = z.discriminatedUnion("paymentMethod", [
  z.object({ paymentMethod: z.literal("credit_card"), paymentDetails: CardDetails }),
  z.object({ paymentMethod: z.literal("upi"), paymentDetails: UpiDetails }),
  z.object({ paymentMethod: z.literal("net_banking"), paymentDetails: NetBankingDetails }),
  z.object({ paymentMethod: z.literal("cash_on_delivery"), paymentDetails: NoDetails }),
]);

export type Payment = z.infer<typeof PaymentSchema>;

export const CreateOrderBodySchema = z
  .intersection(z.object({ shippingAddress: ShippingAddressSchema }), PaymentSchema)
  .openapi("CreateOrder", {
    example: {
      shippingAddress: {
        street: "123 Main St",
        city: "Mumbai",
        state: "Maharashtra",
        postalCode: "400001",
        country: "India",
      },
      paymentMethod: "credit_card",
      paymentDetails: { cardNumber: "**** **** **** 1234", expiryDate: "12/30" },
    },
  });

export type CreateOrderBody = z.infer<typeof CreateOrderBodySchema>;

export const RetryPaymentBodySchema = PaymentSchema.openapi("RetryPayment");

export const OrderItemSchema = z
  .object({
    productId: z.string(),
    productName: z.string(),
    price: MinorUnits,
    quantity: int32(1, MAX_LINE_QUANTITY),
    totalPrice: MinorUnits,
    image: z.string().nullable(),
  })
  .openapi("OrderItem");

export const OrderStatusSchema = z.enum(ORDER_STATUSES).openapi("OrderStatus");
export const PaymentStatusSchema = z.enum(PAYMENT_STATUSES).openapi("PaymentStatus");

export const OrderSchema = z
  .object({
    id: z.uuid().max(36),
    userId: UserId,
    status: OrderStatusSchema,
    paymentStatus: PaymentStatusSchema,
    paymentMethod: z.enum(PAYMENT_METHODS),
    totalAmount: MinorUnits,
    currency: Currency,
    items: z.array(OrderItemSchema).max(MAX_CART_LINES),
    shippingAddress: ShippingAddressSchema,
    trackingNumber: z.string().nullable(),
    carrier: z.string().nullable(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    estimatedDelivery: Timestamp.nullable(),
  })
  .openapi("Order");

export type Order = z.infer<typeof OrderSchema>;

/** The largest page of orders (and of dead letters) one request may ask for. */
export const MAX_PAGE = 100;

export const OrderIdParamSchema = z.object({
  order_id: z
    .uuid("must be an order id")
    .max(36)
    .openapi({ param: { name: "order_id", in: "path" } }),
});

export const ListOrdersQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(20).openapi({ example: 20, format: "int32" }),
  cursor: Cursor(200),
  status: OrderStatusSchema.optional(),
});

export const OrderPageSchema = z
  .object({ orders: z.array(OrderSchema).max(MAX_PAGE), nextCursor: z.string().nullable() })
  .openapi("OrderPage");

const statusChange = { carrier: text(64).optional(), note: text(500).optional() };

/** Shipping needs a tracking number: one alternative of its own, so the document says so too. */
export const UpdateStatusBodySchema = z
  .discriminatedUnion("status", [
    z.object({
      status: z.literal("shipped"),
      trackingNumber: text(64, "is required when status is shipped"),
      ...statusChange,
    }),
    z.object({
      status: OrderStatusSchema.exclude(["shipped"]),
      trackingNumber: text(64).optional(),
      ...statusChange,
    }),
  ])
  .openapi("UpdateOrderStatus");

export type UpdateStatusBody = z.infer<typeof UpdateStatusBodySchema>;

export const TrackingSchema = z
  .object({
    orderId: z.uuid().max(36),
    status: OrderStatusSchema,
    paymentStatus: PaymentStatusSchema,
    trackingNumber: z.string().nullable(),
    carrier: z.string().nullable(),
    estimatedDelivery: Timestamp.nullable(),
    history: z.array(z.object({ status: OrderStatusSchema, at: Timestamp, note: z.string().nullable() })),
  })
  .openapi("Tracking");

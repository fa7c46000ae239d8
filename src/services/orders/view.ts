import type { OrderLine, OrderRow } from "../../db/queries.ts";
import type { Order } from "../../schemas/order.ts";

/** The API's shape of an order (SPEC §3) from its rows. */
export function toOrder(row: OrderRow, items: OrderLine[]): Order {
  return {
    id: row.id,
    userId: row.userId,
    status: row.status,
    paymentStatus: row.paymentStatus,
    paymentMethod: row.paymentMethod,
    totalAmount: row.totalAmount,
    currency: row.currency,
    items: items.map((item) => ({
      productId: item.productId,
      productName: item.productName,
      price: item.price,
      quantity: item.quantity,
      totalPrice: item.totalPrice,
      image: item.image,
    })),
    shippingAddress: row.shippingAddress,
    trackingNumber: row.trackingNumber,
    carrier: row.carrier,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    estimatedDelivery: row.estimatedDelivery?.toISOString() ?? null,
  };
}

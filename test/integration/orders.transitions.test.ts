import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { ORDER_STATUSES, type OrderStatus } from "../../src/db/schema.ts";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { addToCart, CASH_ON_DELIVERY, cartWith, placeOrder, query, runSweep } from "../helpers/orders.ts";
import { createProduct, readProduct } from "../helpers/products.ts";

type User = Awaited<ReturnType<typeof newUser>>;

/** SPEC §4's table, for an order paid by card. */
const ADMIN_ALLOWED = new Set([
  "pending->paid",
  "pending->cancelled",
  "paid->processing",
  "paid->cancelled",
  "processing->shipped",
  "processing->cancelled",
  "shipped->delivered",
]);

/** An order of `owner`'s, placed through the API, then put in `status` (arranged in the database). */
async function orderIn(owner: User, status: OrderStatus, paymentMethod = "credit_card"): Promise<string> {
  await cartWith(owner, 1);
  const created = await placeOrder(owner, CASH_ON_DELIVERY);
  expect(created.status).toBe(201);
  const id = created.body.data.id as string;
  const paymentStatus = ["paid", "processing", "shipped", "delivered"].includes(status) ? "paid" : "pending";
  await query(
    sql`UPDATE orders SET status = ${status}, payment_method = ${paymentMethod}, payment_status = ${paymentStatus} WHERE id = ${id}`,
  );
  return id;
}

function move(user: User, orderId: string, to: OrderStatus) {
  return api("PUT", `/api/orders/${orderId}/status`, {
    headers: user.headers,
    json: { status: to, ...(to === "shipped" ? { trackingNumber: "TRK-1" } : {}) },
  });
}

describe("status transitions", () => {
  it("lets an admin make exactly the moves of the table, every other pair being 409", async () => {
    const admin = await newUser("ADMIN");
    const outcomes: string[] = [];
    for (const from of ORDER_STATUSES) {
      for (const to of ORDER_STATUSES) {
        // A new owner each time: refused moves leave orders pending, and a user may hold only 5.
        const owner = await newUser();
        const id = await orderIn(owner, from);
        const res = await move(admin, id, to);
        const expected = ADMIN_ALLOWED.has(`${from}->${to}`) ? 200 : 409;
        outcomes.push(
          `${from}->${to}: ${res.status}${res.status === expected ? "" : ` (expected ${expected})`}`,
        );
        if (expected === 409) expect(res.body.error.code).toBe("INVALID_STATUS_TRANSITION");
        else expect(res.body.data.status).toBe(to);
      }
    }
    expect(outcomes.filter((line) => line.includes("expected"))).toEqual([]);
  });

  it("lets a customer only cancel their own pending or paid order", async () => {
    const outcomes: string[] = [];
    for (const from of ORDER_STATUSES) {
      for (const to of ORDER_STATUSES) {
        const owner = await newUser();
        const id = await orderIn(owner, from);
        const res = await move(owner, id, to);
        const expected = to !== "cancelled" ? 403 : from === "pending" || from === "paid" ? 200 : 409;
        outcomes.push(
          `${from}->${to}: ${res.status}${res.status === expected ? "" : ` (expected ${expected})`}`,
        );
      }
    }
    expect(outcomes.filter((line) => line.includes("expected"))).toEqual([]);
  });

  it("sends cash on delivery from pending to processing, never to paid", async () => {
    const owner = await newUser();
    const admin = await newUser("ADMIN");
    expect(
      (await move(admin, await orderIn(owner, "pending", "cash_on_delivery"), "processing")).status,
    ).toBe(200);
    const paid = await move(admin, await orderIn(owner, "pending", "cash_on_delivery"), "paid");
    expect(paid.status).toBe(409);
    expect(paid.body.error.code).toBe("INVALID_STATUS_TRANSITION");
  });

  it("requires a tracking number to ship", async () => {
    const owner = await newUser();
    const admin = await newUser("ADMIN");
    const id = await orderIn(owner, "processing");
    const res = await api("PUT", `/api/orders/${id}/status`, {
      headers: admin.headers,
      json: { status: "shipped" },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: "VALIDATION_FAILED",
      details: [{ path: "trackingNumber", message: "is required when status is shipped" }],
    });
    const [row] = await query<{ status: string }>(sql`SELECT status FROM orders WHERE id = ${id}`);
    expect(row?.status).toBe("processing");
  });

  it("says in the document that shipping needs a tracking number (the fuzz test found it did not)", async () => {
    const document = (await api("GET", "/openapi.json")).body;
    const shipped = document.components.schemas.UpdateOrderStatus.oneOf.find(
      (variant: { properties: { status: { enum: string[] } } }) =>
        variant.properties.status.enum.includes("shipped"),
    );
    expect(shipped.properties.status.enum).toEqual(["shipped"]);
    expect(shipped.required).toContain("trackingNumber");
  });

  it("rejects an unknown status with 400", async () => {
    const owner = await newUser();
    const admin = await newUser("ADMIN");
    const id = await orderIn(owner, "pending");
    const res = await api("PUT", `/api/orders/${id}/status`, {
      headers: admin.headers,
      json: { status: "lost" },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
  });
});

describe("status changes under concurrency", () => {
  it("applies one of 10 simultaneous identical moves of an order, and refuses the others as already made", async () => {
    const admin = await newUser("ADMIN");
    const id = await orderIn(await newUser(), "processing");
    const results = await Promise.all(Array.from({ length: 10 }, () => move(admin, id, "shipped")));
    const outcomes = results.map((res) =>
      res.status === 200 ? "200" : `${res.status} ${res.body.error.code}`,
    );
    expect(outcomes.sort()).toEqual(["200", ...Array(9).fill("409 INVALID_STATUS_TRANSITION")]);
    const history = await query<{ to_status: string }>(
      sql`SELECT to_status FROM order_status_history WHERE order_id = ${id} AND to_status = 'shipped'`,
    );
    expect(history).toHaveLength(1);
    const events = await query(
      sql`SELECT 1 FROM outbox WHERE order_id = ${id} AND type = 'order_status_update'`,
    );
    expect(events).toHaveLength(1);
  });

  it("answers a cancellation racing a shipment on its order state as it then is, never both", async () => {
    const admin = await newUser("ADMIN");
    const owner = await newUser();
    const id = await orderIn(owner, "processing");
    const [cancel, ship] = await Promise.all([move(admin, id, "cancelled"), move(admin, id, "shipped")]);
    // Either order of the two is valid: cancelled, then shipping refused; or shipped, then cancelling refused.
    expect([cancel.status, ship.status].sort()).toEqual([200, 409]);
    const [row] = await query<{ status: string }>(sql`SELECT status FROM orders WHERE id = ${id}`);
    expect(row?.status).toBe(cancel.status === 200 ? "cancelled" : "shipped");
    const releases = await query(sql`SELECT 1 FROM stock_releases WHERE order_id = ${id}`);
    expect(releases).toHaveLength(cancel.status === 200 ? 1 : 0);
  });

  it("lets 200 owners cancel at once without exhausting the database's connections", async () => {
    const owners = await Promise.all(Array.from({ length: 200 }, () => newUser()));
    const product = await createProduct({ stock: 200 });
    await Promise.all(owners.map((owner) => addToCart(owner, product.id, 1)));
    const placed = await Promise.all(owners.map((owner) => placeOrder(owner, CASH_ON_DELIVERY)));
    expect(placed.filter((res) => res.status === 201)).toHaveLength(200);
    expect((await readProduct(product.id)).stock).toBe(0);

    const cancelled = await Promise.all(
      owners.map((owner, index) => move(owner, placed[index]?.body.data.id, "cancelled")),
    );
    const outcomes = new Map<string, number>();
    for (const res of cancelled) {
      const outcome = res.status === 200 ? "200" : `${res.status} ${res.body.error?.code}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    expect(Object.fromEntries(outcomes)).toEqual({ "200": 200 });
    // Each cancellation gave its unit back (or left it owed to the sweep, which then does).
    await runSweep();
    expect((await readProduct(product.id)).stock).toBe(200);
  });
});

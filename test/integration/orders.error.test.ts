import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { stockReleasesInDoubt } from "../../src/services/stock.ts";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import {
  addToCart,
  CASH_ON_DELIVERY,
  cartWith,
  paidOrder,
  placeOrder,
  query,
  runSweep,
  SEED_ORDER,
  withDb,
} from "../helpers/orders.ts";
import { createProduct, readProduct, updateProduct } from "../helpers/products.ts";

const address = SEED_ORDER.shippingAddress;

/**
 * A cart of two products (10 in stock each): 2 of the first and 3 of the last in product-id order,
 * the order reservations go in, with the product service failing the last one's reservation.
 */
async function cartWhoseLastReservationFails(user: { headers: Record<string, string> }) {
  const [first, last] = [await createProduct({ stock: 10 }), await createProduct({ stock: 10 })].sort(
    (a, b) => (a.id < b.id ? -1 : 1),
  );
  if (!first || !last) throw new Error("unreachable");
  await addToCart(user, first.id, 2);
  await addToCart(user, last.id, 3);
  await updateProduct(last.id, { faults: { stock: "error" } });
  return { first, last };
}

describe("orders: bad input is a 400 envelope", () => {
  const invalid: [string, unknown][] = [
    ["no shipping address", { paymentMethod: "cash_on_delivery" }],
    ["an empty street", { ...SEED_ORDER, shippingAddress: { ...address, street: "" } }],
    // The document says so too (pattern \S, maxLength as sent): found by the fuzz test.
    ["a street of spaces", { ...SEED_ORDER, shippingAddress: { ...address, street: " \t " } }],
    [
      "a city longer than 100 characters as sent",
      { ...SEED_ORDER, shippingAddress: { ...address, city: ` ${"a".repeat(100)}` } },
    ],
    ["a missing postal code", { ...SEED_ORDER, shippingAddress: { ...address, postalCode: undefined } }],
    ["an unknown payment method", { shippingAddress: address, paymentMethod: "bitcoin", paymentDetails: {} }],
    ["no payment method", { shippingAddress: address }],
    [
      "an unmasked card number",
      { ...SEED_ORDER, paymentDetails: { cardNumber: "4111111111111111", expiryDate: "12/30" } },
    ],
    ["a card without expiry", { ...SEED_ORDER, paymentDetails: { cardNumber: "**** **** **** 1234" } }],
    [
      "an expiry not in MM/YY",
      { ...SEED_ORDER, paymentDetails: { cardNumber: "**** **** **** 1234", expiryDate: "2030-12" } },
    ],
    [
      "month 13",
      { ...SEED_ORDER, paymentDetails: { cardNumber: "**** **** **** 1234", expiryDate: "13/30" } },
    ],
    [
      "card details for UPI",
      { shippingAddress: address, paymentMethod: "upi", paymentDetails: SEED_ORDER.paymentDetails },
    ],
    [
      "a UPI id without a bank",
      { shippingAddress: address, paymentMethod: "upi", paymentDetails: { upiId: "shopper" } },
    ],
    [
      "a lowercase bank code",
      { shippingAddress: address, paymentMethod: "net_banking", paymentDetails: { bankCode: "hdfc" } },
    ],
  ];
  for (const [name, body] of invalid) {
    it(`rejects ${name}, touching neither cart nor stock`, async () => {
      const user = await newUser();
      const product = await cartWith(user, 1, { stock: 10 });
      const res = await placeOrder(user, body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ success: false, error: { code: "VALIDATION_FAILED" } });
      expect(res.body.error.details.length).toBeGreaterThan(0);
      expect((await readProduct(product.id)).stock).toBe(10);
      const cart = await api("GET", "/api/cart", { headers: user.headers });
      expect(cart.body.data.items).toHaveLength(1);
    });
  }

  it("refuses a card whose month has passed, naming its expiry, and takes one expiring this month", async () => {
    const mmYY = (date: Date) =>
      `${String(date.getUTCMonth() + 1).padStart(2, "0")}/${String(date.getUTCFullYear() % 100).padStart(2, "0")}`;
    const now = new Date();
    // Judged 12 h behind UTC, so "last month" is the one before the month of 12 hours ago.
    const behind = new Date(Date.now() - 12 * 60 * 60 * 1000);
    const lastMonth = new Date(Date.UTC(behind.getUTCFullYear(), behind.getUTCMonth() - 1, 1));
    const user = await newUser();
    const product = await cartWith(user, 1, { stock: 10 });
    for (const expiryDate of [mmYY(lastMonth), "12/25", "01/00"]) {
      const res = await placeOrder(user, {
        ...SEED_ORDER,
        paymentDetails: { ...SEED_ORDER.paymentDetails, expiryDate },
      });
      expect(res.status, expiryDate).toBe(400);
      expect(res.body.error).toEqual({
        code: "VALIDATION_FAILED",
        details: [{ path: "paymentDetails.expiryDate", message: "the card has expired" }],
      });
    }
    expect((await readProduct(product.id)).stock).toBe(10);
    const thisMonth = await placeOrder(user, {
      ...SEED_ORDER,
      paymentDetails: { ...SEED_ORDER.paymentDetails, expiryDate: mmYY(now) },
    });
    expect(thisMonth.status).toBe(201);
  });

  it("rejects a bad limit, status or cursor on the order list", async () => {
    const user = await newUser();
    for (const query of ["limit=0", "limit=101", "limit=abc", "status=lost", "cursor=garbage"]) {
      const res = await api("GET", `/api/orders?${query}`, { headers: user.headers });
      expect(res.status, query).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_FAILED");
    }
  });

  it("rejects an order id that is not a UUID", async () => {
    const user = await newUser();
    const res = await api("GET", "/api/orders/12345", { headers: user.headers });
    expect(res.status).toBe(400);
  });
});

describe("orders: business conflicts", () => {
  it("caps the orders a user holds pending, counting neither paid nor accepted ones", async () => {
    const user = await newUser();
    const admin = await newUser("ADMIN");
    // A paid order does not count.
    await cartWith(user, 1);
    await paidOrder(user);
    const pending: string[] = [];
    for (let i = 0; i < 5; i++) {
      await cartWith(user, 1);
      const placed = await placeOrder(user, CASH_ON_DELIVERY);
      expect(placed.status).toBe(201);
      pending.push(placed.body.data.id);
    }
    const product = await cartWith(user, 2, { stock: 10 });
    const refused = await placeOrder(user, CASH_ON_DELIVERY);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("TOO_MANY_OPEN_ORDERS");
    expect((await readProduct(product.id)).stock).toBe(10);
    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items.map((item: { productId: string }) => item.productId)).toEqual([product.id]);

    // Cash on delivery accepted into processing is no longer pending: room for one more.
    const accepted = await api("PUT", `/api/orders/${pending[0]}/status`, {
      headers: admin.headers,
      json: { status: "processing" },
    });
    expect(accepted.status).toBe(200);
    expect((await placeOrder(user, CASH_ON_DELIVERY)).status).toBe(201);
    expect((await readProduct(product.id)).stock).toBe(8);
  });

  it("refuses to check out an empty cart", async () => {
    const user = await newUser();
    const res = await placeOrder(user);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("EMPTY_CART");
  });

  it("refuses a product that went inactive, reserving nothing", async () => {
    const user = await newUser();
    const kept = await cartWith(user, 1, { stock: 10 });
    const retired = await cartWith(user, 1, { stock: 10 });
    await updateProduct(retired.id, { isActive: false });
    const res = await placeOrder(user, CASH_ON_DELIVERY);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("PRODUCT_UNAVAILABLE");
    expect((await readProduct(kept.id)).stock).toBe(10);
    expect((await readProduct(retired.id)).stock).toBe(10);
  });

  it("charges the product service's current price, not the cart's snapshot", async () => {
    const user = await newUser();
    const product = await cartWith(user, 2, { price: 1000 });
    await updateProduct(product.id, { price: 1500 });
    const res = await placeOrder(user, CASH_ON_DELIVERY);
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({ totalAmount: 3000, items: [{ price: 1500, totalPrice: 3000 }] });
  });

  it("answers 409 for the same Idempotency-Key with another body, and never replays another user's key", async () => {
    const user = await newUser();
    const other = await newUser();
    await cartWith(user, 1);
    const key = `key-${crypto.randomUUID()}`;
    const first = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(first.status).toBe(201);

    const reused = await placeOrder(user, SEED_ORDER, { "idempotency-key": key });
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");

    await cartWith(other, 1);
    const theirs = await placeOrder(other, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get("idempotent-replayed")).toBeNull();
    expect(theirs.body.data.id).not.toBe(first.body.data.id);
    expect(theirs.body.data.userId).toBe(other.id);
  });

  it("frees a key whose request failed, so a retry with it can succeed", async () => {
    const user = await newUser();
    const key = `key-${crypto.randomUUID()}`;
    const empty = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(empty.status).toBe(409);
    await cartWith(user, 1);
    const retried = await placeOrder(user, CASH_ON_DELIVERY, { "idempotency-key": key });
    expect(retried.status).toBe(201);
  });
});

describe("orders: product service failing mid-checkout", () => {
  it("gives back every reservation, keeps the cart and writes nothing when a later line fails", async () => {
    const user = await newUser();
    const { first, last } = await cartWhoseLastReservationFails(user);

    const res = await placeOrder(user, CASH_ON_DELIVERY);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("UPSTREAM_UNAVAILABLE");
    expect((await readProduct(first.id)).stock).toBe(10);
    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items).toHaveLength(2);
    const rows = await query(sql`SELECT 1 FROM orders WHERE user_id = ${user.id}`);
    expect(rows).toHaveLength(0);

    // The cart was unlocked: once the service recovers, the same checkout goes through.
    await updateProduct(last.id, { faults: {} });
    expect((await placeOrder(user, CASH_ON_DELIVERY)).status).toBe(201);
  });

  it("answers 503 when the product service is down at checkout", async () => {
    const user = await newUser();
    const product = await cartWith(user, 1);
    await updateProduct(product.id, { faults: { get: "reset" } });
    const res = await placeOrder(user, CASH_ON_DELIVERY);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("UPSTREAM_UNAVAILABLE");
  });
});

describe("orders: stock owed back when a compensation fails", () => {
  it("records a release the product service refused, and the sweep applies it once it recovers", async () => {
    const user = await newUser();
    // The first line is reserved, the last fails, and giving the first back fails too.
    const { first } = await cartWhoseLastReservationFails(user);
    await updateProduct(first.id, { faults: { release: "error" } });

    const res = await placeOrder(user, CASH_ON_DELIVERY);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("UPSTREAM_UNAVAILABLE");
    expect((await readProduct(first.id)).stock).toBe(8);
    const owed = await query<{ quantity: number; released_at: string | null }>(
      sql`SELECT quantity, released_at FROM stock_releases WHERE product_id = ${first.id}`,
    );
    expect(owed).toEqual([{ quantity: 2, released_at: null }]);

    await updateProduct(first.id, { faults: {} });
    await runSweep();
    expect((await readProduct(first.id)).stock).toBe(10);
    await runSweep();
    expect((await readProduct(first.id)).stock).toBe(10);
    const [done] = await query<{ claimed: boolean; released: boolean }>(
      sql`SELECT claimed_at IS NOT NULL AS claimed, released_at IS NOT NULL AS released
          FROM stock_releases WHERE product_id = ${first.id}`,
    );
    expect(done).toEqual({ claimed: true, released: true });
  });

  it("keeps a release whose worker died between claim and call in doubt, never applied twice nor shown done", async () => {
    const user = await newUser();
    const { first } = await cartWhoseLastReservationFails(user);
    await updateProduct(first.id, { faults: { release: "error" } });
    expect((await placeOrder(user, CASH_ON_DELIVERY)).status).toBe(503);
    await updateProduct(first.id, { faults: {} });
    // A sweep claimed it and died before calling the product service, 11 minutes ago.
    await query(
      sql`UPDATE stock_releases SET claimed_at = now() - interval '11 minutes' WHERE product_id = ${first.id}`,
    );

    await runSweep();
    expect((await readProduct(first.id)).stock).toBe(8);
    const [row] = await query<{ released: boolean }>(
      sql`SELECT released_at IS NOT NULL AS released FROM stock_releases WHERE product_id = ${first.id}`,
    );
    expect(row).toEqual({ released: false });
    expect(await withDb((database) => stockReleasesInDoubt(database))).toBeGreaterThanOrEqual(1);
  });
});

describe("orders: a stock release whose outcome is unknown", () => {
  for (const fault of ["slow", "reset"] as const) {
    it(`is neither repeated nor recorded when the release ${fault === "slow" ? "times out" : "loses its connection"}`, async () => {
      const user = await newUser();
      const { first } = await cartWhoseLastReservationFails(user);
      await updateProduct(first.id, { faults: { release: fault } });

      const res = await placeOrder(user, CASH_ON_DELIVERY);
      expect(res.status).toBe(503);
      // The release may have been applied: it is not retried, and nothing is owed for the sweep.
      expect(await query(sql`SELECT 1 FROM stock_releases WHERE product_id = ${first.id}`)).toHaveLength(0);
      expect((await readProduct(first.id)).stock).toBe(8);
    });
  }
});

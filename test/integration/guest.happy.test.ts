import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newGuest, newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { createProduct, productReads, updateProduct } from "../helpers/products.ts";

type Caller = { headers: Record<string, string> };

async function add(caller: Caller, productId: string, quantity: number) {
  const res = await api("POST", "/api/cart/items", {
    headers: caller.headers,
    json: { productId, quantity },
  });
  expect(res.status).toBe(201);
  return res.body.data;
}

async function cartOf(caller: Caller) {
  const res = await api("GET", "/api/cart", { headers: caller.headers });
  expect(res.status).toBe(200);
  return res.body.data;
}

const lines = (cart: { items: { productId: string; quantity: number }[] }) =>
  Object.fromEntries(cart.items.map((item) => [item.productId, item.quantity]));

function merge(user: Caller, guestToken: string, extra: Record<string, unknown> = {}, headers = {}) {
  return api("POST", "/api/cart/merge", {
    headers: { ...user.headers, ...headers },
    json: { guestToken, ...extra },
  });
}

describe("guest carts", () => {
  it("issues a guest token that expires after GUEST_TTL_DAYS", async () => {
    const before = Date.now();
    const res = await api("POST", "/api/guest");
    expect(res.status).toBe(201);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    const { token, guestId, expiresAt } = res.body.data;
    expect(guestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(token.split(".")).toHaveLength(3);
    const sevenDays = 7 * 24 * 60 * 60 * 1000;
    expect(Date.parse(expiresAt)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + sevenDays);
    expect(Date.parse(expiresAt)).toBeLessThanOrEqual(Date.now() + sevenDays);
    expect(env.GUEST_TTL_DAYS).toBe("7");
  });

  it("gives a guest a cart of its own, with the cart rules of a user's", async () => {
    const guest = await newGuest();
    const other = await newGuest();
    const product = await createProduct({ price: 700, stock: 5 });

    const line = await add(guest, product.id, 2);
    expect(line).toMatchObject({ productId: product.id, quantity: 2, price: 700, totalPrice: 1400 });
    const cart = await cartOf(guest);
    expect(cart).toMatchObject({ userId: null, guestId: guest.guestId, totalItems: 2, totalAmount: 1400 });
    expect((await cartOf(other)).items).toEqual([]);

    const tooMany = await api("PUT", `/api/cart/items/${line.id}`, {
      headers: guest.headers,
      json: { quantity: 6 },
    });
    expect(tooMany.status).toBe(409);
    expect(tooMany.body.error.code).toBe("INSUFFICIENT_STOCK");
    const overLimit = await api("POST", "/api/cart/items", {
      headers: guest.headers,
      json: { productId: product.id, quantity: 100 },
    });
    expect(overLimit.status).toBe(400);
    const grown = await api("PUT", `/api/cart/items/${line.id}`, {
      headers: guest.headers,
      json: { quantity: 3 },
    });
    expect(grown.body.data.quantity).toBe(3);
    const removed = await api("DELETE", `/api/cart/items/${line.id}`, { headers: guest.headers });
    expect(removed.body.data.items).toEqual([]);
    await add(guest, product.id, 1);
    const cleared = await api("DELETE", "/api/cart", { headers: guest.headers });
    expect(cleared.status).toBe(200);
    expect(cleared.body.data).toMatchObject({ guestId: guest.guestId, items: [], totalItems: 0 });
  });

  it("merges a guest's cart into the user's, keeping the larger quantity of a product in both", async () => {
    const [a, b, c] = await Promise.all([
      createProduct({ price: 100 }),
      createProduct({ price: 200 }),
      createProduct({ price: 300 }),
    ]);
    const guest = await newGuest();
    await add(guest, a.id, 2);
    await add(guest, b.id, 7);
    const user = await newUser();
    await add(user, b.id, 5);
    await add(user, c.id, 1);

    const res = await merge(user, guest.token);
    expect(res.status).toBe(200);
    expect(res.body.data.adjustments).toEqual([]);
    expect(res.body.data.cart).toMatchObject({ userId: user.id, guestId: null, totalItems: 10 });
    expect(lines(res.body.data.cart)).toEqual({ [a.id]: 2, [b.id]: 7, [c.id]: 1 });
    expect(await cartOf(user)).toEqual(res.body.data.cart);
    expect((await cartOf(guest)).items).toEqual([]);

    // Merging again changes nothing: the guest's cart is empty.
    const again = await merge(user, guest.token);
    expect(again.status).toBe(200);
    expect(again.body.data).toEqual({ cart: res.body.data.cart, adjustments: [] });
  });

  it("keeps the user's own line when the guest's quantity is smaller", async () => {
    const product = await createProduct();
    const guest = await newGuest();
    await add(guest, product.id, 2);
    const user = await newUser();
    await add(user, product.id, 4);

    const res = await merge(user, guest.token, { mode: "merge" });
    expect(lines(res.body.data.cart)).toEqual({ [product.id]: 4 });
    expect(res.body.data.adjustments).toEqual([]);
  });

  it("replaces the user's cart with the guest's lines in mode replace", async () => {
    const [a, b] = await Promise.all([createProduct(), createProduct()]);
    const guest = await newGuest();
    await add(guest, a.id, 3);
    const user = await newUser();
    await add(user, a.id, 9);
    await add(user, b.id, 1);

    const res = await merge(user, guest.token, { mode: "replace" });
    expect(res.status).toBe(200);
    expect(lines(res.body.data.cart)).toEqual({ [a.id]: 3 });
    expect((await cartOf(guest)).items).toEqual([]);

    // An empty guest cart changes nothing, in replace mode too.
    const again = await merge(user, guest.token, { mode: "replace" });
    expect(lines(again.body.data.cart)).toEqual({ [a.id]: 3 });
  });

  it("re-reads every merged product from the product service, not the cache", async () => {
    const product = await createProduct({ price: 500 });
    const guest = await newGuest();
    await add(guest, product.id, 1);
    await updateProduct(product.id, { price: 650, name: "Renamed" });
    const reads = await productReads(product.id);
    const user = await newUser();

    const res = await merge(user, guest.token);
    expect(res.body.data.cart.items[0]).toMatchObject({
      price: 650,
      productName: "Renamed",
      totalPrice: 650,
    });
    expect(await productReads(product.id)).toBe(reads + 1);
  });

  it("cuts or drops what cannot be applied in full, and says why", async () => {
    const [short, gone, inactive, unknown, fine] = await Promise.all([
      createProduct({ stock: 10 }),
      createProduct({ stock: 10 }),
      createProduct({ stock: 10 }),
      createProduct({ stock: 10 }),
      createProduct({ stock: 10 }),
    ]);
    const guest = await newGuest();
    for (const product of [short, gone, inactive, unknown, fine]) await add(guest, product.id, 4);
    const user = await newUser();
    await add(user, short.id, 1);
    await updateProduct(short.id, { stock: 3 });
    await updateProduct(gone.id, { stock: 0 });
    await updateProduct(inactive.id, { isActive: false });
    await updateProduct(unknown.id, { faults: { get: "gone" } });

    const res = await merge(user, guest.token);
    expect(res.status).toBe(200);
    expect(lines(res.body.data.cart)).toEqual({ [short.id]: 3, [fine.id]: 4 });
    expect(res.body.data.adjustments).toEqual([
      { productId: short.id, requestedQuantity: 4, quantity: 3, reason: "INSUFFICIENT_STOCK" },
      { productId: gone.id, requestedQuantity: 4, quantity: 0, reason: "OUT_OF_STOCK" },
      { productId: inactive.id, requestedQuantity: 4, quantity: 0, reason: "UNAVAILABLE" },
      { productId: unknown.id, requestedQuantity: 4, quantity: 0, reason: "UNAVAILABLE" },
    ]);
    expect((await cartOf(guest)).items).toEqual([]);
  });

  it("drops new lines past 50 with LINE_LIMIT", async () => {
    const [first, ...rest] = await Promise.all(Array.from({ length: 51 }, () => createProduct()));
    const extra = rest.pop();
    if (!first || !extra) throw new Error("no products");
    const user = await newUser();
    for (const product of [first, ...rest]) await add(user, product.id, 1);
    const guest = await newGuest();
    await add(guest, extra.id, 2);
    await add(guest, first.id, 2);

    const res = await merge(user, guest.token);
    expect(res.body.data.cart.items).toHaveLength(50);
    expect(lines(res.body.data.cart)[first.id]).toBe(2);
    expect(res.body.data.adjustments).toEqual([
      { productId: extra.id, requestedQuantity: 2, quantity: 0, reason: "LINE_LIMIT" },
    ]);
  });

  it("replays a merge sent again with its Idempotency-Key, and refuses the key for another body", async () => {
    const product = await createProduct();
    const guest = await newGuest();
    await add(guest, product.id, 2);
    const user = await newUser();
    const key = { "idempotency-key": `merge-${crypto.randomUUID()}` };

    const first = await merge(user, guest.token, {}, key);
    expect(first.status).toBe(200);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    await add(user, (await createProduct()).id, 1);

    const replay = await merge(user, guest.token, {}, key);
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body).toEqual(first.body);

    const other = await merge(user, guest.token, { mode: "replace" }, key);
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");
  });

  it("gives one guest cart to exactly one of two users merging it at once", async () => {
    const [a, b] = await Promise.all([createProduct(), createProduct()]);
    const guest = await newGuest();
    await add(guest, a.id, 2);
    await add(guest, b.id, 3);
    const [first, second] = await Promise.all([newUser(), newUser()]);

    const results = await Promise.all([merge(first, guest.token), merge(second, guest.token)]);
    expect(results.map((res) => res.status)).toEqual([200, 200]);
    const carts = results.map((res) => lines(res.body.data.cart));
    const winners = carts.filter((cart) => Object.keys(cart).length > 0);
    expect(winners).toEqual([{ [a.id]: 2, [b.id]: 3 }]);
    expect(carts.filter((cart) => Object.keys(cart).length === 0)).toHaveLength(1);
    expect(lines(await cartOf(first))).toEqual(carts[0]);
    expect(lines(await cartOf(second))).toEqual(carts[1]);
    expect((await cartOf(guest)).items).toEqual([]);
  });
});

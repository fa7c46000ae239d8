import { describe, expect, it } from "vitest";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { createProduct } from "../helpers/products.ts";

const IPHONE = "507f1f77bcf86cd799439012";

describe("cart: happy paths", () => {
  it("starts empty", async () => {
    const user = await newUser();
    const res = await api("GET", "/api/cart", { headers: user.headers });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      success: true,
      data: { userId: user.id, items: [], totalItems: 0, totalAmount: 0, currency: "USD" },
    });
    expect(res.body.data.id).toEqual(expect.any(String));
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("adds the seed's iPhone with name, price and image from the product service", async () => {
    const user = await newUser();
    const res = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: IPHONE, quantity: 2 },
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      success: true,
      message: expect.any(String),
      data: {
        id: expect.any(String),
        productId: IPHONE,
        productName: "iPhone 15 Pro",
        price: 99999,
        currency: "USD",
        quantity: 2,
        totalPrice: 199998,
        image: "https://example.com/iphone15pro1.jpg",
      },
    });
  });

  it("grows an existing line instead of adding a second one, answering 200", async () => {
    const user = await newUser();
    const product = await createProduct({ price: 500, stock: 10 });
    const first = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 1 },
    });
    const second = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 3 },
    });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body.data).toMatchObject({ id: first.body.data.id, quantity: 4, totalPrice: 2000 });

    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items).toHaveLength(1);
    expect(cart.body.data).toMatchObject({ totalItems: 4, totalAmount: 2000 });
  });

  it("totals several lines", async () => {
    const user = await newUser();
    const a = await createProduct({ price: 1000 });
    const b = await createProduct({ price: 250 });
    await api("POST", "/api/cart/items", { headers: user.headers, json: { productId: a.id, quantity: 2 } });
    await api("POST", "/api/cart/items", { headers: user.headers, json: { productId: b.id, quantity: 3 } });
    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items.map((item: { productId: string }) => item.productId)).toEqual([a.id, b.id]);
    expect(cart.body.data).toMatchObject({ totalItems: 5, totalAmount: 2750, currency: "USD" });
  });

  it("sets a line's quantity, refreshing the price when it grows", async () => {
    const user = await newUser();
    const product = await createProduct({ price: 700, stock: 20 });
    const added = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 5 },
    });
    const itemId = added.body.data.id;

    const shrunk = await api("PUT", `/api/cart/items/${itemId}`, {
      headers: user.headers,
      json: { quantity: 2 },
    });
    expect(shrunk.status).toBe(200);
    expect(shrunk.body.data).toMatchObject({ id: itemId, quantity: 2, totalPrice: 1400 });

    const grown = await api("PUT", `/api/cart/items/${itemId}`, {
      headers: user.headers,
      json: { quantity: 10 },
    });
    expect(grown.status).toBe(200);
    expect(grown.body.data).toMatchObject({ quantity: 10, totalPrice: 7000 });
  });

  it("removes a line and answers the remaining cart", async () => {
    const user = await newUser();
    const a = await createProduct({ price: 100 });
    const b = await createProduct({ price: 200 });
    const lineA = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: a.id, quantity: 1 },
    });
    await api("POST", "/api/cart/items", { headers: user.headers, json: { productId: b.id, quantity: 1 } });

    const res = await api("DELETE", `/api/cart/items/${lineA.body.data.id}`, { headers: user.headers });
    expect(res.status).toBe(200);
    expect(res.body.data.items.map((item: { productId: string }) => item.productId)).toEqual([b.id]);
    expect(res.body.data.totalAmount).toBe(200);
  });

  it("clears the cart", async () => {
    const user = await newUser();
    const product = await createProduct();
    await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 1 },
    });
    const res = await api("DELETE", "/api/cart", { headers: user.headers });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ items: [], totalItems: 0, totalAmount: 0 });
    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items).toEqual([]);
  });

  it("keeps every user's cart separate", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const product = await createProduct();
    await api("POST", "/api/cart/items", {
      headers: alice.headers,
      json: { productId: product.id, quantity: 1 },
    });
    const bobsCart = await api("GET", "/api/cart", { headers: bob.headers });
    expect(bobsCart.body.data.items).toEqual([]);
  });
});

describe("cart: Idempotency-Key on adds", () => {
  it("replays a repeated add instead of growing the line again", async () => {
    const user = await newUser();
    const product = await createProduct({ price: 300 });
    const headers = { ...user.headers, "idempotency-key": `add-${crypto.randomUUID()}` };
    const first = await api("POST", "/api/cart/items", {
      headers,
      json: { productId: product.id, quantity: 2 },
    });
    const again = await api("POST", "/api/cart/items", {
      headers,
      json: { productId: product.id, quantity: 2 },
    });
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.data).toEqual(first.body.data);
    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items).toMatchObject([{ productId: product.id, quantity: 2 }]);
  });

  it("applies 10 concurrent adds with one key once", async () => {
    const user = await newUser();
    const product = await createProduct();
    const headers = { ...user.headers, "idempotency-key": `add-${crypto.randomUUID()}` };
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        api("POST", "/api/cart/items", { headers, json: { productId: product.id, quantity: 1 } }),
      ),
    );
    expect(results.every((res) => res.status === 201)).toBe(true);
    expect(results.filter((res) => res.headers.get("idempotent-replayed") === "true")).toHaveLength(9);
    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items[0].quantity).toBe(1);
  });

  it("refuses the same key for another add, and never replays another user's key", async () => {
    const user = await newUser();
    const other = await newUser();
    const product = await createProduct();
    const key = `add-${crypto.randomUUID()}`;
    await api("POST", "/api/cart/items", {
      headers: { ...user.headers, "idempotency-key": key },
      json: { productId: product.id, quantity: 1 },
    });
    const reused = await api("POST", "/api/cart/items", {
      headers: { ...user.headers, "idempotency-key": key },
      json: { productId: product.id, quantity: 3 },
    });
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");

    const theirs = await api("POST", "/api/cart/items", {
      headers: { ...other.headers, "idempotency-key": key },
      json: { productId: product.id, quantity: 1 },
    });
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get("idempotent-replayed")).toBeNull();
  });
});

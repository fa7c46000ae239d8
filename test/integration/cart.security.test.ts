import { describe, expect, it } from "vitest";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { createProduct } from "../helpers/products.ts";

describe("cart: security", () => {
  it("ignores a client's price, productName, image and userId", async () => {
    const user = await newUser();
    const other = await newUser();
    const product = await createProduct({
      price: 4999,
      name: "Real name",
      images: ["https://example.com/real.jpg"],
    });
    const res = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: {
        productId: product.id,
        quantity: 1,
        price: 1,
        productName: "Free stuff",
        image: "https://evil.example.com/x.jpg",
        totalPrice: 0,
        userId: other.id,
      },
    });
    expect(res.status).toBe(201);
    expect(res.body.data).toMatchObject({
      productName: "Real name",
      price: 4999,
      totalPrice: 4999,
      image: "https://example.com/real.jpg",
    });
    const mine = await api("GET", "/api/cart", { headers: user.headers });
    expect(mine.body.data).toMatchObject({ userId: user.id, totalAmount: 4999 });
    const theirs = await api("GET", "/api/cart", { headers: other.headers });
    expect(theirs.body.data.items).toEqual([]);
  });

  it("cannot change or remove another user's line", async () => {
    const owner = await newUser();
    const intruder = await newUser();
    const product = await createProduct();
    const added = await api("POST", "/api/cart/items", {
      headers: owner.headers,
      json: { productId: product.id, quantity: 2 },
    });
    const itemId = added.body.data.id;

    const update = await api("PUT", `/api/cart/items/${itemId}`, {
      headers: intruder.headers,
      json: { quantity: 1 },
    });
    expect(update.status).toBe(404);
    const remove = await api("DELETE", `/api/cart/items/${itemId}`, { headers: intruder.headers });
    expect(remove.status).toBe(404);

    const cart = await api("GET", "/api/cart", { headers: owner.headers });
    expect(cart.body.data.items).toMatchObject([{ id: itemId, quantity: 2 }]);
  });

  it("requires a token on every cart route", async () => {
    const routes: [string, string][] = [
      ["GET", "/api/cart"],
      ["DELETE", "/api/cart"],
      ["POST", "/api/cart/items"],
      ["PUT", "/api/cart/items/0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b"],
      ["DELETE", "/api/cart/items/0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b"],
    ];
    for (const [method, path] of routes) {
      const res = await api(method, path, {
        json: method === "GET" || method === "DELETE" ? undefined : { quantity: 1 },
      });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
  });
});

import { describe, expect, it } from "vitest";
import { newUser } from "../helpers/auth.ts";
import { workerWith } from "../helpers/cache.ts";
import { api } from "../helpers/http.ts";
import { createProduct, updateProduct } from "../helpers/products.ts";

function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.body).toMatchObject({ success: false, message: expect.any(String), error: { code } });
}

describe("cart: bad input is a 400 envelope", () => {
  const invalidBodies: [string, unknown][] = [
    ["quantity 0", { productId: "abc", quantity: 0 }],
    ["quantity 100", { productId: "abc", quantity: 100 }],
    ["negative quantity", { productId: "abc", quantity: -1 }],
    ["fractional quantity", { productId: "abc", quantity: 1.5 }],
    ["quantity as a string", { productId: "abc", quantity: "2" }],
    ["missing quantity", { productId: "abc" }],
    ["missing productId", { quantity: 1 }],
    ["empty productId", { productId: "", quantity: 1 }],
    ["productId with a path", { productId: "../admin", quantity: 1 }],
    ["productId as a number", { productId: 42, quantity: 1 }],
    ["an array", [{ productId: "abc", quantity: 1 }]],
    ["null", null],
  ];

  for (const [name, body] of invalidBodies) {
    it(`rejects an add with ${name}`, async () => {
      const user = await newUser();
      const res = await api("POST", "/api/cart/items", { headers: user.headers, json: body });
      expectError(res, 400, "VALIDATION_FAILED");
      expect(res.body.error.details.length).toBeGreaterThan(0);
    });
  }

  it("names the offending field", async () => {
    const user = await newUser();
    const res = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: "abc", quantity: 0 },
    });
    expect(res.body.error.details).toEqual([{ path: "quantity", message: "must be at least 1" }]);
  });

  it("rejects malformed JSON", async () => {
    const user = await newUser();
    const res = await api("POST", "/api/cart/items", {
      headers: { ...user.headers, "content-type": "application/json" },
      body: '{"productId": "abc", "quantity": ',
    });
    expectError(res, 400, "VALIDATION_FAILED");
  });

  it("rejects a body that is not JSON", async () => {
    const user = await newUser();
    const res = await api("POST", "/api/cart/items", {
      headers: { ...user.headers, "content-type": "text/plain" },
      body: "productId=abc&quantity=1",
    });
    expectError(res, 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("rejects a body with no content type", async () => {
    const user = await newUser();
    const res = await api("POST", "/api/cart/items", { headers: user.headers });
    expectError(res, 400, "VALIDATION_FAILED");
  });

  it("rejects an update to quantity 0 or 100, and an item id that is not one", async () => {
    const user = await newUser();
    const product = await createProduct();
    const added = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 1 },
    });
    for (const quantity of [0, 100]) {
      const res = await api("PUT", `/api/cart/items/${added.body.data.id}`, {
        headers: user.headers,
        json: { quantity },
      });
      expectError(res, 400, "VALIDATION_FAILED");
    }
    const res = await api("PUT", "/api/cart/items/not-an-id", {
      headers: user.headers,
      json: { quantity: 1 },
    });
    expectError(res, 400, "VALIDATION_FAILED");
  });

  it("refuses a body over 64 KiB with 413, with or without Content-Length", async () => {
    const user = await newUser();
    const big = JSON.stringify({ productId: "abc", quantity: 1, padding: "x".repeat(70 * 1024) });
    const sized = await api("POST", "/api/cart/items", {
      headers: { ...user.headers, "content-type": "application/json" },
      body: big,
    });
    expectError(sized, 413, "PAYLOAD_TOO_LARGE");

    const bytes = new TextEncoder().encode(big);
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < bytes.length; offset += 8192)
          controller.enqueue(bytes.slice(offset, offset + 8192));
        controller.close();
      },
    });
    const streamed = await api("POST", "/api/cart/items", {
      headers: { ...user.headers, "content-type": "application/json" },
      body: chunked,
    });
    expectError(streamed, 413, "PAYLOAD_TOO_LARGE");
  });
});

describe("cart: business rules", () => {
  it("answers 404 PRODUCT_NOT_FOUND for an unknown product", async () => {
    const user = await newUser();
    const res = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: "ffffffffffffffffffffffff", quantity: 1 },
    });
    expectError(res, 404, "PRODUCT_NOT_FOUND");
  });

  it("refuses an inactive product with 409", async () => {
    const user = await newUser();
    const product = await createProduct({ isActive: false });
    const res = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 1 },
    });
    expectError(res, 409, "PRODUCT_UNAVAILABLE");
  });

  it("refuses more than the stock, counting what the line already holds", async () => {
    const user = await newUser();
    const product = await createProduct({ stock: 5 });
    const tooMany = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 6 },
    });
    expectError(tooMany, 409, "INSUFFICIENT_STOCK");

    const first = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 4 },
    });
    expect(first.status).toBe(201);
    const second = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 2 },
    });
    expectError(second, 409, "INSUFFICIENT_STOCK");
    const update = await api("PUT", `/api/cart/items/${first.body.data.id}`, {
      headers: user.headers,
      json: { quantity: 6 },
    });
    expectError(update, 409, "INSUFFICIENT_STOCK");

    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.body.data.items[0].quantity).toBe(4);
  });

  it("caps a line at 99 units", async () => {
    const user = await newUser();
    const product = await createProduct({ stock: 1000 });
    await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 99 },
    });
    const res = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 1 },
    });
    expectError(res, 409, "CART_LIMIT_EXCEEDED");
  });

  it("caps a cart at 50 lines", async () => {
    const user = await newUser();
    const products = await Promise.all(Array.from({ length: 51 }, () => createProduct()));
    for (const product of products.slice(0, 50)) {
      const res = await api("POST", "/api/cart/items", {
        headers: user.headers,
        json: { productId: product.id, quantity: 1 },
      });
      expect(res.status).toBe(201);
    }
    const res = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: products[50]?.id, quantity: 1 },
    });
    expectError(res, 409, "CART_LIMIT_EXCEEDED");
    // growing a line already in a full cart is still fine
    const grow = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: products[0]?.id, quantity: 1 },
    });
    expect(grow.status).toBe(200);
  });

  it("refuses to mix currencies in one cart", async () => {
    const user = await newUser();
    const dollars = await createProduct({ currency: "USD" });
    const rupees = await createProduct({ currency: "INR" });
    await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: dollars.id, quantity: 1 },
    });
    const res = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: rupees.id, quantity: 1 },
    });
    expectError(res, 409, "CURRENCY_MISMATCH");
  });

  it("answers 404 for an unknown cart item", async () => {
    const user = await newUser();
    const missing = "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b";
    expectError(
      await api("PUT", `/api/cart/items/${missing}`, { headers: user.headers, json: { quantity: 1 } }),
      404,
      "CART_ITEM_NOT_FOUND",
    );
    expectError(
      await api("DELETE", `/api/cart/items/${missing}`, { headers: user.headers }),
      404,
      "CART_ITEM_NOT_FOUND",
    );
  });
});

describe("cart: product service failures", () => {
  for (const fault of ["error", "slow", "malformed", "garbage", "reset"] as const) {
    it(`answers 503 UPSTREAM_UNAVAILABLE when the product service is ${fault}`, async () => {
      const user = await newUser();
      const product = await createProduct({ faults: { get: fault } });
      const res = await api("POST", "/api/cart/items", {
        headers: user.headers,
        json: { productId: product.id, quantity: 1 },
      });
      expectError(res, 503, "UPSTREAM_UNAVAILABLE");
      const cart = await api("GET", "/api/cart", { headers: user.headers });
      expect(cart.body.data.items).toEqual([]);
    });
  }

  it("keeps reads, shrinking and removing working while the product service is down", async () => {
    const user = await newUser();
    const product = await createProduct({ price: 300 });
    const added = await api("POST", "/api/cart/items", {
      headers: user.headers,
      json: { productId: product.id, quantity: 3 },
    });
    await updateProduct(product.id, { faults: { get: "error" } });
    // A cached product (in Redis or the isolate) would serve the grow below; this is about the
    // product service alone.
    const uncached = workerWith({ PRODUCT_CACHE_TTL_SECONDS: "0" });

    const cart = await api("GET", "/api/cart", { headers: user.headers });
    expect(cart.status).toBe(200);
    expect(cart.body.data.items[0]).toMatchObject({ productName: product.name, price: 300, quantity: 3 });

    const grow = await uncached("PUT", `/api/cart/items/${added.body.data.id}`, {
      headers: user.headers,
      json: { quantity: 4 },
    });
    expectError(grow, 503, "UPSTREAM_UNAVAILABLE");
    const shrink = await api("PUT", `/api/cart/items/${added.body.data.id}`, {
      headers: user.headers,
      json: { quantity: 1 },
    });
    expect(shrink.status).toBe(200);
    const removed = await api("DELETE", `/api/cart/items/${added.body.data.id}`, { headers: user.headers });
    expect(removed.status).toBe(200);
  });
});

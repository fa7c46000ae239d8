// What the HTTP surface answers outside the operations themselves: unknown routes, methods the
// document does not declare, and bodies that are not JSON.
import { describe, expect, it } from "vitest";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { createProduct } from "../helpers/products.ts";

describe("unknown routes and undeclared methods", () => {
  it("answers an unknown route 404 without echoing its path", async () => {
    const user = await newUser();
    for (const path of [
      "/nothing-here/%3Cscript%3E",
      "/api/nothing-here/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ]) {
      const res = await api("POST", path, { headers: user.headers });
      expect(res.status, path).toBe(404);
      expect(res.body).toEqual({ success: false, message: "No such route", error: { code: "NOT_FOUND" } });
      expect(JSON.stringify(res.body)).not.toContain("nothing-here");
    }
  });

  it("answers HEAD 404 on every route, documented GET routes included", async () => {
    const user = await newUser();
    for (const path of ["/health", "/api/cart", "/openapi.json", "/api/orders"]) {
      const res = await api("HEAD", path, { headers: user.headers });
      expect(res.status, path).toBe(404);
      expect(res.headers.get("x-request-id"), path).toBeTruthy();
    }
  });

  it("answers OPTIONS 404 unless it is a CORS preflight", async () => {
    const plain = await api("OPTIONS", "/api/cart");
    expect(plain.status).toBe(404);
    expect(plain.body.error.code).toBe("NOT_FOUND");
    const originOnly = await api("OPTIONS", "/api/cart", { headers: { origin: "https://shop.example.com" } });
    expect(originOnly.status).toBe(404);

    const preflight = await api("OPTIONS", "/api/cart", {
      headers: { origin: "https://shop.example.com", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("https://shop.example.com");
  });
});

describe("request bodies that are not JSON", () => {
  const add = async (contentType: string | undefined, body: string | undefined) => {
    const user = await newUser();
    const product = await createProduct();
    const headers: Record<string, string> = { ...user.headers };
    if (contentType) headers["content-type"] = contentType;
    const text = body?.replace("PRODUCT", product.id);
    return api("POST", "/api/cart/items", { headers, body: text });
  };
  const valid = '{"productId":"PRODUCT","quantity":1}';

  it("refuses a body of another media type with 415 UNSUPPORTED_MEDIA_TYPE and the envelope, unparsed", async () => {
    for (const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "application/vnd.api+json",
      "application/json; charset=latin1",
      "application/jsonx",
    ]) {
      const res = await add(type, valid);
      expect(res.status, type).toBe(415);
      expect(res.body, type).toMatchObject({
        success: false,
        message: expect.any(String),
        error: { code: "UNSUPPORTED_MEDIA_TYPE", details: [{ path: "content-type" }] },
      });
    }
  });

  it("refuses a body sent with no content type as 415 too", async () => {
    const user = await newUser();
    const res = await api("POST", "/api/cart/items", {
      headers: user.headers,
      body: new Blob([valid]).stream(),
    });
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
  });

  it("takes JSON in any case, with no charset or charset=utf-8", async () => {
    for (const type of [
      "application/json",
      "APPLICATION/JSON",
      "application/json; charset=UTF-8",
      "Application/Json;charset=utf-8",
    ]) {
      const res = await add(type, valid);
      expect(res.status, type).toBe(201);
    }
  });

  it("still refuses a missing body as invalid input (400), and a bad token before the media type (401)", async () => {
    const missing = await add(undefined, undefined);
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe("VALIDATION_FAILED");
    const anonymous = await api("POST", "/api/cart/items", {
      headers: { "content-type": "text/plain" },
      body: "x",
    });
    expect(anonymous.status).toBe(401);
  });
});

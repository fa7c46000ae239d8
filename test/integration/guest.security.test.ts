import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config.ts";
import { issueGuestToken } from "../../src/lib/guest-tokens.ts";
import { newGuest, newUser, tokenFor } from "../helpers/auth.ts";
import { workerWith } from "../helpers/cache.ts";
import { api } from "../helpers/http.ts";
import { createProduct } from "../helpers/products.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A token with a guest token's header and claims, signed with `secret` as the key. */
async function guestShaped(secret: string, claims: Record<string, unknown> = {}, typ = "guest+jwt") {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ })
    .setIssuer("order-service")
    .setAudience("order-service:guest")
    .setSubject(`guest:${crypto.randomUUID()}`)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(secret));
}

async function expiredGuestToken() {
  const config = { ...getConfig(env), GUEST_TTL_DAYS: 1 };
  return (await issueGuestToken(config, Date.now() - 2 * DAY_MS)).token;
}

describe("guest tokens", () => {
  it("refuse a guest on every route but the cart's own with 403 SIGN_IN_REQUIRED, before reading the body", async () => {
    const guest = await newGuest();
    const document = (await api("GET", "/openapi.json")).body;
    const checked: string[] = [];
    for (const [path, operations] of Object.entries<Record<string, any>>(document.paths)) {
      for (const [method, operation] of Object.entries<any>(operations)) {
        const schemes = (operation.security ?? []).flatMap((entry: object) => Object.keys(entry));
        if (!schemes.includes("bearerAuth") || schemes.includes("guestAuth")) continue;
        const url = path.replace(/\{[^}]+\}/g, crypto.randomUUID());
        const res = await api(method.toUpperCase(), url, {
          headers: guest.headers,
          ...(["post", "put"].includes(method) ? { json: { not: "valid" } } : {}),
        });
        expect({ op: `${method} ${path}`, status: res.status, code: res.body?.error?.code }).toEqual({
          op: `${method} ${path}`,
          status: 403,
          code: "SIGN_IN_REQUIRED",
        });
        checked.push(operation.operationId);
      }
    }
    expect(checked).toEqual(
      expect.arrayContaining([
        "mergeGuestCart",
        "createOrder",
        "listOrders",
        "getOrder",
        "updateOrderStatus",
        "getOrderTracking",
        "retryOrderPayment",
        "listDeadLetters",
        "replayDeadLetter",
        "issueLiveTicket",
      ]),
    );
    expect(checked.length).toBeGreaterThanOrEqual(10);
  });

  it("never verify a guest token as a user's, nor a user's as a guest's", async () => {
    const user = await newUser();
    const guest = await newGuest();
    // A user's token dressed as a guest's (typ guest+jwt, signed with JWT_SECRET itself).
    const dressedUser = await new SignJWT({ role: "USER" })
      .setProtectedHeader({ alg: "HS256", typ: "guest+jwt" })
      .setSubject(String(user.id))
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(env.JWT_SECRET));
    // A guest token signed with JWT_SECRET instead of the guest key.
    const forgedGuest = await guestShaped(env.JWT_SECRET);
    // A guest token's claims without its typ: it takes the user path, where no token may name a guest.
    const undressedGuest = await guestShaped(env.JWT_SECRET, { role: "USER" }, "JWT");
    const userNamingGuest = await tokenFor(user.id, { claims: { guestId: guest.guestId } });

    for (const token of [dressedUser, forgedGuest, undressedGuest, userNamingGuest]) {
      const res = await api("GET", "/api/cart", { headers: bearer(token) });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("UNAUTHORIZED");
    }
    const expired = await api("GET", "/api/cart", { headers: bearer(await expiredGuestToken()) });
    expect(expired.status).toBe(401);
  });

  it("answer 400 naming guestToken to a merge of a bad, expired, forged or user's token", async () => {
    const user = await newUser();
    const other = await newUser();
    const notAToken = await api("POST", "/api/cart/merge", {
      headers: user.headers,
      json: { guestToken: "not-a-token" },
    });
    expect(notAToken.status).toBe(400);
    expect(notAToken.body.error.details).toEqual([{ path: "guestToken", message: "must be a JWT" }]);
    const candidates = [
      await expiredGuestToken(),
      await guestShaped(env.JWT_SECRET),
      await guestShaped("another secret that is at least 32 bytes long"),
      other.token,
    ];
    for (const guestToken of candidates) {
      const res = await api("POST", "/api/cart/merge", { headers: user.headers, json: { guestToken } });
      expect(res.status).toBe(400);
      expect(res.body.error).toEqual({
        code: "VALIDATION_FAILED",
        details: [{ path: "guestToken", message: "is not a valid, unexpired guest token" }],
      });
    }
    const badMode = await api("POST", "/api/cart/merge", {
      headers: user.headers,
      json: { guestToken: (await newGuest()).token, mode: "union" },
    });
    expect(badMode.status).toBe(400);
    expect(badMode.body.error.details[0].path).toBe("mode");
  });

  it("rate-limits guest tokens per client IP", async () => {
    // 21 requests must fall in one of the binding's fixed minutes.
    if (Date.now() % 60_000 > 55_000)
      await new Promise((resolve) => setTimeout(resolve, 60_000 - (Date.now() % 60_000)));
    const address = `198.51.100.7-${crypto.randomUUID()}`;
    const from = (ip: string) => api("POST", "/api/guest", { headers: { "cf-connecting-ip": ip } });
    for (let i = 0; i < 20; i++) expect((await from(address)).status).toBe(201);
    const limited = await from(address);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("RATE_LIMITED");
    // The binding counts fixed minutes: the wait is what is left of this one.
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers.get("retry-after"))).toBeLessThanOrEqual(60);
    expect((await from(`203.0.113.7-${crypto.randomUUID()}`)).status).toBe(201);
  });

  it("counts only POST /api/guest against the guest-token limit", async () => {
    if (Date.now() % 60_000 > 55_000)
      await new Promise((resolve) => setTimeout(resolve, 60_000 - (Date.now() % 60_000)));
    const user = await newUser();
    const address = `198.51.100.7-${crypto.randomUUID()}`;
    for (let i = 0; i < 20; i++) {
      const wrong = await api("GET", "/api/guest", {
        headers: { ...user.headers, "cf-connecting-ip": address },
      });
      expect(wrong.status).toBe(404);
    }
    expect((await api("POST", "/api/guest", { headers: { "cf-connecting-ip": address } })).status).toBe(201);
  });

  it("rate-limits a guest's writes per guest", async () => {
    const call = workerWith({ RATE_LIMIT_USER_PER_MIN: "2" });
    const [guest, other] = await Promise.all([newGuest(), newGuest()]);
    const product = await createProduct();
    const write = (headers: Record<string, string>) =>
      call("POST", "/api/cart/items", { headers, json: { productId: product.id, quantity: 1 } });
    expect((await write(guest.headers)).status).toBe(201);
    expect((await write(guest.headers)).status).toBe(200);
    const limited = await write(guest.headers);
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe("RATE_LIMITED");
    expect((await write(other.headers)).status).toBe(201);
  });
});

import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { newUserId, registerUser, tokenFor, validations } from "../helpers/auth.ts";
import { workerWith } from "../helpers/cache.ts";
import { api } from "../helpers/http.ts";

const now = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) =>
  btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");

async function expectUnauthorized(authorization: string | undefined) {
  const res = await api("GET", "/api/cart", {
    headers: authorization === undefined ? {} : { authorization },
  });
  expect(res.status).toBe(401);
  expect(res.body).toMatchObject({ success: false, error: { code: "UNAUTHORIZED" } });
  expect(res.headers.get("x-request-id")).toBeTruthy();
}

describe("auth: the JWT attack list", () => {
  it("refuses a request without a token", () => expectUnauthorized(undefined));
  it("refuses a non-bearer scheme", () => expectUnauthorized("Basic dXNlcjpwYXNz"));
  it("refuses garbage", () => expectUnauthorized("Bearer not-a-jwt"));
  it("refuses garbage shaped like a JWT", () => expectUnauthorized("Bearer aaa.bbb.ccc"));

  it("refuses a bad signature", async () => {
    const token = await tokenFor(newUserId(), { secret: "another-secret-that-is-long-enough-0123456789" });
    await expectUnauthorized(`Bearer ${token}`);
  });

  it("refuses alg: none", async () => {
    const token = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ sub: "1", role: "ADMIN", exp: now() + 600 })}.`;
    await expectUnauthorized(`Bearer ${token}`);
  });

  it("refuses another HMAC algorithm (HS512) even with the right secret", async () => {
    const token = await new SignJWT({ role: "USER" })
      .setProtectedHeader({ alg: "HS512" })
      .setSubject("7")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(env.JWT_SECRET));
    await expectUnauthorized(`Bearer ${token}`);
  });

  it("refuses RS256 when no JWKS_URL is configured", async () => {
    const { privateKey } = (await crypto.subtle.generateKey(
      {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: "SHA-256",
      },
      true,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    const token = await new SignJWT({ role: "ADMIN" })
      .setProtectedHeader({ alg: "RS256" })
      .setSubject("7")
      .setExpirationTime("5m")
      .sign(privateKey);
    await expectUnauthorized(`Bearer ${token}`);
  });

  it("refuses an expired token", async () => {
    await expectUnauthorized(`Bearer ${await tokenFor(newUserId(), { expiresIn: now() - 3600 })}`);
  });

  it("refuses a token whose nbf is in the future", async () => {
    const token = await new SignJWT({ role: "USER" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject(String(newUserId()))
      .setNotBefore("10m")
      .setExpirationTime("20m")
      .sign(new TextEncoder().encode(env.JWT_SECRET));
    await expectUnauthorized(`Bearer ${token}`);
  });

  it("refuses a token without exp", async () => {
    await expectUnauthorized(
      `Bearer ${await tokenFor(newUserId(), { expiresIn: null as unknown as string })}`,
    );
  });

  it("refuses a token that names no subject, without asking the user service", async () => {
    const res = await api("GET", "/api/cart", {
      headers: { authorization: `Bearer ${await tokenFor(newUserId(), { subject: null })}` },
    });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({
      message: "The token names no subject",
      error: { code: "UNAUTHORIZED" },
    });
  });

  it("accepts a userId claim without a subject", async () => {
    const userId = newUserId();
    const token = await tokenFor(userId, { subject: null, claims: { userId } });
    const res = await api("GET", "/api/cart", { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.body.data.userId).toBe(userId);
  });

  it("refuses an Authorization header over 8 KB before verifying it", async () => {
    const token = await tokenFor(newUserId(), { claims: { padding: "x".repeat(9000) } });
    await expectUnauthorized(`Bearer ${token}`);
  });

  it("accepts a token that expired within the clock tolerance", async () => {
    const res = await api("GET", "/api/cart", {
      headers: { authorization: `Bearer ${await tokenFor(newUserId(), { expiresIn: now() - 5 })}` },
    });
    expect(res.status).toBe(200);
  });

  it("accepts a userId claim next to a username subject", async () => {
    const userId = newUserId();
    const token = await tokenFor("someone", { claims: { userId } });
    const res = await api("GET", "/api/cart", { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.body.data.userId).toBe(userId);
  });
});

describe("auth: a token this isolate accepted before", () => {
  const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

  it("is refused once it expires", async () => {
    const worker = workerWith({ JWT_CLOCK_TOLERANCE_SECONDS: "0" });
    // Two requests must be answered before it lapses: at least 3 s, on a slow machine too.
    const expiresAt = now() + 4;
    const token = await tokenFor(newUserId(), { expiresIn: expiresAt });
    expect((await worker("GET", "/api/cart", bearer(token))).status).toBe(200);
    expect((await worker("GET", "/api/cart", bearer(token))).status).toBe(200);

    while (now() < expiresAt) await new Promise((resolve) => setTimeout(resolve, 100));
    const res = await worker("GET", "/api/cart", bearer(token));
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ message: "The token has expired", error: { code: "UNAUTHORIZED" } });
  });

  it("is refused with its signature changed", async () => {
    const token = await tokenFor(newUserId());
    expect((await api("GET", "/api/cart", bearer(token))).status).toBe(200);
    const signature = token.slice(token.lastIndexOf(".") + 1);
    const flipped = `${signature[0] === "A" ? "B" : "A"}${signature.slice(1)}`;
    const forged = `${token.slice(0, token.lastIndexOf(".") + 1)}${flipped}`;
    expect((await api("GET", "/api/cart", bearer(forged))).status).toBe(401);
  });

  it("is refused by a worker configured with another secret", async () => {
    const token = await tokenFor(newUserId());
    expect((await api("GET", "/api/cart", bearer(token))).status).toBe(200);
    const rotated = workerWith({ JWT_SECRET: "another-secret-after-a-rotation-0123456789" });
    expect((await rotated("GET", "/api/cart", bearer(token))).status).toBe(401);
  });
});

describe("auth: tokens of the user service, which carry only a username", () => {
  it("resolves the user through /api/users/validate and caches the answer", async () => {
    const username = `shopper_${newUserId()}`;
    const userId = newUserId();
    await registerUser(username, userId, "USER");
    const token = await tokenFor(username, { role: null });

    for (let i = 0; i < 3; i++) {
      const res = await api("GET", "/api/cart", { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect(res.body.data.userId).toBe(userId);
    }
    expect(await validations(username)).toBe(1);
  });

  it("refuses a token of a user the user service does not know", async () => {
    const token = await tokenFor(`ghost_${newUserId()}`, { role: null });
    await expectUnauthorized(`Bearer ${token}`);
  });
});

describe("auth: nothing but the token sets the user", () => {
  it("ignores user ids and roles in headers, query and body", async () => {
    const owner = newUserId();
    const intruder = newUserId();
    const token = await tokenFor(intruder);
    const res = await api("GET", `/api/cart?userId=${owner}&role=ADMIN`, {
      headers: { authorization: `Bearer ${token}`, "x-user-id": String(owner), "x-user-role": "ADMIN" },
    });
    expect(res.status).toBe(200);
    expect(res.body.data.userId).toBe(intruder);
  });
});

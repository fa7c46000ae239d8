import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { newUserId, tokenFor } from "../helpers/auth.ts";

/** The worker configured with other settings than the suite's (here: an identity provider, a dead user service). */
function workerWith(overrides: Record<string, string>) {
  const app = createApp();
  const configured = { ...env, ...overrides };
  return async (token: string) => {
    const ctx = createExecutionContext();
    const response = await app.fetch(
      new Request("https://orders.test/api/cart", { headers: { authorization: `Bearer ${token}` } }),
      configured,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return { status: response.status, body: (await response.json()) as any };
  };
}

/** A token signed by the stand-in identity provider with one of its published keys. */
async function idpToken(
  alg: "RS256" | "ES256",
  claims: Record<string, unknown>,
  expiresIn: string | number = "10m",
) {
  const response = await fetch(`${env.USER_SERVICE_URL}/__admin/tokens`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ alg, claims, expiresIn }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { token: string }).token;
}

const jwksUrl = () => `${env.USER_SERVICE_URL}/.well-known/jwks.json`;
const ISSUER = "https://idp.example.com/";
const AUDIENCE = "order-service";
const IDP = { JWKS_URL: jwksUrl(), JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE };
/** The claims the provider puts in a token minted for this service. */
const forUs = { iss: ISSUER, aud: AUDIENCE };

describe("auth: asymmetric tokens from JWKS_URL", () => {
  for (const alg of ["RS256", "ES256"] as const) {
    it(`accepts an ${alg} token signed with a published key`, async () => {
      const call = workerWith(IDP);
      const userId = newUserId();
      const res = await call(await idpToken(alg, { ...forUs, sub: String(userId), role: "USER" }));
      expect(res.status).toBe(200);
      expect(res.body.data.userId).toBe(userId);
    });
  }

  it("still accepts HS256 tokens from the user service's secret", async () => {
    const call = workerWith(IDP);
    expect((await call(await tokenFor(newUserId()))).status).toBe(200);
  });

  it("refuses an RS256 token signed with a key the provider never published", async () => {
    const call = workerWith(IDP);
    const { privateKey } = await generateKeyPair("RS256");
    const forged = await new SignJWT({ role: "ADMIN" })
      .setProtectedHeader({ alg: "RS256", kid: "RS256" })
      .setSubject("1")
      .setExpirationTime("10m")
      .sign(privateKey);
    const res = await call(forged);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("UNAUTHORIZED");
  });

  it("refuses a token whose key id the provider never published", async () => {
    const call = workerWith(IDP);
    const { privateKey } = await generateKeyPair("ES256");
    const token = await new SignJWT({ role: "USER" })
      .setProtectedHeader({ alg: "ES256", kid: "not-published" })
      .setSubject("1")
      .setExpirationTime("10m")
      .sign(privateKey);
    const res = await call(token);
    expect(res.status).toBe(401);
  });

  it("refuses an expired RS256 token", async () => {
    const call = workerWith(IDP);
    const res = await call(
      await idpToken("RS256", { ...forUs, sub: "5", role: "USER" }, Math.floor(Date.now() / 1000) - 3600),
    );
    expect(res.status).toBe(401);
  });

  it("refuses a provider's token minted for another audience or by another issuer, whatever its role", async () => {
    const call = workerWith(IDP);
    const claims = [
      { iss: ISSUER, aud: "another-service" },
      { iss: "https://evil.example.com/", aud: AUDIENCE },
      { iss: ISSUER },
      { aud: AUDIENCE },
    ];
    for (const claim of claims) {
      const res = await call(await idpToken("RS256", { ...claim, sub: "7", role: "ADMIN" }));
      expect(res.status, JSON.stringify(claim)).toBe(401);
      expect(res.body.error.code).toBe("UNAUTHORIZED");
    }
  });

  it("checks HS256 tokens for issuer and audience only when they are set without a provider", async () => {
    const plain = await tokenFor(newUserId());
    // With a provider, the user service's own tokens (no iss, no aud) keep working.
    expect((await workerWith(IDP)(plain)).status).toBe(200);
    const hs256Bound = workerWith({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
    expect((await hs256Bound(plain)).status).toBe(401);
    expect((await hs256Bound(await tokenFor(newUserId(), { claims: forUs }))).status).toBe(200);
  });

  it("refuses a provider's token without a user id or role, never forwarding it to the user service", async () => {
    // A dead user service: had the token been sent there, the answer would be 503, not 401.
    const call = workerWith({ ...IDP, USER_SERVICE_URL: "http://127.0.0.1:1" });
    for (const claims of [{ sub: "alice" }, { sub: String(newUserId()) }, { sub: "alice", role: "USER" }]) {
      const res = await call(await idpToken("RS256", { ...forUs, ...claims }));
      expect(res.status, JSON.stringify(claims)).toBe(401);
      expect(res.body.error.code).toBe("UNAUTHORIZED");
    }
  });

  it("answers 503 when the identity provider's keys cannot be fetched", async () => {
    const call = workerWith({ ...IDP, JWKS_URL: `${jwksUrl()}?broken=1` });
    const res = await call(await idpToken("ES256", { ...forUs, sub: "5", role: "USER" }));
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("UPSTREAM_UNAVAILABLE");
  });
});

describe("auth: the user service down", () => {
  it("answers 503 for a token that needs it, and still serves tokens that carry their user", async () => {
    const call = workerWith({ USER_SERVICE_URL: "http://127.0.0.1:1" });
    const usernameOnly = await tokenFor(`shopper_${newUserId()}`, { role: null });
    const res = await call(usernameOnly);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("UPSTREAM_UNAVAILABLE");
    expect((await call(await tokenFor(newUserId()))).status).toBe(200);
  });
});

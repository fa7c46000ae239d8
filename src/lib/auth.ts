import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from "jose";
import type { Config } from "../config.ts";
import { ApiError } from "./errors.ts";

export type Role = "USER" | "ADMIN";

export interface AuthUser {
  id: number;
  role: Role;
}

/** Refused before any parsing: a real token is a few hundred bytes. */
export const MAX_AUTHORIZATION_HEADER_BYTES = 8 * 1024;

const ASYMMETRIC_ALGORITHMS = ["RS256", "ES256"];

/** What jose throws for a token that is bad (as opposed to keys that could not be fetched). */
const TOKEN_ERRORS = [
  joseErrors.JWTClaimValidationFailed,
  joseErrors.JWTInvalid,
  joseErrors.JWSInvalid,
  joseErrors.JWSSignatureVerificationFailed,
  joseErrors.JOSEAlgNotAllowed,
  joseErrors.JOSENotSupported,
  joseErrors.JWKSNoMatchingKey,
  joseErrors.JWKSMultipleMatchingKeys,
  joseErrors.JWKInvalid,
];

const encoder = new TextEncoder();
const jwksByUrl = new Map<string, JWTVerifyGetKey>();
const hmacKeys = new Map<string, Promise<CryptoKey>>();

/** The HS256 verification key, imported once per isolate rather than on every request. */
function hmacKey(secret: string): Promise<CryptoKey> {
  let key = hmacKeys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "verify",
    ]);
    hmacKeys.set(secret, key);
  }
  return key;
}

function jwks(url: string): JWTVerifyGetKey {
  let keySet = jwksByUrl.get(url);
  if (!keySet) {
    keySet = createRemoteJWKSet(new URL(url));
    jwksByUrl.set(url, keySet);
  }
  return keySet;
}

export function unauthorized(message: string): ApiError {
  return new ApiError("UNAUTHORIZED", message, undefined, {
    "WWW-Authenticate": 'Bearer realm="order-service"',
  });
}

/** Extracts the bearer token from an Authorization header, refusing oversized or malformed ones. */
export function bearerToken(header: string | undefined): string {
  if (!header) throw unauthorized("A bearer token is required");
  if (header.length > MAX_AUTHORIZATION_HEADER_BYTES)
    throw unauthorized("The Authorization header is too large");
  const match = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i.exec(header.trim());
  if (!match?.[1]) throw unauthorized("The Authorization header must be 'Bearer <jwt>'");
  return match[1];
}

/**
 * Tokens this isolate verified, per configuration (a worker with another secret or issuer shares
 * none), oldest first. A hit skips the signature and claim checks, which cost a verification's
 * CPU on every request of a storefront that sends the same token each time; `exp` is checked on
 * every hit, and an entry is re-verified after VERIFIED_TOKEN_MAX_AGE_MS at the latest (so a key
 * withdrawn from the identity provider's JWKS stops working as it did before: within jose's
 * own key cache's lifetime). Only tokens that passed are kept: a forged one is a different string.
 */
export interface Verified {
  payload: JWTPayload;
  /** Signed by the JWKS_URL identity provider (RS256/ES256), not by the user service's secret. */
  fromIdentityProvider: boolean;
}
const verifiedTokens = new WeakMap<Config, Map<string, Verified & { verifiedAt: number }>>();
const MAX_VERIFIED_TOKENS = 1000;
const VERIFIED_TOKEN_MAX_AGE_MS = 60_000;

export async function verifyToken(token: string, config: Config): Promise<Verified> {
  let tokens = verifiedTokens.get(config);
  if (!tokens) {
    tokens = new Map();
    verifiedTokens.set(config, tokens);
  }
  const now = Date.now();
  const hit = tokens.get(token);
  // jose's own test: expired when exp <= now - tolerance, in whole seconds.
  if (
    hit &&
    now - hit.verifiedAt < VERIFIED_TOKEN_MAX_AGE_MS &&
    (hit.payload.exp ?? 0) > Math.floor(now / 1000) - config.JWT_CLOCK_TOLERANCE_SECONDS
  ) {
    return hit;
  }
  tokens.delete(token);
  // An expired entry is verified again, so it is refused exactly as jose refuses it.
  const verified = await verifyWithJose(token, config);
  if (tokens.size >= MAX_VERIFIED_TOKENS) {
    const oldest = tokens.keys().next().value;
    if (oldest !== undefined) tokens.delete(oldest);
  }
  tokens.set(token, { ...verified, verifiedAt: now });
  return verified;
}

async function verifyWithJose(token: string, config: Config): Promise<Verified> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw unauthorized("The token is malformed");
  }
  const options = { requiredClaims: ["exp"], clockTolerance: config.JWT_CLOCK_TOLERANCE_SECONDS };
  // The identity provider's issuer and audience (required with JWKS_URL) bind its tokens, and only
  // its tokens: the user service's HS256 tokens carry neither, unless there is no provider and
  // the operator set them for HS256 on purpose.
  const intendedForUs = { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE };
  try {
    if (alg === "HS256") {
      const { payload } = await jwtVerify(token, await hmacKey(config.JWT_SECRET), {
        ...options,
        ...(config.JWKS_URL ? {} : intendedForUs),
        algorithms: ["HS256"],
      });
      return { payload, fromIdentityProvider: false };
    }
    if (config.JWKS_URL && alg && ASYMMETRIC_ALGORITHMS.includes(alg)) {
      const { payload } = await jwtVerify(token, jwks(config.JWKS_URL), {
        ...options,
        ...intendedForUs,
        algorithms: ASYMMETRIC_ALGORITHMS,
      });
      return { payload, fromIdentityProvider: true };
    }
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw unauthorized("The token has expired");
    if (TOKEN_ERRORS.some((type) => error instanceof type)) throw unauthorized("The token is invalid");
    // Anything else comes from fetching the identity provider's keys (timeout, non-200, network).
    throw new ApiError("UPSTREAM_UNAVAILABLE", "The identity provider's keys are unavailable");
  }
  throw unauthorized(`Tokens signed with ${alg ?? "no algorithm"} are not accepted`);
}

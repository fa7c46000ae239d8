import { decodeProtectedHeader, jwtVerify, SignJWT } from "jose";
import type { Config } from "../config.ts";
import { derivedKey } from "./keys.ts";

/**
 * Guest tokens (SPEC §4 Guests): JWTs this service signs for shoppers who have not signed in, with
 * HS256 under a key derived from JWT_SECRET for this purpose only (lib/keys.ts). Each trait keeps
 * them apart from a user's token on its own: the key (a user token's signature fails under it, a
 * guest token's under JWT_SECRET), the header's `typ`, the issuer and audience, and a subject
 * `guest:<uuid>` that the user path refuses.
 */
const KEY_PURPOSE = "guest-token v1";
export const GUEST_TOKEN_TYPE = "guest+jwt";
const ISSUER = "order-service";
const AUDIENCE = "order-service:guest";
export const GUEST_SUBJECT_PREFIX = "guest:";
const GUEST_SUBJECT = /^guest:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

export interface GuestToken {
  token: string;
  guestId: string;
  expiresAt: string;
}

/** A new guest, and the token that names it for GUEST_TTL_DAYS. */
export async function issueGuestToken(
  config: Pick<Config, "JWT_SECRET" | "GUEST_TTL_DAYS">,
  now = Date.now(),
): Promise<GuestToken> {
  const guestId = crypto.randomUUID();
  const issuedAt = Math.floor(now / 1000);
  const expiresAt = issuedAt + config.GUEST_TTL_DAYS * 24 * 60 * 60;
  const token = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: GUEST_TOKEN_TYPE })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(`${GUEST_SUBJECT_PREFIX}${guestId}`)
    .setIssuedAt(issuedAt)
    .setExpirationTime(expiresAt)
    .sign(await derivedKey(config.JWT_SECRET, KEY_PURPOSE));
  return { token, guestId, expiresAt: new Date(expiresAt * 1000).toISOString() };
}

/** Whether a token says it is a guest's (its header's typ): such a token is verified as one, or refused. */
export function claimsToBeGuest(token: string): boolean {
  try {
    return decodeProtectedHeader(token).typ === GUEST_TOKEN_TYPE;
  } catch {
    return false;
  }
}

/** The guest a token names, or null when it is not a valid, unexpired guest token of ours. */
export async function verifyGuestToken(token: string, config: Config): Promise<string | null> {
  try {
    const { payload } = await jwtVerify(token, await derivedKey(config.JWT_SECRET, KEY_PURPOSE), {
      algorithms: ["HS256"],
      typ: GUEST_TOKEN_TYPE,
      issuer: ISSUER,
      audience: AUDIENCE,
      requiredClaims: ["exp", "sub"],
      clockTolerance: config.JWT_CLOCK_TOLERANCE_SECONDS,
    });
    return GUEST_SUBJECT.exec(payload.sub ?? "")?.[1] ?? null;
  } catch {
    return null;
  }
}

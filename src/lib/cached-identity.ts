import { z } from "zod";
import type { AuthUser } from "./auth.ts";
import { macOf, verifyMac } from "./keys.ts";

/**
 * A user-service answer as kept in Redis, sealed with an HMAC under a key derived from JWT_SECRET
 * for this purpose alone (lib/keys.ts). The MAC covers the cache key's token hash as well as the
 * identity, so whoever can write to the Redis (a leaked REST token, another environment sharing the
 * database) can neither make up an identity nor copy another token's entry under their own token's
 * hash. An entry whose MAC does not verify is a miss.
 */
const PURPOSE = "cached-identity:v2";

const Sealed = z.object({
  id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  role: z.enum(["USER", "ADMIN"]),
  mac: z.string(),
});
export const SealedIdentitySchema = Sealed;
export type SealedIdentity = z.infer<typeof Sealed>;

/** The cache key of a token's identity (its SHA-256, never the token itself). */
export const identityCacheKey = (tokenHash: string) => `auth:v2:${tokenHash}`;

const sealed = (tokenHash: string, user: AuthUser) => `${tokenHash}.${user.id}.${user.role}`;

export async function sealIdentity(
  secret: string,
  tokenHash: string,
  user: AuthUser,
): Promise<SealedIdentity> {
  return { id: user.id, role: user.role, mac: await macOf(secret, PURPOSE, sealed(tokenHash, user)) };
}

/** The identity if its MAC is ours for this token; null (a miss) otherwise. */
export async function openIdentity(
  secret: string,
  tokenHash: string,
  entry: SealedIdentity,
): Promise<AuthUser | null> {
  const user: AuthUser = { id: entry.id, role: entry.role };
  return (await verifyMac(secret, PURPOSE, sealed(tokenHash, user), entry.mac)) ? user : null;
}

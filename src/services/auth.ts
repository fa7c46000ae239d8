import { z } from "zod";
import type { Cache } from "../cache/cache.ts";
import type { UserClient } from "../clients/user.ts";
import type { Config } from "../config.ts";
import { type AuthUser, unauthorized, verifyToken } from "../lib/auth.ts";
import {
  identityCacheKey,
  openIdentity,
  SealedIdentitySchema,
  sealIdentity,
} from "../lib/cached-identity.ts";
import { GUEST_SUBJECT_PREFIX } from "../lib/guest-tokens.ts";
import { sha256Hex } from "../lib/ids.ts";
import { log } from "../lib/log.ts";

const UserId = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^\d{1,15}$/)
      .transform(Number),
  ])
  .pipe(z.number().int().positive().max(Number.MAX_SAFE_INTEGER));
const RoleClaim = z.enum(["USER", "ADMIN"]);

export interface AuthDeps {
  config: Config;
  users: UserClient;
  cache: Cache;
}

/**
 * Verifies a token locally (signature, algorithm, exp, nbf) and returns who it speaks for. Only
 * when the claims of one of the user service's own HS256 tokens lack a user id or role does it ask
 * the user service, caching the answer (sealed, lib/cached-identity.ts) until the token expires.
 */
export async function authenticate(token: string, { config, users, cache }: AuthDeps): Promise<AuthUser> {
  const { payload, fromIdentityProvider } = await verifyToken(token, config);
  // Someone must be named: a subject (a username or a numeric id), or a userId claim.
  if (payload.sub === undefined && payload.userId === undefined)
    throw unauthorized("The token names no subject");
  // Only this service's own guest tokens name guests (lib/guest-tokens.ts).
  if (payload.sub?.startsWith(GUEST_SUBJECT_PREFIX) || payload.guestId !== undefined)
    throw unauthorized("A user's token cannot name a guest");

  const userId = UserId.safeParse(payload.userId ?? payload.sub);
  const role = RoleClaim.safeParse(payload.role);
  if (userId.success && role.success) return { id: userId.data, role: role.data };
  // The user service resolves its own tokens only: an identity provider's token is never sent there.
  if (fromIdentityProvider) throw unauthorized("The token names no user id or role");

  const tokenHash = await sha256Hex(token);
  const cacheKey = identityCacheKey(tokenHash);
  const cached = await cache.get(cacheKey, SealedIdentitySchema);
  if (cached) {
    const user = await openIdentity(config.JWT_SECRET, tokenHash, cached);
    if (user) return user;
    log("warn", "cached identity refused: its seal does not verify");
  }

  const validated = await users.validate(token);
  const user: AuthUser = { id: validated.userId, role: validated.role };
  const ttlSeconds = (payload.exp ?? 0) - Math.floor(Date.now() / 1000);
  if (ttlSeconds > 0) cache.set(cacheKey, await sealIdentity(config.JWT_SECRET, tokenHash, user), ttlSeconds);
  return user;
}

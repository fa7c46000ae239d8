import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/lib/ids.ts";
import { newUserId, registerUser, tokenFor, validations } from "../helpers/auth.ts";
import { hasRedis, redis, redisKey } from "../helpers/cache.ts";
import { api } from "../helpers/http.ts";
import { eventually } from "../helpers/orders.ts";

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

/** A user of the user service, whose tokens carry only a username (so their identity is cached). */
async function serviceUser(role: "USER" | "ADMIN" = "USER") {
  const username = `shopper_${newUserId()}`;
  const id = newUserId();
  await registerUser(username, id, role);
  const token = await tokenFor(username, { role: null, expiresIn: "10m" });
  return { username, id, token, hash: await sha256Hex(token) };
}

/** Both the entry shapes this service ever read, so the test is the same before and after sealing. */
const identityKeys = (hash: string) => [redisKey(`auth:v1:${hash}`), redisKey(`auth:v2:${hash}`)];

describe.skipIf(!hasRedis)("auth: identities cached in Redis cannot be forged", () => {
  it("ignores a well-formed entry written straight into Redis that makes a user an admin", async () => {
    const attacker = await serviceUser("USER");
    const victim = newUserId();
    const forged = { id: victim, role: "ADMIN", mac: "A".repeat(43) };
    for (const key of identityKeys(attacker.hash)) await redis("SET", key, JSON.stringify(forged), "EX", 600);

    const admin = await api("GET", "/api/admin/dead-letters", bearer(attacker.token));
    expect(admin.status).toBe(403);
    const cart = await api("GET", "/api/cart", bearer(attacker.token));
    expect(cart.status).toBe(200);
    expect(cart.body.data.userId).toBe(attacker.id);
    // The forged entry was a miss: the user service was asked, and its answer replaced the entry.
    expect(await validations(attacker.username)).toBeGreaterThanOrEqual(1);
    const replaced = await eventually(
      () => redis<string | null>("GET", redisKey(`auth:v2:${attacker.hash}`)),
      (raw) => raw !== null && JSON.parse(raw).id === attacker.id,
      5_000,
    );
    expect(JSON.parse(replaced as string)).toMatchObject({ id: attacker.id, role: "USER" });
  });

  it("ignores a genuine entry copied from an admin's token to another token's key", async () => {
    const admin = await serviceUser("ADMIN");
    expect((await api("GET", "/api/admin/dead-letters", bearer(admin.token))).status).toBe(200);
    const genuine = await eventually(
      () => redis<string | null>("GET", redisKey(`auth:v2:${admin.hash}`)),
      (raw) => raw !== null,
      5_000,
    );
    expect(JSON.parse(genuine as string)).toMatchObject({ id: admin.id, role: "ADMIN" });

    const attacker = await serviceUser("USER");
    for (const key of identityKeys(attacker.hash)) await redis("SET", key, genuine as string, "EX", 600);
    expect((await api("GET", "/api/admin/dead-letters", bearer(attacker.token))).status).toBe(403);
    expect((await api("GET", "/api/cart", bearer(attacker.token))).body.data.userId).toBe(attacker.id);
  });
});

import { env } from "cloudflare:workers";
import { and, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config.ts";
import { Database, type HttpDb } from "../../src/db/client.ts";
import { claimIdempotencyKey } from "../../src/db/queries.ts";
import { idempotencyKeys } from "../../src/db/schema.ts";
import { ApiError } from "../../src/lib/errors.ts";
import { canonicalJson, sha256Hex } from "../../src/lib/ids.ts";
import { idempotent } from "../../src/services/idempotency.ts";
import { newUserId } from "../helpers/auth.ts";

const SCOPE = "POST /api/orders";

/**
 * The test's database, where the key's first holder fails and frees it right between this
 * request's refused claim and its look-up (the second read): the window of the race.
 */
class FreedBeforeLookup extends Database {
  /** Reads since the race was armed; the second is the look-up. */
  private reads: number | null = null;
  private readonly userId: number;
  private readonly key: string;

  constructor(userId: number, key: string) {
    super(getConfig(env));
    this.userId = userId;
    this.key = key;
  }

  arm(): void {
    this.reads = 0;
  }

  override once<T>(work: (db: HttpDb) => Promise<T>): Promise<T> {
    if (this.reads === null || ++this.reads !== 2) return super.once(work);
    return super.once(async (db) => {
      await db
        .delete(idempotencyKeys)
        .where(and(eq(idempotencyKeys.userId, this.userId), eq(idempotencyKeys.key, this.key)));
      return work(db);
    });
  }
}

describe("idempotency keys under a race", () => {
  it("claims afresh a key freed between its refused claim and its look-up", async () => {
    const userId = newUserId();
    const key = `race-${userId}`;
    const body = { any: "body" };
    const database = new FreedBeforeLookup(userId, key);
    try {
      // Another request holds the key, in flight.
      await database.once((db) =>
        claimIdempotencyKey(db, {
          userId,
          key,
          scope: SCOPE,
          requestHash: "held-by-another-request",
          claimToken: crypto.randomUUID(),
          lockSeconds: 300,
          ttlSeconds: 86_400,
        }),
      );
      database.arm();
      let ran = 0;
      const result = await idempotent(database, { userId, key, scope: SCOPE, body }, async () => {
        ran += 1;
        return { status: 201, body: { placed: true } };
      });
      expect(result).toEqual({ status: 201, body: { placed: true }, replayed: false });
      expect(ran).toBe(1);
      // The key is now this request's (claimed with its hash), not the first holder's.
      const [row] = await database.once((db) =>
        db
          .select()
          .from(idempotencyKeys)
          .where(and(eq(idempotencyKeys.userId, userId), eq(idempotencyKeys.key, key))),
      );
      expect(row?.requestHash).toBe(await sha256Hex(`${SCOPE}\n${canonicalJson(body)}`));
    } finally {
      await database.close();
    }
  });
});

/** The test's database, unreachable over HTTP for the next `failures` statements. */
class BrieflyDown extends Database {
  failures = 0;
  override once<T>(work: (db: HttpDb) => Promise<T>): Promise<T> {
    if (this.failures > 0) {
      this.failures -= 1;
      return Promise.reject(new ApiError("DATABASE_UNAVAILABLE", "The order database is unavailable"));
    }
    return super.once(work);
  }
}

describe("an idempotency key whose request failed while the database was down", () => {
  it("is freed in the background once the database is back, not held for the lock's 5 minutes", async () => {
    const userId = newUserId();
    const key = `down-${userId}`;
    const database = new BrieflyDown(getConfig(env));
    const background: Promise<unknown>[] = [];
    try {
      const failure = await idempotent(
        database,
        { userId, key, scope: SCOPE, body: {}, background: (work) => background.push(work) },
        async () => {
          // The request fails because the database went away, and so does the first release.
          database.failures = 2;
          throw new ApiError("DATABASE_UNAVAILABLE", "The order database is unavailable");
        },
      ).catch((error: unknown) => error);
      expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
      expect(background).toHaveLength(1);
      const held = () =>
        database.once((db) =>
          db
            .select()
            .from(idempotencyKeys)
            .where(and(eq(idempotencyKeys.userId, userId), eq(idempotencyKeys.key, key))),
        );
      await background[0];
      expect(await held()).toEqual([]);
      // The client's retry with the same key now runs.
      const retried = await idempotent(database, { userId, key, scope: SCOPE, body: {} }, async () => ({
        status: 201,
        body: { placed: true },
      }));
      expect(retried).toEqual({ status: 201, body: { placed: true }, replayed: false });
    } finally {
      await database.close();
    }
  });
});

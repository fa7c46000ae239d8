import type { BatchItem } from "drizzle-orm/batch";
import type { Database, HttpDb, Tx } from "../db/client.ts";
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  completeIdempotencyKeyInBatch,
  findIdempotencyKey,
  releaseIdempotencyKey,
} from "../db/queries.ts";
import { ApiError } from "../lib/errors.ts";
import { canonicalJson, sha256Hex } from "../lib/ids.ts";
import { describeError, log } from "../lib/log.ts";

/** Replays last at least this long (SPEC §4: 24 h). */
const KEY_TTL_SECONDS = 24 * 60 * 60;
/** A key freed by its failed holder between our claim and our look-up is claimed again, this often. */
const CLAIM_ATTEMPTS = 3;
/**
 * A request holding a key longer than this is presumed dead, and a retry may take the key over.
 * Longer than any checkout can run (see CHECKOUT_DEADLINE_MS); a holder that still finishes after
 * a takeover cannot complete the key (claim token), so its transaction rolls back.
 */
const KEY_LOCK_SECONDS = 5 * 60;

export interface IdempotentRequest {
  userId: number;
  key: string | undefined;
  /** The operation, e.g. "POST /api/orders": one key never replays across operations. */
  scope: string;
  body: unknown;
}

export interface IdempotentResult<T> {
  status: number;
  body: T;
  replayed: boolean;
}

/**
 * Stores the response with the change it describes, so that both land or neither: in an interactive
 * transaction, or as a statement of a batch (Database.batch). Nothing to store without a key.
 */
export interface CompleteKey {
  inTransaction(tx: Tx, status: number, body: unknown): Promise<void>;
  /** The statement to add to the batch, or null without a key; it aborts the batch if the key was taken over. */
  inBatch(db: HttpDb, status: number, body: unknown): BatchItem<"pg"> | null;
}

export const NO_KEY: CompleteKey = { inTransaction: async () => {}, inBatch: () => null };

function inFlight(): ApiError {
  return new ApiError(
    "IDEMPOTENCY_KEY_IN_FLIGHT",
    "A request with this Idempotency-Key is still in progress",
    undefined,
    { "Retry-After": "1" },
  );
}

/**
 * Runs `work` at most once per (user, key): the same key and body replays the stored response, the
 * same key with another body (or another operation) is 409, and a key still in flight is 409.
 * When `work` fails, the key is freed so that the client can retry with it.
 */
export async function idempotent<T>(
  database: Database,
  request: IdempotentRequest,
  work: (complete: CompleteKey) => Promise<{ status: number; body: T }>,
): Promise<IdempotentResult<T>> {
  const { userId, key, scope } = request;
  if (!key) return { ...(await work(NO_KEY)), replayed: false };

  const requestHash = await sha256Hex(`${scope}\n${canonicalJson(request.body)}`);
  const claimToken = crypto.randomUUID();
  for (let attempt = 1; ; attempt++) {
    const claimed = await database.once((db) =>
      claimIdempotencyKey(db, {
        userId,
        key,
        scope,
        requestHash,
        claimToken,
        lockSeconds: KEY_LOCK_SECONDS,
        ttlSeconds: KEY_TTL_SECONDS,
      }),
    );
    if (claimed) break;
    const existing = await database.once((db) => findIdempotencyKey(db, userId, key));
    if (!existing) {
      // Freed since our claim (its holder failed): it is ours to claim afresh.
      if (attempt < CLAIM_ATTEMPTS) continue;
      throw inFlight();
    }
    if (existing.requestHash !== requestHash) {
      throw new ApiError(
        "IDEMPOTENCY_KEY_REUSED",
        "This Idempotency-Key was already used with another request",
      );
    }
    if (existing.responseStatus === null) throw inFlight();
    return { status: existing.responseStatus, body: existing.responseBody as T, replayed: true };
  }

  try {
    const holder = { userId, key, claimToken };
    const result = await work({
      async inTransaction(tx, status, body) {
        if (!(await completeIdempotencyKey(tx, holder, status, body))) {
          throw new ApiError(
            "IDEMPOTENCY_KEY_IN_FLIGHT",
            "This request took too long; its Idempotency-Key was taken over",
          );
        }
      },
      inBatch: (db, status, body) => completeIdempotencyKeyInBatch(db, holder, status, body),
    });
    return { ...result, replayed: false };
  } catch (error) {
    await database
      .once((db) => releaseIdempotencyKey(db, userId, key, claimToken))
      .catch((releaseError) =>
        // The key's lock lapses after KEY_LOCK_SECONDS, after which a retry takes it over anyway.
        log("warn", "could not free an idempotency key", { userId, ...describeError(releaseError) }),
      );
    throw error;
  }
}

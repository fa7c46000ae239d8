import type { BatchItem } from "drizzle-orm/batch";
import type { Database, HttpDb } from "../db/client.ts";
import {
  claimIdempotencyKey,
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
  /** Keeps work going after the response (the request's waitUntil). */
  background?: (work: Promise<unknown>) => void;
}

export interface IdempotentResult<T> {
  status: number;
  body: T;
  replayed: boolean;
}

/**
 * Stores the response with the change it describes, so that both land or neither: a statement of
 * the change's batch (Database.batch), or null without a key. It aborts the batch (409
 * IDEMPOTENCY_KEY_IN_FLIGHT) if the key was taken over meanwhile.
 */
export interface CompleteKey {
  /** `stamped`: top-level fields of `body` the batch sets to its own time (queries/clock.ts). */
  inBatch(db: HttpDb, status: number, body: unknown, stamped?: readonly string[]): BatchItem<"pg"> | null;
}

export const NO_KEY: CompleteKey = { inBatch: () => null };

/** A key a failed request could not free is tried again this often, this far apart, in the background. */
const RELEASE_RETRIES = 10;
const RELEASE_RETRY_MS = 2000;

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
      inBatch: (db, status, body, stamped) =>
        completeIdempotencyKeyInBatch(db, holder, status, body, stamped),
    });
    return { ...result, replayed: false };
  } catch (error) {
    const release = () => database.once((db) => releaseIdempotencyKey(db, userId, key, claimToken));
    await release().catch((releaseError: unknown) => {
      // Most likely the database is down, which is why the request failed. Until the key is freed,
      // the client's retry is refused as in flight, for up to KEY_LOCK_SECONDS: keep trying a while
      // after answering, so it is freed soon after the database is back.
      log("warn", "could not free an idempotency key yet", { userId, ...describeError(releaseError) });
      request.background?.(releaseLater(release, userId));
    });
    throw error;
  }
}

async function releaseLater(release: () => Promise<void>, userId: number): Promise<void> {
  for (let attempt = 1; attempt <= RELEASE_RETRIES; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, RELEASE_RETRY_MS));
    try {
      await release();
      log("info", "freed an idempotency key after a failed request", { userId, attempt });
      return;
    } catch {}
  }
  // Its lock lapses after KEY_LOCK_SECONDS, after which a retry takes it over anyway.
  log("warn", "could not free an idempotency key", { userId });
}

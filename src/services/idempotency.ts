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
  /**
   * Settles once the key is this request's (at once without a key, or once claimed first). With
   * `idempotentOverlapping` the claim runs alongside the work: it rejects (KeyNotHeld) when the
   * claim found the key taken, and the work must then give up.
   */
  held(): Promise<void>;
  /** Whether the request has a key at all. */
  readonly keyed: boolean;
}

export const NO_KEY: CompleteKey = { inBatch: () => null, held: () => Promise.resolve(), keyed: false };

/** `CompleteKey.held()`'s refusal: the request's answer is the claim's (a replay or a 409), not the work's. */
class KeyNotHeld extends Error {
  constructor() {
    super("The Idempotency-Key is not this request's");
    this.name = "KeyNotHeld";
  }
}

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

type Work<T> = (complete: CompleteKey) => Promise<{ status: number; body: T }>;

/** The key as this request claims it: who holds it (the claim token) and for which request. */
interface Holder {
  userId: number;
  key: string;
  scope: string;
  requestHash: string;
  claimToken: string;
}

/**
 * Runs `work` at most once per (user, key): the same key and body replays the stored response, the
 * same key with another body (or another operation) is 409, and a key still in flight is 409.
 * When `work` fails, the key is freed so that the client can retry with it.
 */
export async function idempotent<T>(
  database: Database,
  request: IdempotentRequest,
  work: Work<T>,
): Promise<IdempotentResult<T>> {
  if (!request.key) return { ...(await work(NO_KEY)), replayed: false };
  const holder = await holderOf(request, request.key);
  const claim = await claimKey<T>(database, holder);
  if (claim) return claim;
  return runHolding(database, request, holder, work, () => Promise.resolve());
}

/**
 * `idempotent`, with the key claimed while `work` starts instead of before it: one round trip to the
 * database fewer, for work whose first steps change nothing (a checkout's reads). `work` must await
 * `complete.held()` before anything with an effect (a checkout's reservations), and give up when
 * that rejects. The claim's answer comes first: a replay, a key in flight or reused, or a database that
 * cannot be reached is the request's answer whatever the work did; otherwise the work's.
 */
export async function idempotentOverlapping<T>(
  database: Database,
  request: IdempotentRequest,
  work: Work<T>,
): Promise<IdempotentResult<T>> {
  if (!request.key) return { ...(await work(NO_KEY)), replayed: false };
  const holder = await holderOf(request, request.key);
  const claiming = claimKey<T>(database, holder);
  const held = claiming.then((claim) => {
    if (claim) throw new KeyNotHeld();
  });
  held.catch(() => {}); // the work's to handle; the claim's own failure is answered below
  const working = runHolding(database, request, holder, work, () => held);
  const [claim, worked] = await Promise.allSettled([claiming, working]);
  if (claim.status === "rejected") throw claim.reason;
  if (claim.value) return claim.value;
  if (worked.status === "rejected") throw worked.reason;
  return worked.value;
}

async function holderOf(request: IdempotentRequest, key: string): Promise<Holder> {
  const { userId, scope } = request;
  const requestHash = await sha256Hex(`${scope}\n${canonicalJson(request.body)}`);
  return { userId, key, scope, requestHash, claimToken: crypto.randomUUID() };
}

/** Claims the key for `holder`: undefined once it is ours, the stored answer to replay, or a 409. */
async function claimKey<T>(database: Database, holder: Holder): Promise<IdempotentResult<T> | undefined> {
  const { userId, key, scope, requestHash, claimToken } = holder;
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
    if (claimed) return undefined;
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
}

/** Runs `work` for the key's holder; when it fails, frees the key (once it is ours) for a retry. */
async function runHolding<T>(
  database: Database,
  request: IdempotentRequest,
  holder: Holder,
  work: Work<T>,
  held: () => Promise<void>,
): Promise<IdempotentResult<T>> {
  const { userId, key, claimToken } = holder;
  try {
    const result = await work({
      inBatch: (db, status, body, stamped) =>
        completeIdempotencyKeyInBatch(db, { userId, key, claimToken }, status, body, stamped),
      held,
      keyed: true,
    });
    return { ...result, replayed: false };
  } catch (error) {
    // Not ours to free when the claim failed (its answer is the request's).
    const ours = await held().then(
      () => true,
      () => false,
    );
    if (!ours) throw error;
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

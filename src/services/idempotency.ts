import type { BatchItem } from "drizzle-orm/batch";
import type { Database, HttpDb } from "../db/client.ts";
import {
  claimCompletedIdempotencyKeyInBatch,
  claimIdempotencyKey,
  completeIdempotencyKeyInBatch,
  findIdempotencyKey,
  type IdempotencyRow,
  KEY_TAKEN,
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
 * IDEMPOTENCY_KEY_IN_FLIGHT) if the key was taken over meanwhile, or, when the key was not claimed
 * ahead (`idempotentDeferred`), if it is another request's.
 */
export interface CompleteKey {
  /** `stamped`: top-level fields of `body` the batch sets to its own time (queries/clock.ts). */
  inBatch(db: HttpDb, status: number, body: unknown, stamped?: readonly string[]): BatchItem<"pg"> | null;
  /**
   * Settles once the key is this request's: at once without a key, or once claimed ahead. With
   * `idempotentDeferred` the first call claims it: it rejects (KeyNotHeld) when the claim found the
   * key taken, and the work must then give up.
   */
  held(): Promise<void>;
  /** The request's key, if it has one, and its request's fingerprint (which a reuse differs in). */
  readonly key: { value: string; requestHash: string } | null;
}

export const NO_KEY: CompleteKey = { inBatch: () => null, held: () => Promise.resolve(), key: null };

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
  const claimed: Claim<T> = { answer: Promise.resolve(undefined) };
  return runHolding(database, request, holder, work, () => claimed);
}

/**
 * `idempotent`, with the key claimed only when `work` asks (`complete.held()`), or else by the
 * batch that stores the response: for work that can tell, from what it knows before asking the
 * database anything, whether the key may already be taken (a checkout: the cart remembers its
 * checkouts' keys). `work` must await `complete.held()` before anything with an effect unless it
 * knows the key is new, and give up when that rejects. When the key was claimed ahead, the claim's
 * answer comes first: a replay, a key in flight or reused, or a database that cannot be reached is
 * the request's answer whatever the work did. When it was not and the work failed, an answer stored
 * under the key comes first (a replay or a 409), as it would have from a claim.
 */
export async function idempotentDeferred<T>(
  database: Database,
  request: IdempotentRequest,
  work: Work<T>,
): Promise<IdempotentResult<T>> {
  if (!request.key) return { ...(await work(NO_KEY)), replayed: false };
  const holder = await holderOf(request, request.key);
  let claimed: Claim<T> | undefined;
  const claim = () => {
    claimed ??= { answer: claimKey<T>(database, holder) };
    return claimed;
  };
  try {
    return await runHolding(database, request, holder, work, claim, () => claimed);
  } catch (error) {
    if (claimed) {
      // The claim's answer wins; its own failure (the database down) is the request's too.
      const answer = await claimed.answer;
      if (answer) return answer;
      throw error;
    }
    // Not claimed: the work gave up before its batch, or the batch refused. A key the work thought
    // new may have an answer stored all the same (its cart forgot it, or another operation used it),
    // which is then the request's (a replay, or 409 reused), whatever the work met; so may a twin's
    // that finished meanwhile. Looked up, not claimed, so a request still running is left to finish.
    // An unreachable database is not asked again.
    if (error instanceof ApiError && error.code === "DATABASE_UNAVAILABLE") throw error;
    const answer = await storedAnswer<T>(database, holder).catch((lookUpError: unknown) => {
      if (lookUpError instanceof ApiError && lookUpError.code === "IDEMPOTENCY_KEY_REUSED") throw lookUpError;
      return undefined; // the database down: the work's refusal stands
    });
    if (answer) return answer;
    // Another request's, unanswered (or freed since): in flight, as a claim would have found it.
    if (isKeyTaken(error)) throw inFlight();
    throw error;
  }
}

/** The claim of a request's key: undefined once it is the request's, else the request's answer. */
interface Claim<T> {
  answer: Promise<IdempotentResult<T> | undefined>;
}

function isKeyTaken(error: unknown): boolean {
  return (
    error instanceof ApiError && error.code === "IDEMPOTENCY_KEY_IN_FLIGHT" && error.message === KEY_TAKEN
  );
}

/** A request's fingerprint: the same key with another fingerprint is a reuse. */
export function requestHashOf(scope: string, body: unknown): Promise<string> {
  return sha256Hex(`${scope}\n${canonicalJson(body)}`);
}

async function holderOf(request: IdempotentRequest, key: string): Promise<Holder> {
  const { userId, scope } = request;
  const requestHash = await requestHashOf(scope, request.body);
  return { userId, key, scope, requestHash, claimToken: crypto.randomUUID() };
}

/** What claiming the key for `holder` writes. */
function claimOf(holder: Holder) {
  const { userId, key, scope, requestHash, claimToken } = holder;
  return { userId, key, scope, requestHash, claimToken, ttlSeconds: KEY_TTL_SECONDS };
}

/** Claims the key for `holder`: undefined once it is ours, the stored answer to replay, or a 409. */
async function claimKey<T>(database: Database, holder: Holder): Promise<IdempotentResult<T> | undefined> {
  const { userId, key, requestHash } = holder;
  for (let attempt = 1; ; attempt++) {
    const claimed = await database.once((db) =>
      claimIdempotencyKey(db, { ...claimOf(holder), lockSeconds: KEY_LOCK_SECONDS }),
    );
    if (claimed) return undefined;
    const existing = await database.once((db) => findIdempotencyKey(db, userId, key));
    if (!existing) {
      // Freed since our claim (its holder failed): it is ours to claim afresh.
      if (attempt < CLAIM_ATTEMPTS) continue;
      throw inFlight();
    }
    const answer = answerOf<T>(existing, requestHash);
    if (!answer) throw inFlight();
    return answer;
  }
}

/** The answer stored under the key for `holder`'s request, if any (a 409 if it was another request's). */
async function storedAnswer<T>(database: Database, holder: Holder): Promise<IdempotentResult<T> | undefined> {
  const existing = await database.once((db) => findIdempotencyKey(db, holder.userId, holder.key));
  return existing ? answerOf<T>(existing, holder.requestHash) : undefined;
}

/** A key's stored answer, replayed to a request with `requestHash`: 409 if it was another request's. */
function answerOf<T>(existing: IdempotencyRow, requestHash: string): IdempotentResult<T> | undefined {
  if (existing.requestHash !== requestHash) {
    throw new ApiError(
      "IDEMPOTENCY_KEY_REUSED",
      "This Idempotency-Key was already used with another request",
    );
  }
  if (existing.responseStatus === null) return undefined;
  return { status: existing.responseStatus, body: existing.responseBody as T, replayed: true };
}

/**
 * Runs `work` for the key's holder: `claim` claims the key (once), `claimed` tells whether it was.
 * When the work fails, frees the key if it was claimed and is ours, for a retry.
 */
async function runHolding<T>(
  database: Database,
  request: IdempotentRequest,
  holder: Holder,
  work: Work<T>,
  claim: () => Claim<T>,
  claimed: () => Claim<T> | undefined = claim,
): Promise<IdempotentResult<T>> {
  const { userId, key, claimToken } = holder;
  try {
    const result = await work({
      inBatch: (db, status, body, stamped) =>
        claimed()
          ? completeIdempotencyKeyInBatch(db, { userId, key, claimToken }, status, body, stamped)
          : claimCompletedIdempotencyKeyInBatch(db, claimOf(holder), status, body, stamped),
      held: async () => {
        if (await claim().answer) throw new KeyNotHeld();
      },
      key: { value: key, requestHash: holder.requestHash },
    });
    return { ...result, replayed: false };
  } catch (error) {
    // Not ours to free when it was never claimed, or when the claim failed (its answer is the request's).
    const ours = await claimed()?.answer.then(
      (answer) => answer === undefined,
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

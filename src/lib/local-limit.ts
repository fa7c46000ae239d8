/**
 * The fallback when a rate limiter cannot answer: a fixed one-minute window per key, counted in this
 * isolate only. Limiting does not switch off with the limiter: each isolate still lets at most the
 * limit through per key and minute (so in all, at most the limit times the isolates serving that
 * key, typically one or a few). Bounded: past MAX_KEYS, windows that have ended are dropped first,
 * then the oldest.
 */
const WINDOW_MS = 60_000;
const MAX_KEYS = 10_000;
const windows = new Map<string, { startedAt: number; count: number }>();

export interface LocalDecision {
  allowed: boolean;
  retryAfterSeconds: number;
}

export function takeLocally(key: string, limitPerMinute: number, now = Date.now()): LocalDecision {
  let window = windows.get(key);
  if (!window || now - window.startedAt >= WINDOW_MS) {
    if (!window && windows.size >= MAX_KEYS) evict(now);
    window = { startedAt: now, count: 0 };
    windows.set(key, window);
  }
  if (window.count < limitPerMinute) {
    window.count += 1;
    return { allowed: true, retryAfterSeconds: 0 };
  }
  return {
    allowed: false,
    retryAfterSeconds: Math.max(1, Math.ceil((window.startedAt + WINDOW_MS - now) / 1000)),
  };
}

function evict(now: number): void {
  for (const [key, window] of windows) if (now - window.startedAt >= WINDOW_MS) windows.delete(key);
  while (windows.size >= MAX_KEYS) {
    const oldest = windows.keys().next().value;
    if (oldest === undefined) break;
    windows.delete(oldest);
  }
}

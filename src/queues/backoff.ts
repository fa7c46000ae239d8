/** A notification retry waits at most this long: the service should hear of an order within minutes. */
export const NOTIFICATION_MAX_DELAY_SECONDS = 15 * 60;

/**
 * Exponential backoff with jitter for the `attempts`-th failed delivery (1-based): about
 * base, 2·base, 4·base … capped at `maxSeconds` (Queues allow up to 12 hours), each drawn from its
 * upper half so that messages failing together do not come back together.
 */
export function backoffSeconds(
  attempts: number,
  baseSeconds: number,
  { atLeastSeconds = 0, maxSeconds = NOTIFICATION_MAX_DELAY_SECONDS } = {},
): number {
  const ceiling = Math.min(maxSeconds, baseSeconds * 2 ** Math.max(0, attempts - 1));
  const jittered = Math.ceil(ceiling / 2 + (Math.random() * ceiling) / 2);
  return Math.min(maxSeconds, Math.max(jittered, Math.ceil(atLeastSeconds)));
}

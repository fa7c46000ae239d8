/** Queues delay a retry by at most 12 hours; ours stop growing well before that. */
const MAX_DELAY_SECONDS = 15 * 60;

/**
 * Exponential backoff with jitter for the `attempts`-th failed delivery (1-based): about
 * base, 2·base, 4·base … capped at 15 minutes, each drawn from its upper half so that messages
 * failing together do not come back together.
 */
export function backoffSeconds(attempts: number, baseSeconds: number, atLeastSeconds = 0): number {
  const ceiling = Math.min(MAX_DELAY_SECONDS, baseSeconds * 2 ** Math.max(0, attempts - 1));
  const jittered = Math.ceil(ceiling / 2 + (Math.random() * ceiling) / 2);
  return Math.min(MAX_DELAY_SECONDS, Math.max(jittered, Math.ceil(atLeastSeconds)));
}

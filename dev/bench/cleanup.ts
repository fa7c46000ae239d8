// What the bench started, stopped in reverse order on every way out: the end of the run, a failure,
// a signal or the watchdog.
const cleanups: { name: string; run: () => Promise<unknown> }[] = [];
let cleaning: Promise<void> | undefined;

export function onCleanup(name: string, run: () => Promise<unknown>): void {
  cleanups.push({ name, run });
}

/** Runs every cleanup once, newest first, each bounded so a stuck one cannot hold the process. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const { name, run } of cleanups.reverse()) {
      try {
        await withTimeout(run(), 15_000, `cleanup: ${name}`);
      } catch (error) {
        console.error(`! ${name}: ${(error as Error).message}`);
      }
    }
  })();
  return cleaning;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function shutdown(code: number, why?: string): Promise<never> {
  if (why) console.error(`\n${why}: cleaning up…`);
  await cleanup();
  process.exit(code);
}

/** True once the cleanup began (after a signal or the watchdog, the failures it causes are expected). */
export function cleaningUp(): boolean {
  return cleaning !== undefined;
}

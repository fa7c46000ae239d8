// The worker served by workerd directly, as `npm run bench` and `npm run drills` run it: bundled the
// way `wrangler deploy` bundles it (`--dry-run`), then served by Miniflare (wrangler's own copy, so the
// same workerd `wrangler dev` uses) with the bindings, Durable Objects and queues of wrangler.toml, on a
// direct socket into the worker (neither `wrangler dev`'s proxy nor Miniflare's entry worker in front).
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { ROOT } from "./settings.ts";

export const WRANGLER_TOML = join(ROOT, "wrangler.toml");

/**
 * Makes a signal run the async cleanup. Miniflare (through its exit hook) and wrangler install
 * SIGINT/SIGTERM listeners that exit at once, which would skip dropping the database: called again
 * once they are loaded, this removes theirs. (Miniflare's "exit" hook, which kills workerd, stays.)
 * A second signal during cleanup gets Node's default: immediate exit.
 */
export function takeOverSignals(shutdown: (code: number, why: string) => Promise<never>): void {
  for (const [signal, number] of [
    ["SIGINT", 2],
    ["SIGTERM", 15],
    ["SIGHUP", 1],
  ] as const) {
    process.removeAllListeners(signal);
    process.once(signal, () => void shutdown(128 + number, signal));
  }
}

/**
 * Bundles the worker exactly as `wrangler deploy` would, into `outdir/index.js`. `onChild` receives a
 * way to kill the bundler, for a caller whose cleanup may run while it is still at work.
 */
export async function bundleWorker(outdir: string, onChild?: (kill: () => void) => void): Promise<string> {
  const wrangler = join(
    dirname(createRequire(import.meta.url).resolve("wrangler/package.json")),
    "bin/wrangler.js",
  );
  const args = [wrangler, "deploy", "--dry-run", "--outdir", outdir, "--config", WRANGLER_TOML];
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: process.env, stdio: "pipe" });
    onChild?.(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    child.stdout.on("data", (chunk) => output.push(String(chunk)));
    child.stderr.on("data", (chunk) => output.push(String(chunk)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.once("error", reject);
    child.once("close", (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
  });
  if (code !== 0) throw new Error(`wrangler deploy --dry-run failed (exit ${code}):\n${output.join("")}`);
  return join(outdir, "index.js");
}

interface WranglerConfig {
  compatibility_date?: string;
  assets?: { directory?: string; binding?: string };
  compatibility_flags?: string[];
  vars?: Record<string, unknown>;
  durable_objects?: { bindings?: { name: string; class_name: string }[] };
  migrations?: unknown[];
  ratelimits?: { name: string; namespace_id: string; simple: { limit: number; period?: 10 | 60 } }[];
  queues?: {
    producers?: { binding: string; queue: string }[];
    consumers?: {
      queue: string;
      max_batch_size?: number;
      max_batch_timeout?: number;
      max_retries?: number;
      retry_delay?: number;
      dead_letter_queue?: string;
    }[];
  };
}

interface WranglerApi {
  unstable_readConfig(args: { config: string }): WranglerConfig;
  unstable_getDurableObjectClassNameToUseSQLiteMap(migrations: unknown): Map<string, boolean>;
}

// Miniflare's API, as much of it as is used here (loaded from wrangler's own dependency at runtime).
interface MiniflareInstance {
  ready: Promise<URL>;
  unsafeGetDirectURL(workerName?: string, entrypoint?: string): Promise<URL>;
  getWorker(): Promise<{ scheduled(options: { cron: string }): Promise<{ outcome: string }> }>;
  dispose(): Promise<void>;
}
interface MiniflareModule {
  Miniflare: new (options: unknown) => MiniflareInstance;
  /** Miniflare 5 takes `{ workers: [...] }`; this maps the flat v4 options its README documents. */
  convertV4MiniflareOptions(options: Record<string, unknown>): unknown;
  Log: new (level: number) => unknown;
  LogLevel: Record<string, number>;
}

/** Miniflare as wrangler itself resolves it (wrangler pins its own copy, newer than the top-level one). */
function loadMiniflare(): { module: MiniflareModule; version: string } {
  const fromWrangler = createRequire(createRequire(import.meta.url).resolve("wrangler/package.json"));
  const module = fromWrangler("miniflare") as MiniflareModule;
  const { version } = fromWrangler("miniflare/package.json") as { version: string };
  return { module, version };
}

/** One console line of the worker, as workerd reports it. */
export interface WorkerLog {
  level: string;
  message: string;
}

export interface WorkerdOptions {
  /** The bundle from `bundleWorker`. */
  scriptPath: string;
  /** Added to (and overriding) wrangler.toml's [vars]. */
  bindings: Record<string, string>;
  /** Every console line of the worker (its request logs included). */
  onLog(log: WorkerLog): void;
  /** Ports of the entry and the direct socket: 0 (the default) takes free ones. */
  port?: number;
  directPort?: number;
  /**
   * Where Durable Objects (carts, gateway alarms) keep their storage across restarts; in memory
   * when unset. The local queue broker always keeps its messages in memory.
   */
  persistPath?: string;
  /**
   * Serve wrangler.toml's [assets] (the /admin and /live pages, their `_headers`) in front of the
   * worker on the entry socket, as Cloudflare does; the direct socket reaches the worker only.
   */
  assets?: boolean;
}

export interface RunningWorkerd {
  /** The direct socket into the worker's default export. */
  direct: URL;
  /** Miniflare's entry socket (its entry worker in front). */
  entry: URL;
  miniflareVersion: string;
  /** Fires the scheduled handler (the cron) and waits for it, its `waitUntil` included. */
  scheduled(cron?: string): Promise<string>;
  dispose(): Promise<void>;
}

export async function startWorkerd(opts: WorkerdOptions): Promise<RunningWorkerd> {
  const wrangler = (await import("wrangler")) as unknown as WranglerApi;
  const config = wrangler.unstable_readConfig({ config: WRANGLER_TOML });
  const sqlite = wrangler.unstable_getDurableObjectClassNameToUseSQLiteMap(config.migrations ?? []);
  const durableObjects = Object.fromEntries(
    (config.durable_objects?.bindings ?? []).map((binding) => [
      binding.name,
      { className: binding.class_name, useSQLite: sqlite.get(binding.class_name) ?? false },
    ]),
  );
  const vars = Object.fromEntries(
    Object.entries(config.vars ?? {}).map(([key, value]) => [key, String(value)]),
  );
  // The order flow relays its notification events to these; the local broker runs them in workerd.
  const queueProducers = Object.fromEntries(
    (config.queues?.producers ?? []).map((producer) => [producer.binding, { queueName: producer.queue }]),
  );
  const queueConsumers = Object.fromEntries(
    (config.queues?.consumers ?? []).map((consumer) => [
      consumer.queue,
      {
        maxBatchSize: consumer.max_batch_size,
        maxBatchTimeout: consumer.max_batch_timeout,
        maxRetries: consumer.max_retries,
        retryDelay: consumer.retry_delay,
        deadLetterQueue: consumer.dead_letter_queue,
      },
    ]),
  );

  const assets =
    opts.assets && config.assets?.directory
      ? {
          assets: {
            directory: resolve(ROOT, config.assets.directory),
            binding: config.assets.binding,
            routerConfig: { has_user_worker: true },
          },
        }
      : {};

  // Rate Limiting bindings, simulated by workerd as in `wrangler dev`.
  const ratelimits = Object.fromEntries(
    (config.ratelimits ?? []).map(({ name, namespace_id, simple }) => [name, { namespace_id, simple }]),
  );

  const { module, version } = loadMiniflare();
  const options = module.convertV4MiniflareOptions({
    name: "order-service",
    modules: true,
    scriptPath: opts.scriptPath,
    // Module names are relative to this; the bundle lives outside the repository.
    modulesRoot: dirname(opts.scriptPath),
    compatibilityDate: config.compatibility_date,
    compatibilityFlags: config.compatibility_flags ?? [],
    durableObjects,
    queueProducers,
    queueConsumers,
    ratelimits,
    bindings: { ...vars, ...opts.bindings },
    host: "127.0.0.1",
    port: opts.port ?? 0,
    // A socket straight into the worker's default export: no entry worker, no dev proxy.
    unsafeDirectSockets: [{ host: "127.0.0.1", port: opts.directPort ?? 0 }],
    ...(opts.persistPath ? { resourcePersistencePath: opts.persistPath } : {}),
    ...assets,
    log: new module.Log(module.LogLevel.WARN ?? 2),
    handleStructuredLogs: opts.onLog,
  });
  // (The converted options also keep the dev registry off: nothing is advertised to or found from other sessions.)
  const mf = new module.Miniflare(options);
  try {
    const entry = await mf.ready;
    const direct = await mf.unsafeGetDirectURL();
    return {
      direct,
      entry,
      miniflareVersion: version,
      scheduled: async (cron = "* * * * *") => (await (await mf.getWorker()).scheduled({ cron })).outcome,
      dispose: () => mf.dispose(),
    };
  } catch (error) {
    await mf.dispose().catch(() => {});
    throw error;
  }
}

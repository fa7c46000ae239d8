// `npm run fuzz -- --runs N --seed S`: the OpenAPI fuzz test (test/fuzz) with more generated
// requests per operation than CI's bounded sample, and its per-status tally printed at the end.
// The values reach the worker's tests as the FUZZ_RUNS / FUZZ_SEED bindings (vitest.config.ts).
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "500" }, seed: { type: "string" } },
});
for (const [name, value] of Object.entries(values)) {
  if (value !== undefined && !/^\d+$/.test(value)) {
    console.error(`--${name} must be a positive integer, not ${value}`);
    process.exit(2);
  }
}

const result = spawnSync("vitest", ["run", "test/fuzz", "--silent=false"], {
  stdio: "inherit",
  env: {
    ...process.env,
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
    FUZZ_RUNS: values.runs,
    FUZZ_SEED: values.seed ?? process.env.FUZZ_SEED ?? "",
  },
});
process.exit(result.status ?? 1);

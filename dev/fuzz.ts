// `npm run fuzz -- --runs N --seed S`: the OpenAPI fuzz test (test/fuzz) with more generated
// requests per operation than CI's bounded sample, and its per-status tally printed at the end.
// The values reach the worker's tests as the FUZZ_RUNS / FUZZ_SEED bindings (vitest.config.ts).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
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

// Console output is shown (the tally is printed by a passing test), less the worker's one log line
// per request and vitest's header above each.
const child = spawn("vitest", ["run", "test/fuzz", "--silent=false"], {
  stdio: ["ignore", "pipe", "pipe"],
  env: {
    ...process.env,
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_SEND_METRICS: "false",
    FUZZ_RUNS: values.runs,
    FUZZ_SEED: values.seed ?? process.env.FUZZ_SEED ?? "",
  },
});
const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");
const noise = /^(\{"level":|std(out|err) \| )/;
for (const [from, to] of [
  [child.stdout, process.stdout],
  [child.stderr, process.stderr],
] as const) {
  let dropped = false;
  createInterface({ input: from }).on("line", (line) => {
    const plain = line.replace(ansi, "");
    if (noise.test(plain) || (dropped && plain === "")) {
      dropped = true;
      return;
    }
    dropped = false;
    to.write(`${line}\n`);
  });
}
child.on("close", (code) => process.exit(code ?? 1));

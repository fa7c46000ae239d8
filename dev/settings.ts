// Settings for the local tooling (`npm run dev`, `npm run token`, `npm run db:migrate`): the
// process environment wins over `.dev.vars`, which wins over the defaults here.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DEV_JWT_SECRET } from "../src/config.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Parses a dotenv-style file: KEY=VALUE lines, # comments, optional quotes. */
export function parseDotenv(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match?.[1] || line.trimStart().startsWith("#")) continue;
    let value = match[2] ?? "";
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1);
    values[match[1]] = value;
  }
  return values;
}

/** `.dev.vars` overlaid with the process environment (only keys that are set and non-empty). */
export function loadSettings(): Record<string, string> {
  const file = `${ROOT}.dev.vars`;
  const fromFile = existsSync(file) ? parseDotenv(readFileSync(file, "utf8")) : {};
  const fromEnv = Object.fromEntries(Object.entries(process.env).filter(([, value]) => value)) as Record<
    string,
    string
  >;
  return { ...fromFile, ...fromEnv };
}

export function jwtSecret(settings: Record<string, string>): string {
  return settings.JWT_SECRET ?? DEV_JWT_SECRET;
}

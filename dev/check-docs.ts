// `npm run check:docs`: the README, CONTRIBUTING.md and docs/*.md must not point at nothing. Every
// relative link must reach a file or folder of the repository, and a `#anchor` a heading of the target
// (as GitHub slugs it); every `npm run X` they name must be a script of package.json (or of
// client/package.json, when written as a workspace command). Exits 1 naming each problem.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DOCS = ["README.md", "CONTRIBUTING.md", ...markdownIn("docs")];

function markdownIn(folder: string): string[] {
  const path = join(ROOT, folder);
  if (!existsSync(path)) return [];
  return readdirSync(path)
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `${folder}/${name}`);
}

function scripts(packageJson: string): Set<string> {
  const parsed = JSON.parse(readFileSync(join(ROOT, packageJson), "utf8")) as { scripts?: object };
  return new Set(Object.keys(parsed.scripts ?? {}));
}

const ROOT_SCRIPTS = scripts("package.json");
const WORKSPACES: Record<string, Set<string>> = { client: scripts("client/package.json") };

/** Blanks out fenced code blocks (keeping line numbers), where a `[x](y)` is code, not a link. */
function withoutFences(text: string): string {
  let fence: string | null = null;
  return text
    .split("\n")
    .map((line) => {
      const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
      if (marker && (fence === null || marker.startsWith(fence))) {
        fence = fence === null ? marker : null;
        return "";
      }
      return fence === null ? line : "";
    })
    .join("\n");
}

/** GitHub's heading anchor: lower case, punctuation dropped, each space a hyphen; repeats get -1, -2 … */
function slug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

const anchorCache = new Map<string, Set<string>>();

function anchorsOf(file: string): Set<string> {
  const cached = anchorCache.get(file);
  if (cached) return cached;
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(readFileSync(file, "utf8")).split("\n")) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const base = slug(heading);
      const count = seen.get(base) ?? 0;
      seen.set(base, count + 1);
      anchors.add(count === 0 ? base : `${base}-${count}`);
    }
    for (const match of line.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(match[1] as string);
  }
  anchorCache.set(file, anchors);
  return anchors;
}

interface Problem {
  at: string;
  message: string;
}

function checkLinks(doc: string, text: string): Problem[] {
  const problems: Problem[] = [];
  const lines = withoutFences(text).split("\n");
  lines.forEach((raw, index) => {
    const line = raw.replace(/`[^`]*`/g, (code) => " ".repeat(code.length));
    const targets = [
      ...[...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((match) => match[1] as string),
      ...[...line.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/g)].map((match) => match[1] as string),
    ];
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: …: not ours to check
      const at = `${doc}:${index + 1}`;
      const [pathPart = "", anchor] = target.split("#", 2);
      const file = pathPart === "" ? join(ROOT, doc) : resolve(dirname(join(ROOT, doc)), decodeURI(pathPart));
      if (!file.startsWith(ROOT)) {
        problems.push({ at, message: `link ${target} leaves the repository` });
        continue;
      }
      if (!existsSync(file)) {
        problems.push({ at, message: `link ${target}: ${relative(ROOT, file)} does not exist` });
        continue;
      }
      if (anchor === undefined || anchor === "") continue;
      if (statSync(file).isDirectory() || !file.endsWith(".md")) continue; // line anchors in code: not checked
      if (!anchorsOf(file).has(decodeURIComponent(anchor).toLowerCase())) {
        problems.push({
          at,
          message: `link ${target}: ${relative(ROOT, file)} has no heading whose anchor is #${anchor}`,
        });
      }
    }
  });
  return problems;
}

/** Every `npm run X` (or `npm test`, `npm start`) named anywhere in the text, code blocks included. */
function checkScripts(doc: string, text: string): Problem[] {
  const problems: Problem[] = [];
  text.split("\n").forEach((line, index) => {
    for (const match of line.matchAll(/\bnpm\s+(run(?:-script)?|test|start)\b([^`|;&)\n]*)/g)) {
      const [, verb, rest = ""] = match;
      const words = rest.trim().split(/\s+/).filter(Boolean);
      let workspace: string | undefined;
      const positional: string[] = [];
      for (let i = 0; i < words.length; i++) {
        const word = words[i] as string;
        if (word === "--") break;
        if (word === "-w" || word === "--workspace") workspace = words[++i];
        else if (word.startsWith("--workspace=")) workspace = word.slice("--workspace=".length);
        else if (!word.startsWith("-")) positional.push(word);
      }
      const name = verb === "test" || verb === "start" ? verb : positional[0];
      // "npm run …" in prose, or a name that is not a script name (a placeholder such as X): skip.
      if (!name || !/^[a-z][\w:.-]*$/.test(name)) continue;
      const known = workspace === undefined ? ROOT_SCRIPTS : WORKSPACES[workspace];
      const where = workspace === undefined ? "package.json" : `${workspace}/package.json`;
      if (!known) {
        problems.push({ at: `${doc}:${index + 1}`, message: `npm workspace "${workspace}" is not known` });
      } else if (!known.has(name)) {
        problems.push({
          at: `${doc}:${index + 1}`,
          message: `npm ${verb} ${name}: no script "${name}" in ${where}`,
        });
      }
    }
  });
  return problems;
}

const problems: Problem[] = [];
for (const doc of DOCS) {
  const path = join(ROOT, doc);
  if (!existsSync(path)) {
    problems.push({ at: doc, message: "missing" });
    continue;
  }
  const text = readFileSync(path, "utf8");
  problems.push(...checkLinks(doc, text), ...checkScripts(doc, text));
}

if (problems.length > 0) {
  for (const problem of problems) console.error(`${problem.at}: ${problem.message}`);
  console.error(`check:docs: ${problems.length} problem(s) in ${DOCS.length} files`);
  process.exit(1);
}
console.log(`check:docs: ${DOCS.length} files, every relative link and npm script resolves`);

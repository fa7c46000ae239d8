// Writes the worker's OpenAPI document to a file (default dist/openapi.json), for linting in CI and
// for teams that generate clients. The same function serves GET /openapi.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { createApp, openApiDocument } from "../src/app.ts";

const out = process.argv[2] ?? "dist/openapi.json";
const version = process.env.SERVICE_VERSION ?? "0.1.0";
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(openApiDocument(createApp(), version), null, 2)}\n`);
console.log(`OpenAPI document written to ${out}`);

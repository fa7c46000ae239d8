import { Validator } from "@cfworker/json-schema";
import { createApp, openApiDocument } from "../../src/app.ts";
import { ERROR_STATUS } from "../../src/lib/errors.ts";
import type { Resolve, Schema } from "./arbitraries.ts";

/**
 * The OpenAPI document as the worker serves it, and what it promises about each operation.
 * Validation runs inside workerd with @cfworker/json-schema: Ajv compiles schemas with
 * `new Function`, which workerd refuses.
 */
export const DOCUMENT_ID = "https://order-service.test/openapi.json";

type Parameter = { name: string; in: "path" | "query" | "header"; required?: boolean; schema: Schema };
type Response = {
  headers?: Record<string, { schema: Schema }>;
  content?: { "application/json"?: { schema: Schema } };
};
type Operation = {
  operationId: string;
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: { "application/json": { schema: Schema } } };
  responses: Record<string, Response>;
};
export type Document = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
};

export interface Route {
  id: string;
  method: string;
  path: string;
  auth: "bearer" | "ticket" | "none";
  /** Whether a guest token opens it (the cart routes). */
  guests: boolean;
  parameters: Parameter[];
  body: Schema | undefined;
  statuses: Set<number>;
}

export const DOCUMENT = openApiDocument(createApp(), "0.0.0-fuzz") as unknown as Document;

export const resolve: Resolve = (ref) => {
  const name = ref.replace("#/components/schemas/", "");
  const schema = DOCUMENT.components.schemas[name];
  if (!schema) throw new Error(`unresolved $ref ${ref}`);
  return schema;
};

export const ROUTES: Route[] = Object.entries(DOCUMENT.paths).flatMap(([path, operations]) =>
  Object.entries(operations).map(([method, operation]) => {
    const schemes = (operation.security ?? []).flatMap((requirement) => Object.keys(requirement));
    return {
      id: `${method.toUpperCase()} ${path}`,
      method: method.toUpperCase(),
      path,
      auth: schemes.includes("bearerAuth") ? "bearer" : schemes.includes("liveTicket") ? "ticket" : "none",
      guests: schemes.includes("guestAuth"),
      parameters: operation.parameters ?? [],
      body: operation.requestBody?.content["application/json"].schema,
      statuses: new Set(Object.keys(operation.responses).map(Number)),
    } satisfies Route;
  }),
);

const validators = new Map<string, Validator>();

/** The errors of `value` against a schema of the document (an empty list when it is valid). */
export function schemaErrors(schema: Schema, value: unknown): string[] {
  const key = JSON.stringify(schema);
  let validator = validators.get(key);
  if (!validator) {
    const rooted = schema.$ref
      ? { $ref: `${DOCUMENT_ID}${schema.$ref}` }
      : { ...schema, $id: `${DOCUMENT_ID}#x` };
    validator = new Validator(rooted as never, "2020-12", false);
    validator.addSchema({ $id: DOCUMENT_ID, ...DOCUMENT } as never);
    validators.set(key, validator);
  }
  const result = validator.validate(value);
  return result.valid
    ? []
    : result.errors
        .filter((error) => !["$ref", "properties", "items", "allOf"].includes(error.keyword))
        .map((error) => `${error.instanceLocation}: ${error.error}`);
}

/** What the document declares for a route's answer with this status, or why the answer breaks it. */
export function contractViolations(route: Route, status: number, headers: Headers, body: unknown): string[] {
  const operation = DOCUMENT.paths[route.path]?.[route.method.toLowerCase()];
  const declared = operation?.responses[String(status)];
  if (!declared) return [`status ${status} is not documented for ${route.id}`];
  const problems: string[] = [];
  for (const [name, header] of Object.entries(declared.headers ?? {})) {
    const value = headers.get(name);
    if (value !== null)
      problems.push(...schemaErrors(header.schema, value).map((e) => `header ${name} ${e}`));
  }
  const schema = declared.content?.["application/json"]?.schema;
  if (!schema) return problems;
  const contentType = headers.get("content-type");
  if (!contentType?.startsWith("application/json")) return [`content-type ${contentType}, documented JSON`];
  problems.push(...schemaErrors(schema, body));
  if (status >= 400) {
    const code = (body as { error?: { code?: string } } | null)?.error?.code;
    const codeStatus = ERROR_STATUS[code as keyof typeof ERROR_STATUS];
    if (codeStatus !== status)
      problems.push(`error code ${code} belongs to status ${codeStatus}, not ${status}`);
  }
  return problems;
}

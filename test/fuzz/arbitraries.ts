import fc from "fast-check";

/**
 * fast-check arbitraries derived from the OpenAPI document's JSON Schemas (2020-12, as OpenAPI 3.1
 * writes them). Hand-rolled rather than json-schema-faker: faker draws from its own random source,
 * so fast-check could neither replay a failure from its seed nor shrink it; these arbitraries
 * shrink like any other. Only the keywords the document uses are covered; an unknown shape falls
 * back to any JSON value, which the validator then judges.
 */
export type Schema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  allOf?: Schema[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
};

export type Resolve = (ref: string) => Schema;

const json = fc.jsonValue({ maxDepth: 2 });
const absent = Symbol("absent");

/** Strings that are not empty-looking: printable ASCII, some Unicode, now and then only spaces. */
const text = (minLength: number, maxLength: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ minLength, maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength, maxLength }) },
    {
      weight: 1,
      arbitrary: fc.string({ unit: fc.constantFrom(" ", "\t", "\n"), minLength, maxLength }),
    },
  );

function stringOf(schema: Schema): fc.Arbitrary<string> {
  const min = schema.minLength ?? 0;
  const max = schema.maxLength ?? Math.max(min, 40);
  if (schema.format === "uuid") return fc.uuid();
  if (schema.format === "date-time") {
    return fc
      .date({
        min: new Date("2000-01-01T00:00:00Z"),
        max: new Date("2099-12-31T23:59:59Z"),
        noInvalidDate: true,
      })
      .map((date) => date.toISOString());
  }
  if (schema.pattern) {
    return fc
      .stringMatching(new RegExp(schema.pattern))
      .filter((value) => value.length >= min && value.length <= max);
  }
  return text(min, Math.min(max, 300));
}

/** Values the schema accepts. */
export function valid(schema: Schema, resolve: Resolve, depth = 0): fc.Arbitrary<unknown> {
  if (schema.$ref) return valid(resolve(schema.$ref), resolve, depth);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.allOf) {
    return fc
      .tuple(...schema.allOf.map((part) => valid(part, resolve, depth)))
      .map((parts) => Object.assign({}, ...parts));
  }
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) return fc.oneof(...alternatives.map((part) => valid(part, resolve, depth)));
  if (Array.isArray(schema.type)) {
    return fc.oneof(...schema.type.map((type) => valid({ ...schema, type }, resolve, depth)));
  }
  switch (schema.type) {
    case "null":
      return fc.constant(null);
    case "boolean":
      return fc.boolean();
    case "integer":
      return fc.integer({ min: schema.minimum ?? -1_000_000, max: schema.maximum ?? 1_000_000 });
    case "number":
      return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true });
    case "string":
      return stringOf(schema);
    case "array":
      return fc.array(valid(schema.items ?? {}, resolve, depth + 1), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 3, 3),
      });
    case "object": {
      // Optional properties are left out half of the time (fc.record would leave out one in six):
      // what a client omits is as telling as what it sends.
      const required = new Set(schema.required ?? []);
      const record = Object.fromEntries(
        Object.entries(schema.properties ?? {}).map(([name, property]) => {
          const value = valid(property, resolve, depth + 1);
          return [name, required.has(name) ? value : fc.option(value, { freq: 2, nil: absent })];
        }),
      );
      return fc
        .record(record)
        .map((value) => Object.fromEntries(Object.entries(value).filter(([, item]) => item !== absent)));
    }
    default:
      return json;
  }
}

/** Values that break a schema of this type: wrong types, lengths and ranges just past the limits. */
function breaking(schema: Schema, resolve: Resolve): fc.Arbitrary<unknown> {
  if (schema.$ref) return breaking(resolve(schema.$ref), resolve);
  const near: fc.Arbitrary<unknown>[] = [json, fc.constant(null), fc.constant(""), fc.constant({})];
  if (schema.type === "string" && schema.maxLength !== undefined) {
    near.push(fc.string({ minLength: schema.maxLength + 1, maxLength: schema.maxLength + 40 }));
  }
  if (schema.type === "string" && schema.format === "uuid") near.push(fc.uuid().map((id) => `${id}x`));
  if (schema.type === "integer" || schema.type === "number") {
    if (schema.minimum !== undefined) near.push(fc.integer({ min: -1000, max: schema.minimum - 1 }));
    if (schema.maximum !== undefined) near.push(fc.integer({ min: schema.maximum + 1, max: 1e9 }));
    near.push(fc.double({ noNaN: true }), fc.constantFrom(1.5, "1", 1e300, -0));
  }
  return fc.oneof(...near);
}

/** Every JSON path inside a value, with the schema that governs it (when known). */
function pathsOf(
  value: unknown,
  schema: Schema | undefined,
  resolve: Resolve,
  path: (string | number)[] = [],
) {
  let here = schema;
  while (here?.$ref) here = resolve(here.$ref);
  const found: { path: (string | number)[]; schema: Schema | undefined }[] = [{ path, schema: here }];
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      found.push(...pathsOf(item, here?.items, resolve, [...path, index]));
    });
  } else if (value !== null && typeof value === "object") {
    const properties: Record<string, Schema> = {};
    for (const part of [here, ...(here?.allOf ?? [])]) {
      let resolved = part;
      while (resolved?.$ref) resolved = resolve(resolved.$ref);
      Object.assign(properties, resolved?.properties ?? {});
    }
    for (const [key, item] of Object.entries(value)) {
      found.push(...pathsOf(item, properties[key], resolve, [...path, key]));
    }
  }
  return found;
}

function setAt(
  root: unknown,
  path: (string | number)[],
  change: (parent: any, key: string | number) => void,
) {
  if (path.length === 0) return root;
  const copy = structuredClone(root) as any;
  let parent = copy;
  for (const key of path.slice(0, -1)) parent = parent[key];
  change(parent, path[path.length - 1] as string | number);
  return copy;
}

/**
 * A valid value with one change: a value replaced by one that breaks its schema, a property
 * removed, or an unknown property added (which the service must ignore). Whether the result is
 * still valid is for the validator to say.
 */
export function mutated(schema: Schema, resolve: Resolve): fc.Arbitrary<unknown> {
  return valid(schema, resolve).chain((value) => {
    const paths = pathsOf(value, schema, resolve);
    return fc.oneof(
      fc.nat({ max: paths.length - 1 }).chain((index) => {
        const target = paths[index] as (typeof paths)[number];
        return breaking(target.schema ?? {}, resolve).map((replacement) =>
          target.path.length === 0
            ? replacement
            : setAt(value, target.path, (parent, key) => {
                parent[key] = replacement;
              }),
        );
      }),
      fc.nat({ max: paths.length - 1 }).map((index) => {
        const target = paths[index] as (typeof paths)[number];
        return setAt(value, target.path, (parent, key) => {
          if (Array.isArray(parent)) parent.splice(key as number, 1);
          else delete parent[key];
        });
      }),
      fc
        .tuple(fc.constantFrom("price", "userId", "status", "totalAmount", "__proto__", "x"), json)
        .map(([key, extra]) =>
          value !== null && typeof value === "object" && !Array.isArray(value)
            ? { ...value, [key]: extra }
            : value,
        ),
    );
  });
}

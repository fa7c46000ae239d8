import fc from "fast-check";
import { mutated, type Schema, valid } from "./arbitraries.ts";
import { type Route, resolve, schemaErrors } from "./contract.ts";

/**
 * A generated request, as fast-check prints it when a property fails. Ids the service made
 * (cart lines, orders, dead letters, tickets) are drawn from pools filled as the run goes, by
 * index: the plan stays a plain value that shrinks, and the failure message shows what was sent.
 */
export type Auth =
  | "none"
  | "garbage"
  | "basic"
  | "expired"
  | "forged"
  | "oversized"
  | "badClaims"
  | "user"
  | "fresh"
  | "admin"
  | "guest";
export type Pool = "items" | "orders" | "deadLetters" | "tickets" | "products" | "cursors" | "guests";
export type PoolPick = { pool: Pool; index: number };
/** A path segment sent as written, not percent-encoded (e.g. a broken escape such as `%E0%A4%A`). */
export type RawSegment = { raw: string };
export type Value = string | PoolPick | RawSegment;

export interface Plan {
  auth: Auth;
  params: Record<string, Value>;
  query: Record<string, Value | undefined>;
  headers: Record<string, string | undefined>;
  /** productPick: the body's productId from the products pool; guestPick: its guestToken from the guests pool. */
  body?:
    | { json: unknown; productPick?: number; guestPick?: number }
    | { raw: string }
    | { oversized: number };
  contentType?: string;
  /** Checkout only: put a product in the caller's cart first, so that some checkouts succeed. */
  fillCart?: boolean;
  /** Sends the first query parameter twice. */
  repeatQuery?: boolean;
  /**
   * Routes of one order: first place a new order of the user's and bring it to this status, and
   * send its id, so that every step of the status flow is reached however earlier runs left the
   * shared orders.
   */
  freshOrder?: FreshOrder;
}

export type FreshOrder = "pending" | "declined" | "paid" | "processing" | "shipped";

/** Content types that are JSON (a valid body is valid), that are not (any body is invalid), or neither. */
export const JSON_TYPES = ["application/json", "application/json; charset=utf-8"];
export const NOT_JSON_TYPES = [
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
];

/**
 * What the document calls JSON (its description): application/json in any case, with no parameter
 * or charset=utf-8. Any other Content-Type on an operation that takes a body is 415.
 */
export function isJsonContentType(type: string): boolean {
  const [essence, ...parameters] = type.split(";").map((part) => part.trim().toLowerCase());
  if (essence !== "application/json") return false;
  return (
    parameters.every((parameter) => /^charset\s*=\s*"?utf-8"?$/.test(parameter)) && parameters.length <= 1
  );
}

export const VALID_AUTH: Auth[] = ["user", "fresh", "admin"];

const POOL_OF_PARAM: Record<string, Pool> = {
  item_id: "items",
  order_id: "orders",
  dead_letter_id: "deadLetters",
  ticket: "tickets",
  cursor: "cursors",
};

/** Printable ASCII: what a header value can carry (Headers trims the ends). */
const headerText = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
});

const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom("", "..", "%2F", "null", "-1", "0", "1e3", "00000000-0000-0000-0000-000000000000"),
);

/**
 * "any": valid and invalid input, good and bad tokens. "valid": only what the document allows, with
 * a user's or an admin's token, so that deep paths (a shipped order, a retried payment) are reached
 * often enough for "schema-valid input is never refused as invalid" to be tested there.
 */
export type Mode = "any" | "valid";

function paramValue(name: string, schema: Schema, inPath: boolean, mode: Mode): fc.Arbitrary<Value> {
  const pool = POOL_OF_PARAM[name];
  const options: fc.WeightedArbitrary<Value>[] = [
    { weight: 1, arbitrary: valid(schema, resolve).map(String) },
  ];
  if (mode === "any") options.push({ weight: 1, arbitrary: anyText });
  // Ids the service made, half of the time; the first few (the fixtures: orders in each status
  // the flow reaches, a declined payment, a replayable dead letter) most often.
  if (pool) {
    options.push({
      weight: 3,
      arbitrary: fc.oneof(fc.nat(7), fc.nat(100)).map((index) => ({ pool, index })),
    });
  }
  if (inPath && mode === "any") {
    options.push({
      weight: 1,
      arbitrary: fc
        .constantFrom("%", "%zz", "%E0%A4%A", "%00", "%2F", "%252F", "%C0%AE")
        .map((raw) => ({ raw })),
    });
  }
  // An empty, "." or ".." segment never reaches the route: the URL resolves it to another path.
  return fc.oneof(...options).filter((value) => !inPath || !["", ".", ".."].includes(value as string));
}

function bodyOf(route: Route, mode: Mode): fc.Arbitrary<Pick<Plan, "body" | "contentType">> {
  const contentType = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...JSON_TYPES) },
    { weight: 1, arbitrary: fc.constantFrom(...NOT_JSON_TYPES, undefined) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "APPLICATION/JSON",
        "application/vnd.api+json",
        "application/json; charset=latin1",
      ),
    },
  );
  if (route.method === "GET") return fc.constant({});
  if (!route.body) {
    // Bodies on routes that take none must be ignored.
    return fc.option(fc.record({ body: fc.record({ json: fc.jsonValue({ maxDepth: 1 }) }), contentType }), {
      freq: 3,
      nil: {},
    }) as fc.Arbitrary<Pick<Plan, "body" | "contentType">>;
  }
  const schema = route.body;
  const productPick =
    route.id === "POST /api/cart/items" ? fc.option(fc.nat(10), { nil: undefined }) : fc.constant(undefined);
  const guestPick =
    route.id === "POST /api/cart/merge" ? fc.option(fc.nat(3), { nil: undefined }) : fc.constant(undefined);
  if (mode === "valid") {
    return fc.record({
      body: fc.record({ json: valid(schema, resolve), productPick, guestPick }, { requiredKeys: ["json"] }),
      contentType: fc.constantFrom(...JSON_TYPES),
    });
  }
  const json = fc.oneof(
    { weight: 2, arbitrary: valid(schema, resolve) },
    { weight: 1, arbitrary: mutated(schema, resolve) },
  );
  const body = fc.oneof(
    { weight: 6, arbitrary: fc.record({ json, productPick, guestPick }, { requiredKeys: ["json"] }) },
    {
      weight: 1,
      arbitrary: fc.record({
        raw: fc.oneof(fc.string(), fc.constantFrom("{", "[1,", "nul", "{}x")),
      }),
    },
    // Past the 64 KiB limit: sent as a JSON object of that many bytes.
    { weight: 1, arbitrary: fc.record({ oversized: fc.integer({ min: 64 * 1024 + 1, max: 80_000 }) }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
  return fc.record({ body, contentType });
}

export function planOf(route: Route, mode: Mode = "any"): fc.Arbitrary<Plan> {
  const params = Object.fromEntries(
    route.parameters
      .filter((p) => p.in === "path")
      .map((p) => [p.name, paramValue(p.name, p.schema, true, mode)] as const),
  );
  const queryParams = route.parameters.filter((p) => p.in === "query");
  if (route.auth === "ticket") queryParams.push({ name: "ticket", in: "query", schema: { type: "string" } });
  const query = Object.fromEntries(
    queryParams.map((p) => [
      p.name,
      fc.option(paramValue(p.name, p.schema, false, mode), { nil: undefined }),
    ]),
  );
  const headers = Object.fromEntries(
    route.parameters
      .filter((p) => p.in === "header")
      .map((p) => [
        p.name,
        fc.option(
          mode === "any"
            ? fc.oneof(valid(p.schema, resolve).map(String), headerText)
            : valid(p.schema, resolve).map(String),
          { nil: undefined },
        ),
      ]),
  );
  if (route.auth === "ticket") {
    headers.upgrade = fc.option(
      mode === "any" ? fc.constantFrom("websocket", "WebSocket", "h2c", "") : fc.constant("websocket"),
      { nil: undefined },
    );
  }
  if (mode === "any") headers["x-request-id"] = fc.option(headerText, { freq: 4, nil: undefined });
  // The first is in the tests' CORS_ORIGINS (vitest.config.ts).
  headers.origin = fc.option(fc.constantFrom("https://shop.example.com", "https://evil.example.com"), {
    nil: undefined,
  });
  // A quarter without a valid token: enough to see every refusal, most runs reach the handler.
  const invalid = mode === "any" ? 1 : 0;
  const auth = fc.oneof(
    ...(["none", "garbage", "basic", "expired", "forged", "oversized", "badClaims"] as const).map((name) => ({
      weight: invalid,
      arbitrary: fc.constant<Auth>(name),
    })),
    { weight: 8, arbitrary: fc.constant<Auth>("user") },
    // A guest's token: its own cart on the cart routes, 403 SIGN_IN_REQUIRED everywhere else.
    { weight: 2, arbitrary: fc.constant<Auth>("guest") },
    { weight: 3, arbitrary: fc.constant<Auth>("fresh") },
    // Past a 403 more often where the document declares one (admin-only steps), in "valid" mode.
    { weight: mode === "valid" && route.statuses.has(403) ? 12 : 4, arbitrary: fc.constant<Auth>("admin") },
  );
  return fc
    .record({
      auth,
      params: fc.record(params),
      query: fc.record(query, { requiredKeys: [] }),
      headers: fc.record(headers, { requiredKeys: [] }),
      rest: bodyOf(route, mode),
      fillCart: route.id === "POST /api/orders" ? fc.boolean() : fc.constant(false),
      repeatQuery:
        queryParams.length > 0 && mode === "any" ? fc.nat(9).map((n) => n === 0) : fc.constant(false),
      freshOrder:
        "order_id" in params
          ? fc.oneof(
              // Reads see every status anyway; the status flow and payment retries need them most.
              {
                weight: route.method === "GET" ? 9 : mode === "valid" ? 0 : 4,
                arbitrary: fc.constant(undefined),
              },
              {
                weight: 1,
                arbitrary: fc.constantFrom<FreshOrder>(
                  "pending",
                  "declined",
                  "paid",
                  "processing",
                  "shipped",
                ),
              },
            )
          : fc.constant(undefined),
    })
    .map(({ rest, fillCart, repeatQuery, freshOrder, ...plan }) => ({
      ...plan,
      ...rest,
      ...(fillCart ? { fillCart } : {}),
      ...(repeatQuery ? { repeatQuery } : {}),
      ...(freshOrder ? { freshOrder } : {}),
    }));
}

/** How a query or header value reads once the service has it as text. */
function readsAs(value: string, schema: Schema, strict: boolean): unknown {
  let resolved = schema;
  while (resolved.$ref) resolved = resolve(resolved.$ref);
  if (resolved.type === "integer" || resolved.type === "number") {
    if (strict) return /^-?\d+$/.test(value) ? Number(value) : value;
    return value.trim() === "" ? value : Number(value);
  }
  return value;
}

/**
 * Whether the resolved inputs are valid against the document: "valid" read strictly (the way a
 * careful client writes them), "invalid" even read leniently (e.g. `1e1` for an integer), else
 * "unclear" and no expectation follows.
 */
export function judgeInputs(
  route: Route,
  sent: {
    params: Record<string, string>;
    query: Record<string, string>;
    headers: Headers;
    body: unknown;
    json: boolean | "unclear";
    repeatedQuery: boolean;
  },
): "valid" | "invalid" | "unclear" {
  let verdict: "valid" | "invalid" | "unclear" = sent.repeatedQuery ? "unclear" : "valid";
  const weigh = (value: string | null, parameter: { schema: Schema; required?: boolean }) => {
    if (value === null) {
      if (parameter.required) verdict = "invalid";
      return;
    }
    const strict = schemaErrors(parameter.schema, readsAs(value, parameter.schema, true)).length === 0;
    const lenient = schemaErrors(parameter.schema, readsAs(value, parameter.schema, false)).length === 0;
    if (!strict && !lenient) verdict = "invalid";
    else if (!strict && verdict === "valid") verdict = "unclear";
  };
  for (const parameter of route.parameters) {
    if (parameter.in === "path") weigh(sent.params[parameter.name] ?? null, parameter);
    if (parameter.in === "query") weigh(sent.query[parameter.name] ?? null, parameter);
    if (parameter.in === "header") weigh(sent.headers.get(parameter.name), parameter);
  }
  if (route.body) {
    if (!sent.json || schemaErrors(route.body, sent.body).length > 0) verdict = "invalid";
    else if (sent.json === "unclear" && verdict === "valid") verdict = "unclear";
  }
  return verdict;
}

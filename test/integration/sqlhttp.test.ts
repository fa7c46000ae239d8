// dev/sqlhttp.ts (the local stand-in for Neon's SQL-over-HTTP endpoint) against the driver's own calls,
// made from inside workerd exactly as the worker makes them.
import { env } from "cloudflare:workers";
import { type NeonDbError, neon, neonConfig } from "@neondatabase/serverless";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isUnavailable, withDatabase } from "../../src/db/client.ts";
import { ApiError } from "../../src/lib/errors.ts";

const sql = neon(env.DATABASE_URL);
const table = `sqlhttp_probe_${crypto.randomUUID().replaceAll("-", "")}`;

/** The error a call rejects with (the test fails if it resolves). */
async function failure(call: Promise<unknown>): Promise<NeonDbError> {
  try {
    await call;
  } catch (error) {
    return error as NeonDbError;
  }
  throw new Error("expected the call to fail");
}

async function count(): Promise<number> {
  const [row] = await sql.query(`SELECT count(*)::int AS n FROM ${table}`);
  return row?.n as number;
}

beforeAll(async () => {
  neonConfig.fetchEndpoint = env.DATABASE_HTTP_ENDPOINT;
  await sql.query(`CREATE TABLE ${table} (id int PRIMARY KEY, note text)`);
});

afterAll(async () => {
  await sql.query(`DROP TABLE IF EXISTS ${table}`);
});

describe("the local SQL-over-HTTP endpoint", () => {
  it("runs a single query and round-trips each parameter type", async () => {
    const at = new Date("2026-11-28T03:04:05.678Z");
    const [row = {}] = await sql.query(
      `SELECT $1::int AS i, $2::bigint AS big, $3::text AS t, $4::timestamptz AS at, $5::jsonb AS doc,
              $6::bool AS yes, $7::bytea AS raw, $8::text AS nothing, $9::int[] AS list, $10::numeric AS amount`,
      [
        42,
        "9007199254740993",
        "naïve ✓ 'quoted'",
        at,
        { a: [1, "b"], c: null },
        true,
        new Uint8Array([0, 1, 255]),
        null,
        [1, 2, 3],
        "12.50",
      ],
    );
    expect(row).toMatchObject({
      i: 42,
      big: "9007199254740993", // int8 stays text: it does not fit a JS number
      t: "naïve ✓ 'quoted'",
      doc: { a: [1, "b"], c: null },
      yes: true,
      nothing: null,
      list: [1, 2, 3],
      amount: "12.50",
    });
    // Drizzle's neon-http registers a raw-text parser for timestamptz once the worker has used it.
    expect(new Date(row.at as string | Date).toISOString()).toBe(at.toISOString());
    expect([...(row.raw as Uint8Array)]).toEqual([0, 1, 255]);
  });

  it("answers rows as arrays with their fields in array mode", async () => {
    const arrays = neon(env.DATABASE_URL, { arrayMode: true, fullResults: true });
    const result = await arrays.query("SELECT 1::int AS one, 'two'::text AS two UNION ALL SELECT 3, NULL");
    expect(result.rows).toEqual([
      [1, "two"],
      [3, null],
    ]);
    expect(result.fields.map((field) => [field.name, field.dataTypeID])).toEqual([
      ["one", 23],
      ["two", 25],
    ]);
    expect(result).toMatchObject({ command: "SELECT", rowCount: 2 });
  });

  it("applies a batch as one transaction", async () => {
    const [inserted, selected] = await sql.transaction([
      sql.query(`INSERT INTO ${table} (id, note) VALUES (1, 'one'), (2, 'two') RETURNING id`),
      sql.query(`SELECT note FROM ${table} ORDER BY id`),
    ]);
    expect(inserted).toEqual([{ id: 1 }, { id: 2 }]);
    expect(selected).toEqual([{ note: "one" }, { note: "two" }]);
    await sql.query(`DELETE FROM ${table}`);
  });

  it("rolls a batch back entirely when a statement fails mid-way", async () => {
    const error = await failure(
      sql.transaction([
        sql.query(`INSERT INTO ${table} (id) VALUES (10)`),
        sql.query("SELECT 1 / 0"),
        sql.query(`INSERT INTO ${table} (id) VALUES (11)`),
      ]),
    );
    expect(error.code).toBe("22012");
    expect(await count()).toBe(0);
  });

  it("honours the batch options (Neon-Batch-Read-Only, Neon-Batch-Isolation-Level)", async () => {
    const readOnly = await failure(
      sql.transaction([sql.query(`INSERT INTO ${table} (id) VALUES (20)`)], { readOnly: true }),
    );
    expect(readOnly.code).toBe("25006");
    const [[level]] = (await sql.transaction([sql.query("SHOW transaction_isolation")], {
      isolationLevel: "Serializable",
    })) as [Record<string, unknown>[]];
    expect(level).toEqual({ transaction_isolation: "serializable" });
    expect(await count()).toBe(0);
  });

  it("keeps a query error's SQLSTATE and fields, so it stays a bug and not an outage", async () => {
    const error = await failure(sql.query("SELECT * FROM no_such_table_here"));
    expect(error).toMatchObject({ code: "42P01", severity: "ERROR", position: "15" });
    expect(error.message).toContain("no_such_table_here");
    expect(isUnavailable(error)).toBe(false);
  });

  it("keeps an unavailable-class SQLSTATE, which maps to DATABASE_UNAVAILABLE", async () => {
    const error = await failure(
      withDatabase(() =>
        sql.transaction([sql.query("SET LOCAL statement_timeout = '10ms'"), sql.query("SELECT pg_sleep(1)")]),
      ),
    );
    expect(error).toBeInstanceOf(ApiError);
    expect((error as unknown as ApiError).code).toBe("DATABASE_UNAVAILABLE");
  });

  it("answers 502 when the database cannot be reached, which maps to DATABASE_UNAVAILABLE", async () => {
    const nowhere = neon("postgres://postgres@127.0.0.1:1/nowhere");
    const error = await failure(nowhere.query("SELECT 1"));
    expect(error.message).toMatch(/^Server error \(HTTP status 502\)/);
    expect(isUnavailable(error)).toBe(true);
  });

  it("maps a refused connection to the endpoint itself to DATABASE_UNAVAILABLE", async () => {
    neonConfig.fetchEndpoint = "http://127.0.0.1:1/sql";
    try {
      const error = await failure(sql.query("SELECT 1"));
      expect(error.message).toMatch(/^Error connecting to database/);
      expect(isUnavailable(error)).toBe(true);
    } finally {
      neonConfig.fetchEndpoint = env.DATABASE_HTTP_ENDPOINT;
    }
  });
});

import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config.ts";
import { Database } from "../../src/db/client.ts";
import { ApiError } from "../../src/lib/errors.ts";
import { uuidv7 } from "../../src/lib/ids.ts";
import { newUserId } from "../helpers/auth.ts";
import { query, withDb } from "../helpers/orders.ts";

async function pendingOrder(userId: number): Promise<string> {
  const id = uuidv7();
  await query(sql`
    INSERT INTO orders (id, user_id, status, payment_status, payment_method, total_amount, currency, shipping_address)
    VALUES (${id}, ${userId}, 'pending', 'pending', 'cash_on_delivery', 0, 'USD', '{}'::jsonb)`);
  return id;
}

describe("database transactions", () => {
  it("run once more after a deadlock instead of failing the request", async () => {
    const userId = newUserId();
    const [a, b] = [await pendingOrder(userId), await pendingOrder(userId)];
    let attempts = 0;
    // Each locks one order, waits until the other has locked its own, then wants the other's: a
    // deadlock Postgres breaks by rolling one back (SQLSTATE 40P01). The wait is for the other's lock,
    // not a time, so however slow the machine, both first attempts deadlock and only they do.
    let locked = 0;
    let bothLocked: () => void = () => {};
    const barrier = new Promise<void>((resolve) => {
      bothLocked = resolve;
    });
    const lockBoth = (database: Database, first: string, second: string) =>
      database.transaction(async (tx) => {
        attempts += 1;
        await tx.execute(sql`SELECT id FROM orders WHERE id = ${first} FOR UPDATE`);
        locked += 1;
        if (locked === 2) bothLocked();
        await barrier;
        await tx.execute(sql`UPDATE orders SET carrier = 'x' WHERE id = ${second}`);
      });
    await Promise.all([
      withDb((database) => lockBoth(database, a, b)),
      withDb((database) => lockBoth(database, b, a)),
    ]);
    expect(attempts).toBe(3);
    const rows = await query<{ carrier: string }>(sql`SELECT carrier FROM orders WHERE id IN (${a}, ${b})`);
    expect(rows).toEqual([{ carrier: "x" }, { carrier: "x" }]);
  });
});

describe("batches over the HTTP path", () => {
  /**
   * A counter of its own for test_fail_first(counter, failures): a function that fails with a
   * serialization failure (SQLSTATE 40001) the first `failures` times it runs.
   */
  async function failingCounter(): Promise<string> {
    const counter = `test_tries_${crypto.randomUUID().replaceAll("-", "")}`;
    await query(sql.raw(`CREATE SEQUENCE ${counter}`));
    await query(
      sql.raw(`CREATE OR REPLACE FUNCTION test_fail_first(counter text, failures int) RETURNS boolean
      LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval(counter::regclass) <= failures THEN
          RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'could not serialize access (test)';
        END IF;
        RETURN true;
      END $$`),
    );
    return counter;
  }

  async function runs(counter: string): Promise<number> {
    const [row] = await query<{ n: string }>(sql.raw(`SELECT last_value AS n FROM ${counter}`));
    return Number(row?.n);
  }

  it("are sent once more when the database rolls them back to resolve a conflict (class 40)", async () => {
    const counter = await failingCounter();
    const userId = newUserId();
    const id = uuidv7();
    const database = new Database(getConfig(env));
    await database.batch((db) =>
      db.batch([
        db.execute(sql`SELECT test_fail_first(${counter}, 1)`),
        db.execute(sql`
          INSERT INTO orders (id, user_id, status, payment_status, payment_method, total_amount, currency, shipping_address)
          VALUES (${id}, ${userId}, 'pending', 'pending', 'cash_on_delivery', 0, 'USD', '{}'::jsonb)`),
      ]),
    );
    expect(await runs(counter)).toBe(2);
    expect(await query(sql`SELECT 1 FROM orders WHERE id = ${id}`)).toHaveLength(1);
  });

  it("answer 503 DATABASE_UNAVAILABLE when the second try is rolled back too, having written nothing", async () => {
    const counter = await failingCounter();
    const id = uuidv7();
    const database = new Database(getConfig(env));
    const failure = await database
      .batch((db) =>
        db.batch([
          db.execute(sql`SELECT test_fail_first(${counter}, 5)`),
          db.execute(sql`
            INSERT INTO orders (id, user_id, status, payment_status, payment_method, total_amount, currency, shipping_address)
            VALUES (${id}, ${newUserId()}, 'pending', 'pending', 'cash_on_delivery', 0, 'USD', '{}'::jsonb)`),
        ]),
      )
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ApiError);
    expect((failure as ApiError).code).toBe("DATABASE_UNAVAILABLE");
    expect(await runs(counter)).toBe(2);
    expect(await query(sql`SELECT 1 FROM orders WHERE id = ${id}`)).toHaveLength(0);
  });

  it("run at READ COMMITTED whatever the database's default, as their checks need", async () => {
    const config = getConfig(env);
    const url = new URL(config.DATABASE_URL);
    // A session whose default is REPEATABLE READ: only the batch's stated level can override it.
    url.searchParams.set("options", "-c default_transaction_isolation=repeatable\\ read");
    const database = new Database({ ...config, DATABASE_URL: url.toString() });
    const [, [row]] = await database.batch((db) =>
      db.batch([
        db.execute(sql`SELECT 1`),
        db
          .select({ level: sql<string>`current_setting('transaction_isolation')` })
          .from(sql`(SELECT 1) AS one`),
      ]),
    );
    const [single] = await database.once((db) =>
      db
        .select({ level: sql<string>`current_setting('default_transaction_isolation')` })
        .from(sql`(SELECT 1) AS one`),
    );
    expect(single?.level).toBe("repeatable read");
    expect(row?.level).toBe("read committed");
  });
});

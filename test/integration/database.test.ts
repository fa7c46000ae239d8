import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config.ts";
import { Database } from "../../src/db/client.ts";
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
    // Each locks one order, waits for the other to do the same, then wants the other's: a deadlock
    // Postgres breaks by rolling one back (SQLSTATE 40P01).
    const lockBoth = (database: Database, first: string, second: string) =>
      database.transaction(async (tx) => {
        attempts += 1;
        await tx.execute(sql`SELECT id FROM orders WHERE id = ${first} FOR UPDATE`);
        await new Promise((resolve) => setTimeout(resolve, 300));
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

import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { markReplayed } from "../../src/db/queries.ts";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { failNotifications, receivedEventually } from "../helpers/notifications.ts";
import { CASH_ON_DELIVERY, cartWith, eventually, placeOrder, query, withDb } from "../helpers/orders.ts";

type Letter = { id: string; type: string | null; orderId: string | null; replays: number; lastError: string };

async function pendingLetters(admin: { headers: Record<string, string> }): Promise<Letter[]> {
  const res = await api("GET", "/api/admin/dead-letters?limit=100", { headers: admin.headers });
  expect(res.status).toBe(200);
  return res.body.data.deadLetters;
}

describe("dead letters", () => {
  it("keeps a refused notification for an admin to replay, and the replay delivers it", async () => {
    const user = await newUser();
    const admin = await newUser("ADMIN");
    await failNotifications(user.id, 1, { status: 422 });
    await cartWith(user, 1);
    const order = (await placeOrder(user, CASH_ON_DELIVERY)).body.data;

    const letters = await eventually(
      () => pendingLetters(admin),
      (list) => list.some((letter) => letter.orderId === order.id),
    );
    const letter = letters.find((each) => each.orderId === order.id) as Letter;
    expect(letter).toMatchObject({ type: "order_confirmation", attempts: 1, replays: 0, replayedAt: null });
    expect(letter.lastError).toMatch(/^HTTP 422/);

    const replayed = await api("POST", `/api/admin/dead-letters/${letter.id}/replay`, {
      headers: admin.headers,
    });
    expect(replayed.status).toBe(200);
    expect(replayed.body.data).toMatchObject({ id: letter.id, replays: 1, replayedAt: expect.any(String) });

    const [notification] = await receivedEventually({ orderId: order.id }, 1);
    expect(notification).toMatchObject({ key: letter.id, type: "order_confirmation", user_id: user.id });
    expect((await pendingLetters(admin)).some((each) => each.id === letter.id)).toBe(false);
    const all = await api("GET", "/api/admin/dead-letters?pending=false&limit=100", {
      headers: admin.headers,
    });
    expect(all.body.data.deadLetters.some((each: Letter) => each.id === letter.id)).toBe(true);
  });

  it("pages with a cursor", async () => {
    const admin = await newUser("ADMIN");
    for (const n of [1, 2, 3]) {
      await query(sql`INSERT INTO dead_letters (id, body, attempts, last_error, failed_at)
        VALUES (${`message:page-${n}-${admin.id}`}, '{}'::jsonb, 1, 'test', now() + make_interval(days => 365 + ${n}))`);
    }
    const first = await api("GET", "/api/admin/dead-letters?limit=2", { headers: admin.headers });
    expect(first.body.data.deadLetters.map((l: Letter) => l.id)).toEqual([
      `message:page-3-${admin.id}`,
      `message:page-2-${admin.id}`,
    ]);
    const second = await api("GET", `/api/admin/dead-letters?limit=2&cursor=${first.body.data.nextCursor}`, {
      headers: admin.headers,
    });
    expect(second.body.data.deadLetters[0].id).toBe(`message:page-1-${admin.id}`);
    const bad = await api("GET", "/api/admin/dead-letters?cursor=nope", { headers: admin.headers });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe("VALIDATION_FAILED");
  });

  it("refuses to replay what is not an event, and what does not exist", async () => {
    const admin = await newUser("ADMIN");
    const id = `message:not-an-event-${admin.id}`;
    await query(
      sql`INSERT INTO dead_letters (id, body, attempts, last_error) VALUES (${id}, '{"hello":1}'::jsonb, 1, 'malformed')`,
    );
    const malformed = await api("POST", `/api/admin/dead-letters/${id}/replay`, { headers: admin.headers });
    expect(malformed.status).toBe(409);
    expect(malformed.body.error.code).toBe("DEAD_LETTER_NOT_REPLAYABLE");
    const missing = await api("POST", "/api/admin/dead-letters/nope/replay", { headers: admin.headers });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("DEAD_LETTER_NOT_FOUND");
  });

  it("leaves a dead letter pending when its replay failed again before it was marked", async () => {
    const id = `message:replay-race-${Date.now()}`;
    await query(
      sql`INSERT INTO dead_letters (id, body, attempts, last_error) VALUES (${id}, '{}'::jsonb, 1, 'first')`,
    );
    const [read] = await query<{ failed_at: Date }>(sql`SELECT failed_at FROM dead_letters WHERE id = ${id}`);
    // The replayed event died again and came back before the replay was marked.
    await query(
      sql`UPDATE dead_letters SET failed_at = clock_timestamp() + interval '1.0001234 second', last_error = 'again' WHERE id = ${id}`,
    );
    const marked = await withDb((database) =>
      database.once((db) => markReplayed(db, id, new Date(read?.failed_at as Date))),
    );
    expect(marked).toBeUndefined();
    const [row] = await query<{ replayed_at: Date | null }>(
      sql`SELECT replayed_at FROM dead_letters WHERE id = ${id}`,
    );
    expect(row?.replayed_at).toBeNull();
    // Unchanged since it was read (Postgres keeps microseconds, the read value milliseconds): marked.
    const [again] = await query<{ failed_at: Date }>(
      sql`SELECT failed_at FROM dead_letters WHERE id = ${id}`,
    );
    const now = await withDb((database) =>
      database.once((db) => markReplayed(db, id, new Date(again?.failed_at as Date))),
    );
    expect(now?.replays).toBe(1);
  });

  it("is for admins only", async () => {
    const user = await newUser();
    const list = await api("GET", "/api/admin/dead-letters", { headers: user.headers });
    expect(list.status).toBe(403);
    expect(list.body.error.code).toBe("FORBIDDEN");
    const replay = await api("POST", "/api/admin/dead-letters/x/replay", { headers: user.headers });
    expect(replay.status).toBe(403);
    expect((await api("GET", "/api/admin/dead-letters")).status).toBe(401);
  });
});

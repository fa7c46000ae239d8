// Smoke test of the local database tooling: the Neon driver through dev/wsproxy.ts against the embedded
// PGlite server (dev/pglite.ts) and against any Postgres URLs given on the command line.
//   node dev/smoke-db.ts [postgres://postgres@127.0.0.1:5432/test ...]
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { neonConfig, Pool } from "@neondatabase/serverless";
import { WebSocket } from "ws";
import { startEmbeddedPostgres } from "./pglite.ts";
import { startWsProxy } from "./wsproxy.ts";

const proxy = await startWsProxy();
neonConfig.webSocketConstructor = WebSocket;
neonConfig.wsProxy = (host, port) => `127.0.0.1:${proxy.port}/v1?address=${host}:${port}`;
neonConfig.useSecureWebSocket = false;
neonConfig.pipelineTLS = false;
neonConfig.pipelineConnect = false;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

async function checkDatabase(label: string, url: string): Promise<void> {
  const t0 = performance.now();
  const pool = new Pool({ connectionString: url, max: 5 });
  const step = (name: string) =>
    console.log(`  ${label}: ${name} (${Math.round(performance.now() - t0)} ms)`);
  try {
    assert.equal((await pool.query("select 1 as one")).rows[0].one, 1);
    await pool.query("drop table if exists smoke; create table smoke (id int primary key, v text)");

    const client = await pool.connect();
    await client.query("BEGIN");
    await client.query("insert into smoke values ($1, $2), ($3, $4)", [1, "a", 2, "b"]);
    await client.query("COMMIT");
    await client.query("BEGIN");
    await client.query("insert into smoke values ($1, $2)", [3, "rolled back"]);
    await client.query("ROLLBACK");
    client.release();
    assert.equal((await pool.query("select count(*)::int as n from smoke")).rows[0].n, 2);
    step("select 1, commit, rollback");

    // Distinct SQL per query, so a Bind landing on another connection's Parse would show.
    const expectOwnRows = (results: { rows: { n: number; tag: string }[] }[]) =>
      results.forEach((r, i) => {
        assert.deepEqual(r.rows[0], { n: i * 2, tag: `q${i}` });
      });
    const distinct = (i: number, p = pool) => p.query(`select $1::int + ${i} as n, 'q${i}' as tag`, [i]);
    expectOwnRows(await Promise.all(range(20).map((i) => distinct(i))));
    step("20 concurrent queries on 5 connections");

    // Queries queued behind an open transaction, released together.
    const wide = new Pool({ connectionString: url, max: 12 });
    const holder = await wide.connect();
    await holder.query("BEGIN");
    await holder.query("select $1::int", [1]);
    const queued = range(10).map((i) => distinct(i, wide));
    const beside = await Promise.race([
      queued[0]?.then(() => "answered"),
      sleep(300).then(() => "waits for COMMIT"),
    ]);
    await holder.query("COMMIT");
    holder.release();
    expectOwnRows(await Promise.all(queued));
    step(`10 queries behind an open transaction (a query beside it ${beside})`);

    // A message larger than one TCP read, next to small ones.
    const big = "x".repeat(300_000);
    const mixed = await Promise.all(
      range(9).map((i) => (i % 3 ? distinct(i, wide) : wide.query("select length($1::text) as n", [big]))),
    );
    for (const [i, r] of mixed.entries()) assert.equal(r.rows[0].n, i % 3 ? i * 2 : big.length);
    step("300 KB parameter beside small queries");

    const errors = await Promise.allSettled(
      range(20).map((i) => (i % 2 ? pool.query("insert into smoke values (1, 'dup')") : distinct(i))),
    );
    errors.forEach((r, i) => {
      if (i % 2) assert.equal(r.status === "rejected" && (r.reason as { code?: string }).code, "23505");
      else assert.equal(r.status === "fulfilled" && r.value.rows[0].n, i * 2);
    });
    step("failing queries beside good ones");

    const doomed = await wide.connect();
    await doomed.query("BEGIN");
    await doomed.query("update smoke set v = 'lost' where id = $1", [1]);
    doomed.release(new Error("drop this connection"));
    assert.equal((await pool.query("select v from smoke where id = $1", [1])).rows[0].v, "a");
    await wide.end();
    step("connection lost inside a transaction is rolled back");

    await pool.query("create table if not exists stock (id int primary key, qty int); delete from stock");
    await pool.query("insert into stock values (1, 10)");
    const pools = range(4).map(() => new Pool({ connectionString: url, max: 5 }));
    const bought = await Promise.all(
      range(100).map(async (i) => {
        const c = await (pools[i % 4] as Pool).connect();
        try {
          await c.query("BEGIN");
          const { rows } = await c.query("select qty from stock where id = $1 for update", [1]);
          if (rows[0].qty > 0) await c.query("update stock set qty = qty - 1 where id = $1", [1]);
          await c.query("COMMIT");
          return rows[0].qty > 0;
        } finally {
          c.release();
        }
      }),
    );
    await Promise.all(pools.map((p) => p.end()));
    assert.equal(bought.filter(Boolean).length, 10);
    assert.equal((await pool.query("select qty from stock")).rows[0].qty, 0);
    await pool.query("drop table stock; drop table smoke");
    step("100 buyers of 10 units with SELECT … FOR UPDATE on 4 pools");
    console.log(`${label}: ok`);
  } finally {
    await pool.end();
  }
}

async function checkEmbeddedOnly(): Promise<void> {
  const pg = await startEmbeddedPostgres({ maxConnections: 6 });
  try {
    // Ended pools must hand their connections back, or a small maxConnections fills up.
    for (let i = 0; i < 20; i++) {
      const pool = new Pool({ connectionString: pg.url, max: 3 });
      await Promise.all(range(3).map(() => pool.query("select 1")));
      await pool.end();
      await sleep(20); // end() does not wait for the sockets to close
    }
    const crowd = new Pool({ connectionString: pg.url, max: 10 });
    crowd.on("error", () => {});
    const results = await Promise.allSettled(range(10).map(() => crowd.query("select pg_sleep(0.05)")));
    await crowd.end();
    await sleep(200);
    const refused = results
      .filter((r) => r.status === "rejected")
      .map((r) => (r.reason as { code?: string }).code);
    assert.ok(refused.length > 0 && refused.every((code) => code === "53300"), `refusals: ${refused}`);

    // close() with a transaction open and a query waiting behind it.
    const pool = new Pool({ connectionString: pg.url, max: 2 });
    pool.on("error", () => {});
    const c = await pool.connect();
    c.on("error", () => {});
    await c.query("BEGIN");
    const waiting = pool.query("select 1").catch(() => "failed");
    await sleep(50);
    await pg.close();
    assert.equal(await waiting, "failed");
    console.log("pglite: connection limit, pool cycles, close() while busy: ok");
  } finally {
    await pg.close();
  }

  const dataDir = mkdtempSync(join(tmpdir(), "pglite-smoke-"));
  try {
    for (const round of [1, 2]) {
      const db = await startEmbeddedPostgres({ dataDir });
      const pool = new Pool({ connectionString: db.url });
      await pool.query("create table if not exists kept (n int)");
      await pool.query("insert into kept values ($1)", [round]);
      const { rows } = await pool.query("select array_agg(n order by n) as ns from kept");
      assert.deepEqual(rows[0].ns, round === 1 ? [1] : [1, 2]);
      await pool.end();
      await db.close();
    }
    console.log("pglite: dataDir persists across restarts: ok");
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function checkProxyRefusals(): Promise<void> {
  const expected = {
    "/v1?address=10.0.0.1:5432": 403,
    "/v2?address=127.0.0.1:5432": 404,
    "/v1?address=nope": 400,
  };
  for (const [path, status] of Object.entries(expected)) {
    const got = await new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}${path}`);
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode));
      ws.on("open", () => resolve("open"));
      ws.on("error", () => {});
    });
    assert.equal(got, status, path);
  }
  console.log("wsproxy: refuses other hosts, paths and bad addresses: ok");
}

try {
  const embedded = await startEmbeddedPostgres({});
  try {
    await checkDatabase("pglite", embedded.url);
  } finally {
    await embedded.close();
  }
  await checkEmbeddedOnly();
  for (const url of process.argv.slice(2)) await checkDatabase(new URL(url).host, url);
  await checkProxyRefusals();
} finally {
  await proxy.close();
}

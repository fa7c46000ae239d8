// After a drill has settled: check the promises of SPEC §5 against what the clients saw, what Postgres
// holds, what the product and notification stand-ins recorded, and what the worker logged.
import type { Stack } from "./stack.ts";
import { type DrillRun, type Snapshot, snapshot } from "./state.ts";

export interface Check {
  invariant: string;
  ok: boolean;
  detail: string;
}

export const INVARIANTS = [
  "no oversell",
  "no leak beyond unknown",
  "one order per key",
  "notified once",
  "no undocumented 5xx",
  "carts intact",
  "writes resolved",
  "totals add up",
] as const;

/** Stock the service itself says it may have left reserved, per product: logged, or owed and unconfirmed. */
function unknownStock(run: DrillRun, state: Snapshot): Map<string, number> {
  const unknown = new Map<string, number>();
  const add = (productId: unknown, quantity: unknown) => {
    if (typeof productId === "string" && typeof quantity === "number")
      unknown.set(productId, (unknown.get(productId) ?? 0) + quantity);
  };
  for (const line of run.logs) {
    switch (line.msg) {
      case "stock reservation outcome unknown":
      case "stock release outcome unknown":
      case "stock release not confirmed":
        add(line.productId, line.quantity);
        break;
      case "checkout outcome unknown; stock left reserved":
      case "stock in doubt after a lapsed checkout":
      case "stock release lost":
        for (const l of (line.lines ?? []) as { productId: unknown; quantity: unknown }[])
          add(l.productId, l.quantity);
        if (line.productId) add(line.productId, line.quantity);
        break;
    }
  }
  // Owed releases not confirmed (due, or claimed and in doubt) are stock the service knows it holds.
  // "stock release not confirmed" already logged the claimed ones whose call failed.
  for (const r of state.releases) if (!r.released_at && !r.claimed_at) add(r.product_id, r.quantity);
  // A checkout whose worker died holds its cart's lock, with the lines it was ordering, for 5 minutes;
  // the checkout that takes the lapsed lock over logs them as "stock in doubt after a lapsed
  // checkout" (none, some or all may be reserved). The drill ends before that: the lines of a
  // checkout its client gave up on while the cart was still held count as that log will.
  for (const stuck of run.load.unresolved) {
    if (stuck.what !== "checkout" || !/IN_FLIGHT|IN_PROGRESS/.test(stuck.last)) continue;
    for (const [productId, quantity] of run.load.carts.get(stuck.userId) ?? []) add(productId, quantity);
  }
  return unknown;
}

export async function checkInvariants(stack: Stack, run: DrillRun): Promise<Check[]> {
  const state = await snapshot(stack, run);
  const checks: Check[] = [];
  const load = run.load;

  // Stock: sold in committed (not cancelled) orders + left at the product service vs the initial stock.
  const unknown = unknownStock(run, state);
  const over: string[] = [];
  const leaked: string[] = [];
  const stockLines: string[] = [];
  for (const [index, product] of run.products.entries()) {
    const { stock } = (await (await fetch(`${stack.product}/__admin/products/${product.id}`)).json()) as {
      stock: number;
    };
    const sold = state.items
      .filter((i) => i.product_id === product.id)
      .reduce((sum, i) => sum + Number(i.quantity), 0);
    const gap = product.initial - sold - stock;
    const allowed = unknown.get(product.id) ?? 0;
    const name = `P${index + 1}`;
    stockLines.push(`${name} ${sold}+${stock}=${sold + stock}/${product.initial}`);
    if (gap < 0) over.push(`${name} oversold by ${-gap}`);
    if (gap > allowed) leaked.push(`${name} missing ${gap}, unknown ${allowed}`);
    else if (gap > 0) stockLines.push(`(${name} ${gap} missing ≤ ${allowed} unknown)`);
  }
  checks.push({
    invariant: "no oversell",
    ok: over.length === 0,
    detail: `${over.length ? `${over.join("; ")}; ` : ""}sold+stock/initial: ${stockLines.filter((l) => !l.startsWith("(")).join(", ")}`,
  });
  checks.push({
    invariant: "no leak beyond unknown",
    ok: leaked.length === 0,
    detail: leaked.length
      ? leaked.join("; ")
      : `${stockLines.filter((l) => l.startsWith("(")).join(" ") || "nothing missing"}`,
  });

  // One order per idempotency key: every key answered with one order id, and every order in the
  // database is the one answer of exactly one key (none the clients were never told of).
  const orderIds = new Set(state.orders.map((o) => o.id));
  const keysWithTwoOrders = [...load.orderIdsByKey.values()].filter((ids) => ids.size > 1).length;
  const answered = new Set([...load.orderIdsByKey.values()].flatMap((ids) => [...ids]));
  const keyed = new Map<string, number>();
  for (const k of state.keys) if (k.order_id) keyed.set(k.order_id, (keyed.get(k.order_id) ?? 0) + 1);
  // An order whose client stopped retrying (its key still held, see "writes resolved") is kept under
  // that key: a retry would be answered with it.
  const unanswered = new Set(load.unresolved.map((u) => `${u.userId}:${u.key}`));
  const awaiting = new Set(
    state.keys.filter((k) => k.order_id && unanswered.has(`${k.user_id}:${k.key}`)).map((k) => k.order_id),
  );
  const orphans = [...orderIds].filter((id) => !answered.has(id) && !awaiting.has(id));
  const unkeyed = [...orderIds].filter((id) => (keyed.get(id) ?? 0) !== 1);
  const phantom = [...answered].filter((id) => !orderIds.has(id));
  checks.push({
    invariant: "one order per key",
    ok: keysWithTwoOrders === 0 && orphans.length === 0 && unkeyed.length === 0 && phantom.length === 0,
    detail:
      `${orderIds.size} orders, ${load.orderIdsByKey.size} keys answered 201` +
      (awaiting.size ? `, ${awaiting.size} kept for a key whose client gave up` : "") +
      (keysWithTwoOrders ? `, ${keysWithTwoOrders} keys with 2+ orders` : "") +
      (orphans.length ? `, ${orphans.length} orders no client was told of` : "") +
      (unkeyed.length ? `, ${unkeyed.length} orders without exactly one key record` : "") +
      (phantom.length ? `, ${phantom.length} answered orders missing from the database` : ""),
  });

  // Every committed order's confirmation reached the notification service once (after dropping
  // duplicates by Idempotency-Key), and none for an order that does not exist.
  const confirmations = new Map<string, number>();
  for (const n of state.notified)
    if (n.type === "order_confirmation")
      confirmations.set(n.order_id, (confirmations.get(n.order_id) ?? 0) + 1);
  const missing = [...orderIds].filter((id) => !confirmations.has(id));
  const twice = [...confirmations.entries()].filter(([, n]) => n > 1).length;
  const stray = [...confirmations.keys()].filter((id) => !orderIds.has(id)).length;
  const deadLettered = state.deadLetters.filter((d) => d.event_type === "order_confirmation").length;
  // Likewise each paid order's payment_confirmation (written by the gateway's settlement, a
  // batch over the HTTP path, so a cut COMMIT there is covered too).
  const payments = new Map<string, number>();
  for (const n of state.notified)
    if (n.type === "payment_confirmation") payments.set(n.order_id, (payments.get(n.order_id) ?? 0) + 1);
  const paid = state.orders.filter((o) => o.status === "paid").map((o) => o.id);
  const paidMissing = paid.filter((id) => !payments.has(id)).length;
  const paidTwice = [...payments.values()].filter((n) => n > 1).length;
  checks.push({
    invariant: "notified once",
    ok: missing.length === 0 && twice === 0 && stray === 0 && paidMissing === 0 && paidTwice === 0,
    detail:
      `${orderIds.size - missing.length}/${orderIds.size} confirmed` +
      (twice ? `, ${twice} twice` : "") +
      (stray ? `, ${stray} for unknown orders` : "") +
      (deadLettered ? `, ${deadLettered} dead-lettered` : "") +
      `; ${paid.length - paidMissing}/${paid.length} paid notified` +
      (paidTwice ? `, ${paidTwice} payments notified twice` : ""),
  });

  // 5xx: only the documented 503s; a network error only where the worker was restarted.
  const documented = [...load.answers.entries()]
    .filter(([what]) => / 503 /.test(what))
    .reduce((sum, [, n]) => sum + n, 0);
  const networkOk = run.networkErrorsExpected || load.networkErrors === 0;
  checks.push({
    invariant: "no undocumented 5xx",
    ok: load.undocumented.length === 0 && networkOk,
    detail:
      `${documented} × 503, ${load.undocumented.length} other 5xx, ${load.networkErrors} network errors` +
      (run.networkErrorsExpected && load.networkErrors ? " (restart)" : ""),
  });

  // Carts: what each client added minus what its orders took (and its own clears) is what the
  // service holds. A client that stopped at an unanswered write allows for that write: an add may or
  // may not have landed; a checkout may have placed an order the client was not told of (taken from
  // the database); a clear may have emptied the cart.
  let intact = 0;
  const broken: string[] = [];
  const told = new Set(load.placed.map((p) => p.orderId));
  for (const user of run.users) {
    const believed = load.carts.get(user.id) ?? new Map<string, number>();
    const candidates = [believed];
    const uncertain = load.uncertain.get(user.id);
    if (uncertain === "clear") candidates.push(new Map());
    else if (uncertain === "checkout") {
      const untold = new Map(believed);
      for (const item of state.items)
        if (Number(item.user_id) === user.id && !told.has(item.order_id))
          untold.set(item.product_id, (untold.get(item.product_id) ?? 0) - Number(item.quantity));
      candidates.push(new Map([...untold].filter(([, qty]) => qty > 0)));
    } else if (uncertain) {
      const added = new Map(believed);
      added.set(uncertain.productId, (added.get(uncertain.productId) ?? 0) + uncertain.quantity);
      candidates.push(added);
    }
    const res = await fetch(`${stack.base()}/api/cart`, {
      headers: { authorization: `Bearer ${user.token}` },
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await res.json()) as { data?: { items: { productId: string; quantity: number }[] } };
    const actual = new Map((body.data?.items ?? []).map((item) => [item.productId, item.quantity]));
    const same = (expected: Map<string, number>) =>
      actual.size === expected.size &&
      [...expected].every(([productId, qty]) => actual.get(productId) === qty);
    if (candidates.some(same)) intact++;
    else {
      const last = load.placed.filter((p) => p.userId === user.id).at(-1);
      broken.push(
        `user ${user.id}: expected ${[...new Set(candidates.map((c) => JSON.stringify([...c])))].join(" or ")}, holds ${JSON.stringify([...actual])}` +
          (last?.replayed ? ` (its last order ${last.orderId} was answered by a replay of its key)` : ""),
      );
    }
  }
  for (const v of load.vanishedCarts) broken.push(`user ${v.userId}: EMPTY_CART while holding ${v.expected}`);
  checks.push({
    invariant: "carts intact",
    ok: broken.length === 0,
    detail:
      `${intact}/${run.users.length} carts as expected` +
      (load.uncertain.size ? ` (${load.uncertain.size} stopped at an unanswered write)` : "") +
      (load.vanishedCarts.length ? `, ${load.vanishedCarts.length} checkouts found the cart emptied` : ""),
  });
  for (const line of broken) console.log(`    cart: ${line}`);

  // Every write retried under its key got a definitive answer before the deadline (20 s after the
  // load). A key or cart still held by a request that died or could not free it answers 409 until its
  // lock lapses (5 min, docs/api.md, "Placing an order"): counted apart, as the documented wait.
  const held = load.unresolved.filter((u) => /IN_FLIGHT|IN_PROGRESS/.test(u.last));
  const other = load.unresolved.filter((u) => !held.includes(u));
  const tally = (list: typeof load.unresolved) => {
    const counts = new Map<string, number>();
    for (const u of list) counts.set(`${u.what} ${u.last}`, (counts.get(`${u.what} ${u.last}`) ?? 0) + 1);
    return [...counts].map(([what, n]) => `${what} ×${n}`).join(", ");
  };
  checks.push({
    invariant: "writes resolved",
    ok: other.length === 0,
    detail:
      `${load.adds + load.checkouts - load.unresolved.length}/${load.adds + load.checkouts} answered` +
      (held.length ? `; held by a lock until it lapses: ${tally(held)}` : "") +
      (other.length ? `; unanswered: ${tally(other)}` : ""),
  });

  // Issue 21: every order answered to a client, and every order stored, totals its lines, each line
  // being its price times its quantity.
  const wronglyAnswered = load.placed.filter((p) => p.totalsWrong.length > 0);
  for (const p of wronglyAnswered.slice(0, 5))
    console.log(`    totals: order ${p.orderId}: ${p.totalsWrong.join("; ")}`);
  for (const o of state.badTotals.slice(0, 5))
    console.log(
      `    totals: stored order ${o.id}: ${o.total_amount} vs lines ${o.lines_total}, ${o.bad_lines} bad lines`,
    );
  const multiLine = load.placed.filter((p) => p.items.length > 1).length;
  checks.push({
    invariant: "totals add up",
    ok: wronglyAnswered.length === 0 && state.badTotals.length === 0,
    detail:
      `${load.placed.length - wronglyAnswered.length}/${load.placed.length} answers (${multiLine} multi-line), ` +
      `${state.orders.length - state.badTotals.length}/${state.orders.length} stored orders`,
  });
  return checks;
}

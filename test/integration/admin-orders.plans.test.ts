import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { type AdminOrderFilters, adminOrderSearch } from "../../src/db/queries.ts";
import { withDb } from "../helpers/orders.ts";

type PlanNode = {
  "Node Type": string;
  "Parent Relationship"?: string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Plans?: PlanNode[];
};

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/**
 * How Postgres would run the search with these filters, with sequential scans priced out: a filter
 * with an index to walk then walks it, one without falls back to a (disabled) sequential scan of
 * orders, whatever the table's size.
 */
async function planOf(filters: AdminOrderFilters) {
  return withDb((database) =>
    database.db.transaction(async (tx) => {
      await tx.execute(sql`SET LOCAL enable_seqscan = off`);
      const explained = await tx.execute<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
        sql`EXPLAIN (FORMAT JSON) ${adminOrderSearch(tx, filters, { limit: 21 })}`,
      );
      const plan = explained.rows[0]?.["QUERY PLAN"][0].Plan;
      if (!plan) throw new Error("no plan");
      return nodes(plan).filter(
        (node) => node["Relation Name"] === "orders" || node["Index Name"]?.startsWith("orders"),
      );
    }),
  );
}

describe("the admin search's plans", () => {
  // `inOrder`: the index also gives the newest-first order, so a page stops after its last row
  // instead of sorting every match.
  const cases: [string, AdminOrderFilters, string, boolean][] = [
    ["a status", { statuses: ["pending"] }, "orders_status_created_idx", true],
    ["a payment status", { paymentStatuses: ["failed"] }, "orders_payment_status_created_idx", true],
    ["a buyer", { userId: 42 }, "orders_user_history_idx", false],
    [
      "a window",
      { createdFrom: new Date("2026-11-01"), createdTo: new Date("2026-11-02") },
      "orders_created_idx",
      true,
    ],
    ["no filter (newest first)", {}, "orders_created_idx", true],
    ["a tracking number", { q: "TRK-PLAN-1" }, "orders_tracking_number_idx", false],
    ["an order id or tracking number", { q: "0193a1b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b" }, "orders_pkey", false],
  ];
  for (const [what, filters, index, inOrder] of cases) {
    it(`walks ${index} for ${what}`, async () => {
      const plan = await planOf(filters);
      expect(plan.filter((node) => node["Node Type"] === "Seq Scan")).toEqual([]);
      expect(plan.map((node) => node["Index Name"])).toContain(index);
      if (inOrder) expect(plan.map((node) => node["Node Type"])).not.toContain("Sort");
    });
  }
});

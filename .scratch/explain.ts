import { neon } from "@neondatabase/serverless";
import { drizzle } from "drizzle-orm/neon-http";
import * as schema from "../src/db/schema.ts";
import { adminOrderSearch } from "../src/db/queries/admin-orders.ts";
const db = drizzle(neon("postgres://u:p@h/d"), { schema });
const cases = {
  status: { statuses: ["pending"] },
  statuses: { statuses: ["pending", "processing"] },
  paymentStatus: { paymentStatuses: ["failed"] },
  userId: { userId: 4242 },
  window: { createdFrom: new Date("2026-06-01T00:00:00Z"), createdTo: new Date("2026-06-02T00:00:00Z") },
  none: {},
  tracking: { q: "TRK-777777" },
  paymentMethodAndStatus: { statuses: ["shipped"], paymentMethods: ["cash_on_delivery"] },
};
for (const [name, filters] of Object.entries(cases)) {
  const { sql, params } = adminOrderSearch(db as never, filters as never, { limit: 21 }).toSQL();
  let text = sql;
  params.forEach((p, i) => { text = text.replace(new RegExp(`\\$${i + 1}(?!\\d)`, "g"), `'${p instanceof Date ? p.toISOString() : p}'`); });
  console.log(`-- ${name}\nEXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${text};`);
}

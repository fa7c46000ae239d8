import type { ProductClient } from "../../clients/product.ts";
import type { Config } from "../../config.ts";
import type { Database } from "../../db/client.ts";
import type { EventPublisher } from "../outbox.ts";

/** What the order flows need; built per request (or per alarm / scheduled run). */
export interface OrderDeps {
  env: Env;
  config: Config;
  database: Database;
  products: ProductClient;
  /** Publishes the events of changes once they have committed. */
  events: EventPublisher;
}

export type Actor = { id: number; role: "USER" | "ADMIN" } | { id: null; role: "SYSTEM" };

export const SYSTEM: Actor = { id: null, role: "SYSTEM" };

// The faults the drills inject, each through the public side of a dependency: the fault proxies in
// front of Postgres and Redis, the stand-ins' fault switches, or workerd itself.
import { setTimeout as sleep } from "node:timers/promises";
import type { Stack } from "./stack.ts";

export interface Fault {
  name: string;
  /** What is done, for the report. */
  description: string;
  /** Starts the fault; answers how to end it. */
  inject(stack: Stack, products: string[]): Promise<() => Promise<void>>;
  /** A restart is the one fault clients see as refused connections. */
  restartsWorker?: boolean;
}

async function patch(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, {
    method: "PATCH",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`PATCH ${url} answered ${res.status}: ${await res.text()}`);
}

export const FAULTS: Fault[] = [
  {
    name: "postgres-down",
    description: "Postgres unreachable: open connections reset, new ones refused",
    async inject(stack) {
      stack.postgres.setMode("down");
      return async () => stack.postgres.setMode("pass");
    },
  },
  {
    name: "commit-cut",
    description: "every 2nd COMMIT reaches Postgres, then the connection is reset before its answer",
    async inject(stack) {
      stack.postgres.setMode("cut-commit", { cutEvery: 2 });
      return async () => stack.postgres.setMode("pass");
    },
  },
  {
    name: "redis-down",
    description: "the Upstash endpoint's path to Redis reset and refused",
    async inject(stack) {
      stack.redis.setMode("down");
      return async () => stack.redis.setMode("pass");
    },
  },
  {
    name: "product-slow",
    description:
      "product service answers after 10 s (timeout 1 s): P2's stock changes (applied late), P3's reads",
    async inject(stack, products) {
      const [, stockSlow, readSlow] = products;
      await patch(`${stack.product}/__admin/products/${stockSlow}`, { faults: { stock: "slow" } });
      await patch(`${stack.product}/__admin/products/${readSlow}`, { faults: { get: "slow" } });
      return async () => {
        for (const id of [stockSlow, readSlow])
          await patch(`${stack.product}/__admin/products/${id}`, { faults: {} });
      };
    },
  },
  {
    name: "notify-half",
    description: "notification service fails every 2nd call (503)",
    async inject(stack) {
      await patch(`${stack.notification}/__admin/faults`, { failEvery: 2 });
      return () => patch(`${stack.notification}/__admin/faults`, { failEvery: 0 });
    },
  },
  {
    name: "worker-restart",
    description: "workerd stopped mid-load (nothing drained) and started again on the same storage, 3 times",
    restartsWorker: true,
    async inject(stack) {
      for (let i = 0; i < 3; i++) {
        if (i > 0) await sleep(3000);
        await stack.stopWorker();
        await sleep(500);
        await stack.startWorker();
      }
      return async () => {};
    },
  },
];

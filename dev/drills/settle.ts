// After a drill: let the service settle (sweeps fired, the queue drained) before its invariants are checked.
import { setTimeout as sleep } from "node:timers/promises";
import type { Stack } from "./stack.ts";
import { type DrillRun, snapshot } from "./state.ts";

export interface Settling {
  settled: boolean;
  seconds: number;
  sweeps: number;
  /** Events the local queue broker held when workerd stopped, handed back to the outbox. */
  requeued: number;
  waitingFor: string;
}

const SETTLE_MS = 75_000;

/**
 * Fires the sweep every few seconds until every order event was delivered (or dead-lettered) and no
 * owed stock release is due, or the bound passes. After a restart, the local queue broker has lost
 * what it held (it keeps messages in memory; Cloudflare Queues keep them durably): those events are
 * handed back to the outbox, unpublished, for the sweep to relay, as production's queue would have
 * delivered them.
 */
export async function settle(stack: Stack, run: DrillRun): Promise<Settling> {
  const started = Date.now();
  let sweeps = 0;
  let requeued = 0;
  let waitingFor = "";
  while (Date.now() - started < SETTLE_MS) {
    try {
      await stack.sweep();
      sweeps++;
    } catch {}
    const state = await snapshot(stack, run);
    if (run.stoppedAt !== undefined && requeued === 0) {
      const delivered = new Set(state.notified.map((n) => n.key));
      const lost = state.outbox.filter(
        (e) => e.published_at && e.published_at.getTime() < (run.stoppedAt as number) && !delivered.has(e.id),
      );
      if (lost.length > 0) {
        await stack.db.query("UPDATE outbox SET published_at = NULL WHERE id = ANY($1)", [
          lost.map((e) => e.id),
        ]);
        requeued = lost.length;
      }
    }
    const delivered = new Set([...state.notified.map((n) => n.key), ...state.deadLetters.map((d) => d.id)]);
    const undelivered = state.outbox.filter((e) => !delivered.has(e.id)).length;
    const due = state.releases.filter((r) => !r.released_at && !r.claimed_at).length;
    waitingFor = `${undelivered} events undelivered, ${due} stock releases owed`;
    if (undelivered === 0 && due === 0) {
      return { settled: true, seconds: (Date.now() - started) / 1000, sweeps, requeued, waitingFor: "" };
    }
    await sleep(3000);
  }
  return { settled: false, seconds: (Date.now() - started) / 1000, sweeps, requeued, waitingFor };
}

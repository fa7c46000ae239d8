// Local stand-in for the notification service (SPEC §2): records sends, drops duplicate idempotency
// keys, logs each notification it accepts, and fails on demand (for everyone or for one user).
import { randomUUID } from "node:crypto";
import { z } from "zod";
import {
  HttpError,
  Router,
  type RunningService,
  readJson,
  type ServiceOptions,
  sendJson,
  serve,
} from "./http.ts";

const Id = z.union([z.int(), z.string().min(1)]);
const SendSchema = z
  .object({
    user_id: Id,
    order_id: Id,
    type: z.enum(["order_confirmation", "payment_confirmation", "order_status_update", "order_cancellation"]),
    data: z.record(z.string(), z.unknown()),
  })
  .refine((n) => n.type !== "order_status_update" || typeof n.data.status === "string", {
    message: "order_status_update needs data.status",
    path: ["data", "status"],
  });

/**
 * `failNext` well-formed sends fail: with `status` (default 503), or after holding the answer past
 * any sane client timeout (`mode: "slow"`). With `userId`, only that user's sends fail, so tests
 * running side by side do not use up each other's failures. `failEvery: n` (for everyone only) makes
 * every n-th send fail until it is set back to 0: `2` fails half of the calls (the fault drills).
 */
const FaultsSchema = z.strictObject({
  failNext: z.int().nonnegative().optional(),
  failEvery: z.int().nonnegative().optional(),
  mode: z.enum(["error", "slow"]).optional(),
  status: z.int().min(400).max(599).optional(),
  userId: Id.optional(),
});

interface Fault {
  failNext: number;
  failEvery?: number;
  mode: "error" | "slow";
  status: number;
}

export interface Notification extends z.infer<typeof SendSchema> {
  id: string;
  key: string;
  receivedAt: string;
}

/** Every well-formed call, whatever came of it: shows retries and duplicates. */
interface Delivery {
  key: string;
  user_id: string | number;
  order_id: string | number;
  type: string;
  outcome: "received" | "duplicate" | "failed";
  at: string;
}

/** A "slow" failure holds the answer past any sane client timeout, then fails anyway. */
const SLOW_MS = 10_000;
const MAX_DELIVERIES = 100_000;
/** A 429's Retry-After. */
const THROTTLE_SECONDS = 7;

export async function startNotificationService(
  opts: ServiceOptions & { log?: boolean } = {},
): Promise<RunningService> {
  const byKey = new Map<string, Notification>();
  const deliveries: Delivery[] = [];
  const stats = { received: 0, duplicates: 0, failed: 0 };
  const everyone: Fault = { failNext: 0, mode: "error", status: 503 };
  const perUser = new Map<string, Fault>();
  let sends = 0;

  const takeFault = (userId: string | number): Fault | null => {
    const fault = perUser.get(String(userId));
    if (fault && fault.failNext > 0) {
      fault.failNext--;
      return fault;
    }
    if (everyone.failNext > 0) {
      everyone.failNext--;
      return everyone;
    }
    sends++;
    if (everyone.failEvery && sends % everyone.failEvery === 0) return everyone;
    return null;
  };

  const router = new Router()
    .on("GET", "/health", ({ res }) => sendJson(res, 200, { status: "ok" }))
    .on("POST", "/api/notifications/send", async ({ req, res, delay }) => {
      const key = req.headers["idempotency-key"];
      if (typeof key !== "string" || key.length === 0)
        throw new HttpError(400, "Idempotency-Key header is required");
      const result = SendSchema.safeParse(await readJson(req));
      if (!result.success) throw new HttpError(400, z.prettifyError(result.error));
      const { user_id, order_id, type } = result.data;
      const record = (outcome: Delivery["outcome"]) => {
        if (deliveries.length >= MAX_DELIVERIES) deliveries.shift();
        deliveries.push({ key, user_id, order_id, type, outcome, at: new Date().toISOString() });
      };

      // Client errors above do not use up injected failures; only well-formed sends do.
      const fault = takeFault(user_id);
      if (fault) {
        stats.failed++;
        record("failed");
        if (fault.mode === "slow") await delay(SLOW_MS);
        if (fault.status === 429) res.setHeader("retry-after", String(THROTTLE_SECONDS));
        throw new HttpError(fault.status, "Notification service unavailable");
      }
      if (byKey.has(key)) {
        stats.duplicates++;
        record("duplicate");
        sendJson(res, 200, { success: true, duplicate: true });
        return;
      }
      const notification: Notification = {
        ...result.data,
        id: randomUUID(),
        key,
        receivedAt: new Date().toISOString(),
      };
      byKey.set(key, notification);
      stats.received++;
      record("received");
      if (opts.log) {
        console.log(
          `[notification] ${type} for user ${user_id}, order ${order_id}: status ${String(result.data.data.status)}, payment ${String(result.data.data.paymentStatus)}`,
        );
      }
      sendJson(res, 201, { success: true, data: { id: notification.id } });
    })
    .on("GET", "/__admin/notifications", ({ res, url }) => {
      const orderId = url.searchParams.get("order_id");
      const userId = url.searchParams.get("user_id");
      const notifications = [...byKey.values()]
        .filter((n) => orderId === null || String(n.order_id) === orderId)
        .filter((n) => userId === null || String(n.user_id) === userId)
        .map(({ key, user_id, order_id, type, data, receivedAt }) => ({
          key,
          user_id,
          order_id,
          type,
          data,
          receivedAt,
        }));
      sendJson(res, 200, { notifications });
    })
    .on("GET", "/__admin/deliveries", ({ res, url }) => {
      const userId = url.searchParams.get("user_id");
      const orderId = url.searchParams.get("order_id");
      sendJson(res, 200, {
        deliveries: deliveries
          .filter((d) => userId === null || String(d.user_id) === userId)
          .filter((d) => orderId === null || String(d.order_id) === orderId),
      });
    })
    .on("GET", "/__admin/notifications/stats", ({ res }) => sendJson(res, 200, stats))
    .on("PATCH", "/__admin/faults", async ({ req, res }) => {
      const result = FaultsSchema.safeParse(await readJson(req));
      if (!result.success) throw new HttpError(400, z.prettifyError(result.error));
      const { userId, ...change } = result.data;
      if (userId !== undefined && change.failEvery !== undefined)
        throw new HttpError(400, "failEvery applies to everyone, not to one user");
      const fault =
        userId === undefined
          ? everyone
          : (perUser.get(String(userId)) ??
            perUser.set(String(userId), { failNext: 0, mode: "error", status: 503 }).get(String(userId)));
      Object.assign(fault as Fault, change);
      sendJson(res, 200, fault);
    });

  return serve(router, opts);
}

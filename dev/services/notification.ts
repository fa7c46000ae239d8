// Local stand-in for the notification service (SPEC §2): records sends, drops duplicate idempotency keys.
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

const FaultsSchema = z.strictObject({
  failNext: z.int().nonnegative().optional(),
  mode: z.enum(["error", "slow"]).optional(),
});

export interface Notification extends z.infer<typeof SendSchema> {
  id: string;
  key: string;
  receivedAt: string;
}

/** A "slow" failure holds the answer past any sane client timeout, then fails anyway. */
const SLOW_MS = 10_000;

export async function startNotificationService(opts: ServiceOptions = {}): Promise<RunningService> {
  const byKey = new Map<string, Notification>();
  const stats = { received: 0, duplicates: 0, failed: 0 };
  const faults: { failNext: number; mode: "error" | "slow" } = { failNext: 0, mode: "error" };

  const router = new Router()
    .on("GET", "/health", ({ res }) => sendJson(res, 200, { status: "ok" }))
    .on("POST", "/api/notifications/send", async ({ req, res, delay }) => {
      const key = req.headers["idempotency-key"];
      if (typeof key !== "string" || key.length === 0)
        throw new HttpError(400, "Idempotency-Key header is required");
      const result = SendSchema.safeParse(await readJson(req));
      if (!result.success) throw new HttpError(400, z.prettifyError(result.error));

      // Client errors above do not use up injected failures; only well-formed sends do.
      if (faults.failNext > 0) {
        faults.failNext--;
        stats.failed++;
        if (faults.mode === "slow") await delay(SLOW_MS);
        throw new HttpError(503, "Notification service unavailable");
      }
      if (byKey.has(key)) {
        stats.duplicates++;
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
    .on("GET", "/__admin/notifications/stats", ({ res }) => sendJson(res, 200, stats))
    .on("PATCH", "/__admin/faults", async ({ req, res }) => {
      const result = FaultsSchema.safeParse(await readJson(req));
      if (!result.success) throw new HttpError(400, z.prettifyError(result.error));
      Object.assign(faults, result.data);
      sendJson(res, 200, faults);
    });

  return serve(router, opts);
}

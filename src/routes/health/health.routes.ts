import { createRoute, z } from "@hono/zod-openapi";
import { int32, int64 } from "../../schemas/common.ts";
import { errorResponses, jsonResponse } from "../openapi.ts";

const tags = ["Health"];

export const LivenessSchema = z
  .object({ status: z.literal("ok"), service: z.string(), version: z.string() })
  .openapi("Liveness");

const DependencySchema = z.object({
  status: z.enum(["up", "down", "not_configured"]),
  required: z.boolean(),
  latencyMs: int32(),
});

export const ReadinessSchema = z
  .object({
    status: z.enum(["ready", "degraded", "unavailable"]),
    service: z.string(),
    version: z.string(),
    dependencies: z.record(z.string(), DependencySchema),
    outbox: z
      .object({
        unsent: int64(),
        // Postgres' own clock against its own timestamps: never negative unless a row was dated ahead.
        oldestUnsentAgeSeconds: int32(-2_147_483_648).nullable(),
      })
      .nullable()
      .openapi({
        description:
          "Order events not yet handed to the queue (informational, never a readiness failure); null when the database cannot say",
      }),
  })
  .openapi("Readiness");

export const liveness = createRoute({
  operationId: "getLiveness",
  method: "get",
  path: "/health",
  tags,
  summary: "Liveness",
  security: [],
  responses: { 200: jsonResponse(LivenessSchema, "The worker is running"), ...errorResponses() },
});

export const readiness = createRoute({
  operationId: "getReadiness",
  method: "get",
  path: "/health/ready",
  tags,
  summary: "Readiness: each dependency's state and latency",
  security: [],
  responses: {
    200: jsonResponse(ReadinessSchema, "Every required dependency is up"),
    503: jsonResponse(ReadinessSchema, "A required dependency is down"),
    ...errorResponses(),
  },
});

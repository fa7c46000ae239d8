import { describe, expect, it } from "vitest";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";

describe("admin order routes", () => {
  it("refuse a user who is not an admin (403 FORBIDDEN)", async () => {
    const user = await newUser();
    for (const path of [
      "/api/admin/orders",
      "/api/admin/orders/summary",
      `/api/admin/orders/${crypto.randomUUID()}`,
    ]) {
      const res = await api("GET", path, { headers: user.headers });
      expect({ path, status: res.status, code: res.body.error.code }).toEqual({
        path,
        status: 403,
        code: "FORBIDDEN",
      });
    }
  });

  it("answer 400 naming the parameter for bad filters, and 404 for an unknown order", async () => {
    const admin = await newUser("ADMIN");
    const bad = async (params: string, path: string) => {
      const res = await api("GET", `/api/admin/orders${params}`, { headers: admin.headers });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_FAILED");
      expect(res.body.error.details.map((detail: { path: string }) => detail.path)).toContain(path);
    };
    await bad("?status=pending,lost", "status");
    await bad("?paymentStatus=", "paymentStatus");
    await bad("?userId=0", "userId");
    await bad("?createdFrom=yesterday", "createdFrom");
    await bad("?createdFrom=2026-12-02T00:00:00Z&createdTo=2026-12-01T00:00:00Z", "createdFrom");
    await bad("?limit=101", "limit");
    await bad("?cursor=bm90LWEtY3Vyc29y", "cursor");
    await bad("/summary?createdFrom=2026-12-02T00:00:00Z&createdTo=2026-12-01T00:00:00Z", "createdFrom");
    await bad("/not-an-id", "order_id");

    const unknown = await api("GET", `/api/admin/orders/${crypto.randomUUID()}`, { headers: admin.headers });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("ORDER_NOT_FOUND");
  });
});

// Refusals come in the order a client can act on (issue 16): 401 (who are you) before 403 (not
// allowed) before 400 (bad input) before 404 (nothing there).
import { describe, expect, it } from "vitest";
import { newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";

const outcome = (res: { status: number; body: any }) => `${res.status} ${res.body?.error?.code}`;
const NO_SUCH_ORDER = "01890a5d-ac96-774b-bcce-b302099a8057";

describe("the order of refusals", () => {
  it("answers a user on an admin route 403 whatever the input, and no token 401", async () => {
    const user = await newUser();
    const admin = await newUser("ADMIN");
    const badQuery = "/api/admin/dead-letters?limit=abc&pending=maybe";
    expect(outcome(await api("GET", badQuery))).toBe("401 UNAUTHORIZED");
    expect(outcome(await api("GET", badQuery, { headers: user.headers }))).toBe("403 FORBIDDEN");
    expect(outcome(await api("GET", badQuery, { headers: admin.headers }))).toBe("400 VALIDATION_FAILED");

    const badId = `/api/admin/dead-letters/${"x".repeat(301)}/replay`;
    expect(outcome(await api("POST", badId, { headers: user.headers }))).toBe("403 FORBIDDEN");
    expect(outcome(await api("POST", badId, { headers: admin.headers }))).toBe("400 VALIDATION_FAILED");

    const unknown = "/api/admin/dead-letters/no-such-letter/replay";
    expect(outcome(await api("POST", unknown, { headers: user.headers }))).toBe("403 FORBIDDEN");
    expect(outcome(await api("POST", unknown, { headers: admin.headers }))).toBe("404 DEAD_LETTER_NOT_FOUND");
  });

  it("answers a customer asking for a status other than cancelled 403 before looking for the order", async () => {
    const user = await newUser();
    const path = `/api/orders/${NO_SUCH_ORDER}/status`;
    const ship = { status: "shipped", trackingNumber: "TRK1" };
    expect(outcome(await api("PUT", path, { json: ship }))).toBe("401 UNAUTHORIZED");
    expect(outcome(await api("PUT", path, { headers: user.headers, json: ship }))).toBe("403 FORBIDDEN");
    expect(outcome(await api("PUT", path, { headers: user.headers, json: { status: "bogus" } }))).toBe(
      "400 VALIDATION_FAILED",
    );
    expect(outcome(await api("PUT", path, { headers: user.headers, json: { status: "cancelled" } }))).toBe(
      "404 ORDER_NOT_FOUND",
    );
  });
});

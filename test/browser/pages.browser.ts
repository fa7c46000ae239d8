// /live and /admin in headless Chromium (Debian's, driven by playwright-core; nothing downloads a
// browser), against the worker in workerd with its static assets: `npm run test:browser`.
// Screenshots of each step land in dist/screenshots/.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { SignJWT } from "jose";
import {
  adminToken,
  assertNoPageProblems,
  eventually,
  forgetPageProblems,
  newUser,
  openPage,
  placeOrder,
  setStatus,
  shot,
  signIn,
  stack,
  startHarness,
  stopHarness,
} from "./harness.ts";

before(startHarness);
beforeEach(forgetPageProblems);
after(stopHarness);

describe("the static pages", () => {
  it("are served with a strict Content-Security-Policy and load only their own files", async () => {
    for (const path of ["/admin", "/live"]) {
      const response = await fetch(`${stack.origin}${path}`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
      const csp = response.headers.get("content-security-policy") ?? "";
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /require-trusted-types-for 'script'/);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      const html = await response.text();
      assert.doesNotMatch(html, /https?:\/\//, `${path} refers to nothing elsewhere`);
      assert.doesNotMatch(html, /<script>|<style>| style=| on[a-z]+=/, `${path} has no inline code`);
    }
    const script = await fetch(`${stack.origin}/ui/admin.js`);
    assert.match(script.headers.get("content-type") ?? "", /javascript/);
  });
});

describe("/live", () => {
  it("shows a status change within 2 s of the admin's call", async () => {
    const user = await newUser();
    const order = await placeOrder(user);
    const page = await openPage("/live");
    await page.fill("#token", user.token);
    await page.click("#connect button");
    await page.waitForSelector("#state.open");
    await page.waitForSelector(`#orders tr[data-id="${order.id}"]`);

    const started = Date.now();
    await setStatus(order.id, { status: "processing", note: "confirmed by phone" });
    await page.waitForSelector(`#events tr[data-order="${order.id}"][data-status="processing"]`, {
      timeout: 2000,
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 2000, `shown after ${elapsed} ms`);
    console.log(`# the live page showed the change ${elapsed} ms after the admin's call began`);
    await shot(page, "live-event");
    await page.close();
    assertNoPageProblems();
  });

  it("lets a newer page take its place without fighting back", async () => {
    const user = await newUser();
    const first = await openPage("/live");
    await first.fill("#token", user.token);
    await first.click("#connect button");
    await first.waitForSelector("#state.open");
    const second = await openPage("/live");
    await second.fill("#token", user.token);
    await second.click("#connect button");
    await second.waitForSelector("#state.open");
    await first.waitForSelector(
      `#state:text-is("Disconnected: a newer connection of this user took this one's place")`,
    );
    // The first page does not reconnect (which would close the second): the second stays open.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await second.locator("#state").getAttribute("class"), "state open");
    assert.match((await first.locator("#state").textContent()) ?? "", /took this one's place/);
    await first.close();
    await second.close();
    assertNoPageProblems();
  });

  it("shows the API's 401 message for a bad token", async () => {
    const refused = await stack.call("POST", "/api/orders/live/ticket", "not-a-token");
    assert.equal(refused.status, 401);
    const page = await openPage("/live");
    await page.fill("#token", "not-a-token");
    await page.click("#connect button");
    await page.waitForSelector(`#state:text-is("Could not connect: ${refused.body.message}")`);
    await shot(page, "live-401");
    await page.close();
    assertNoPageProblems([/status of 401/]);
  });
});

describe("/admin", () => {
  it("shows the API's 401 message for a bad token", async () => {
    // Well formed, but signed with a key the service does not know.
    const forged = await new SignJWT({ role: "ADMIN" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("1")
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode("not-the-service-secret-0123456789abcdef"));
    const refused = await stack.call("GET", "/api/admin/orders/summary", forged);
    assert.equal(refused.status, 401);
    const page = await openPage("/admin");
    await signIn(page, forged);
    const error = page.locator("#error strong");
    await error.waitFor();
    assert.equal(await error.textContent(), refused.body.message);
    assert.equal(
      await page.locator("#error").textContent(),
      `${refused.body.message} (401 ${refused.body.error?.code})`,
    );
    assert.equal(await page.evaluate(() => sessionStorage.getItem("order-service.admin-token")), forged);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    await shot(page, "admin-401");
    await page.close();
    assertNoPageProblems([/status of 401/]);
  });

  it("finds an order by its tracking number", async () => {
    const user = await newUser();
    const order = await placeOrder(user);
    await placeOrder(user); // another order of the same user, which must not match
    await setStatus(order.id, { status: "processing" });
    const tracking = `TRK-${Date.now()}`;
    await setStatus(order.id, { status: "shipped", trackingNumber: tracking, carrier: "BlueDart" });

    const page = await openPage("/admin");
    await signIn(page, adminToken);
    await page.waitForSelector("#summary .tile");
    await page.fill("#q", tracking);
    await page.click("#search button[type=submit]");
    await page.waitForSelector(`#detail h2 code:text-is("${order.id}")`);
    assert.equal(await page.locator("#orders tr[data-id]").count(), 1);
    assert.equal(await page.locator("#detail-tracking").textContent(), `${tracking} (BlueDart)`);
    await shot(page, "admin-found-by-tracking");
    await page.close();
    assertNoPageProblems();
  });

  it("ships an order: the tracking number and carrier asked for, the change shown", async () => {
    const user = await newUser();
    const order = await placeOrder(user);
    await setStatus(order.id, { status: "processing" });

    const page = await openPage("/admin");
    await signIn(page, adminToken);
    await page.fill("#userId", String(user.id));
    await page.check("#status-processing");
    await page.click("#search button[type=submit]");
    await page.click(`#orders tr[data-id="${order.id}"]`);
    await page.waitForSelector(`#detail h2 code:text-is("${order.id}")`);
    await page.click('#detail button[data-move="shipped"]');
    // Shipping without a tracking number is refused by the form before any call.
    assert.equal(await page.locator("#move-trackingNumber").getAttribute("required"), "");
    await page.fill("#move-trackingNumber", "BD-778899");
    await page.fill("#move-carrier", "BlueDart");
    await page.fill("#move-note", "left the warehouse");
    await shot(page, "admin-ship-form");
    await page.click("#move-form button[type=submit]");
    await page.waitForSelector("#detail-status .badge.shipped");
    await page.waitForSelector(`#notice:text-is("Order ${order.id} is now shipped")`);
    await shot(page, "admin-shipped");

    const seen = await stack.call("GET", `/api/orders/${order.id}`, adminToken);
    assert.equal(seen.body.data.status, "shipped");
    assert.equal(seen.body.data.trackingNumber, "BD-778899");
    assert.equal(seen.body.data.carrier, "BlueDart");
    await page.close();
    assertNoPageProblems();
  });

  it("pages through the results with the filters the cursor was issued for", async () => {
    const user = await newUser();
    const placed = [await placeOrder(user), await placeOrder(user), await placeOrder(user)];
    const newestFirst = placed.map((order) => order.id).reverse();
    const page = await openPage("/admin");
    await signIn(page, adminToken);
    await page.fill("#userId", String(user.id));
    await page.check("#paymentMethod-cash_on_delivery");
    await page.check("#status-pending");
    await page.fill("#limit", "2");
    await page.click("#search button[type=submit]");
    const shown = () =>
      page
        .locator("#orders tr[data-id]")
        .evaluateAll((rows) => rows.map((row) => row.getAttribute("data-id")));
    await page.waitForSelector(`#page-info:text-is("Page 1 · 2 orders")`);
    assert.deepEqual(await shown(), newestFirst.slice(0, 2));
    await page.click("#next-page");
    await page.waitForSelector(`#page-info:text-is("Page 2 · 1 order")`);
    assert.deepEqual(await shown(), newestFirst.slice(2));
    assert.ok(await page.locator("#next-page").isDisabled());
    await page.click("#previous-page");
    await page.waitForSelector(`#page-info:text-is("Page 1 · 2 orders")`);
    assert.deepEqual(await shown(), newestFirst.slice(0, 2));
    await page.close();
    assertNoPageProblems();
  });

  it("shows a refusal's message and field details as the API gave them", async () => {
    const page = await openPage("/admin");
    await signIn(page, adminToken);
    await page.waitForSelector("#summary .tile");
    await page.fill("#createdFrom", "2026-06-02T00:00:00");
    await page.fill("#createdTo", "2026-06-01T00:00:00");
    await page.click("#search button[type=submit]");
    const from = new Date("2026-06-02T00:00:00").toISOString();
    const to = new Date("2026-06-01T00:00:00").toISOString();
    const refused = await stack.call(
      "GET",
      `/api/admin/orders?createdFrom=${from}&createdTo=${to}`,
      adminToken,
    );
    assert.equal(refused.status, 400);
    await page.waitForSelector(`#error strong:text-is("${refused.body.message}")`);
    const details = refused.body.error?.details ?? [];
    assert.ok(details.length > 0);
    assert.deepEqual(
      await page.locator("#error li").allTextContents(),
      details.map((detail) => `${detail.path}: ${detail.message}`),
    );
    await shot(page, "admin-400-details");
    await page.close();
    assertNoPageProblems([/status of 400/]);
  });

  it("replays a dead letter", async () => {
    const user = await newUser();
    // The notification service refuses this user's next notification: the queue dead-letters it.
    const fault = await fetch(`${stack.notificationUrl}/__admin/faults`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: user.id, failNext: 1, status: 422 }),
    });
    assert.equal(fault.status, 200);
    const order = await placeOrder(user);
    const letter = await eventually(async () => {
      const page = await stack.call("GET", "/api/admin/dead-letters?limit=100", adminToken);
      return page.body.data.deadLetters.find((each: { orderId: string }) => each.orderId === order.id);
    });

    const page = await openPage("/admin");
    await signIn(page, adminToken);
    await page.click("#tab-dead-letters");
    const replay = page.locator(`#dead-letters button[data-replay="${letter.id}"]`);
    await replay.waitFor();
    await shot(page, "admin-dead-letters");
    await replay.click();
    await page.waitForSelector(`#notice:text-is("Dead letter ${letter.id} queued again (replay 1)")`);
    await page.locator(`#dead-letters tr[data-id="${letter.id}"]`).waitFor({ state: "detached" });

    const delivered = await eventually(async () => {
      const response = await fetch(`${stack.notificationUrl}/__admin/notifications?order_id=${order.id}`);
      const { notifications } = (await response.json()) as { notifications: { key: string }[] };
      return notifications.find((each) => each.key === letter.id);
    });
    assert.ok(delivered);
    await page.close();
    assertNoPageProblems();
  });

  it("logged no errors in the worker but the dead letter made on purpose", () => {
    const unexpected = stack.errors.filter(
      (log) => !log.message.includes('"msg":"notification dead-lettered"'),
    );
    assert.deepEqual(unexpected, []);
  });
});

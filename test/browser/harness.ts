// The browser tests' harness: the stack, Chromium (Debian's, steered by playwright-core), and the
// steps the tests share: users and orders made through the API, pages opened with their console
// watched, screenshots, and polling.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { type Browser, chromium, type Page } from "playwright-core";
import { type Stack, startStack } from "./stack.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = new URL("../../dist/screenshots/", import.meta.url).pathname;
const PRODUCT = "507f1f77bcf86cd799439014"; // the stand-in's AirPods Pro, 200 in stock
const ADDRESS = {
  street: "123 Main St",
  city: "Mumbai",
  state: "Maharashtra",
  postalCode: "400001",
  country: "India",
};

export let stack: Stack;
let browser: Browser;
export let adminToken: string;
let nextUser = 1000;
/** Console errors and CSP violations of every page, checked after each test. */
const pageProblems: string[] = [];

export async function newUser(): Promise<{ id: number; token: string }> {
  const id = nextUser++;
  return { id, token: await stack.token(id) };
}

/** A cash-on-delivery order (it stays pending, with no gateway settling it meanwhile). */
export async function placeOrder(user: { token: string }): Promise<{ id: string; status: string }> {
  const added = await stack.call("POST", "/api/cart/items", user.token, { productId: PRODUCT, quantity: 1 });
  assert.ok(added.status < 300, `cart add: ${added.status} ${added.body?.message}`);
  const placed = await stack.call("POST", "/api/orders", user.token, {
    shippingAddress: ADDRESS,
    paymentMethod: "cash_on_delivery",
  });
  assert.equal(placed.status, 201, `checkout: ${placed.body?.message}`);
  return placed.body.data;
}

export async function setStatus(orderId: string, body: Record<string, string>) {
  const changed = await stack.call("PUT", `/api/orders/${orderId}/status`, adminToken, body);
  assert.equal(changed.status, 200, `status change: ${changed.body?.message}`);
  return changed.body.data;
}

export async function openPage(path: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (message) => {
    if (message.type() === "error") pageProblems.push(`${path}: ${message.text()}`);
  });
  page.on("pageerror", (error) => pageProblems.push(`${path}: ${error.message}`));
  const response = await page.goto(`${stack.origin}${path}`);
  assert.equal(response?.status(), 200);
  return page;
}

export async function shot(page: Page, name: string) {
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

/** Only the API's own refusals may show in the console (the browser reports them as failed loads). */
export function assertNoPageProblems(allowed: RegExp[] = []) {
  const problems = pageProblems.splice(0).filter((text) => !allowed.some((pattern) => pattern.test(text)));
  assert.deepEqual(problems, []);
}

export async function signIn(page: Page, token: string) {
  await page.fill("#token", token);
  await page.click("#token-form button[type=submit]");
}

/** Starts the stack and Chromium (once per run). */
export async function startHarness(): Promise<void> {
  await mkdir(SHOTS, { recursive: true });
  stack = await startStack((text) => console.log(`# ${text}`));
  adminToken = await stack.token(1, "ADMIN");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // As root on a machine with no internet: no sandbox, and no background calls to Google.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A failed test leaves its page's problems behind: each test starts with none. */
export function forgetPageProblems(): void {
  pageProblems.length = 0;
}

export async function stopHarness(): Promise<void> {
  await browser?.close();
  await stack?.close();
}

export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`nothing after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// The typed client (client/) in Node 22 as a storefront's server would run it: Node's own fetch and
// global WebSocket, against the worker in workerd (test/client/ drives it inside workerd instead). It runs the
// built package (npm run client:build), as a storefront would install it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createOrderClient, OrderServiceError, watchOrders } from "../../client/dist/index.js";
import { type Stack, startStack } from "./stack.ts";

const PRODUCT = "507f1f77bcf86cd799439014";
const ADDRESS = { street: "1 Main St", city: "Mumbai", state: "MH", postalCode: "400001", country: "India" };
let stack: Stack;

before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack?.close();
});

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

test("takes a guest through sign-in to an order, and watches it live with Node's WebSocket", async () => {
  assert.equal(typeof WebSocket, "function", "Node 22 has a global WebSocket");
  const anonymous = createOrderClient({ baseUrl: stack.origin, getToken: () => undefined });
  const guest = await anonymous.createGuest();
  const asGuest = createOrderClient({ baseUrl: stack.origin, getToken: () => guest.token });
  await asGuest.addItem(PRODUCT, 1);

  const userToken = await stack.token(4242);
  const user = createOrderClient({ baseUrl: stack.origin, getToken: () => userToken });
  const merged = await user.mergeCart({ guestToken: guest.token });
  assert.deepEqual(
    merged.cart.items.map((item) => [item.productId, item.quantity]),
    [[PRODUCT, 1]],
  );
  const order = await user.placeOrder({ shippingAddress: ADDRESS, paymentMethod: "cash_on_delivery" });
  assert.equal(order.status, "pending");

  const events: { orderId: string; status: string }[] = [];
  const states: string[] = [];
  const stop = new AbortController();
  const watching = watchOrders(user, {
    onEvent: (event) => events.push(event),
    onState: (state) => states.push(state),
    signal: stop.signal,
  });
  await until(() => states.includes("open"));
  const admin = createOrderClient({ baseUrl: stack.origin, getToken: () => stack.token(1, "ADMIN") });
  await admin.updateOrderStatus(order.id, { status: "processing" });
  await until(() => events.some((event) => event.orderId === order.id && event.status === "processing"));
  stop.abort();
  await watching;

  const refused = await asGuest.listOrders().catch((error: unknown) => error);
  assert.ok(refused instanceof OrderServiceError);
  assert.equal(refused.code, "SIGN_IN_REQUIRED");
  assert.equal(refused.status, 403);
  assert.match(refused.requestId ?? "", /\S/);
});

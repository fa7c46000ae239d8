import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { GuestCartObject } from "../../src/durable-objects/guest-cart-object.ts";
import type { ProductSnapshot } from "../../src/schemas/cart.ts";
import { cartStub, guestCartStub } from "../../src/services/cart.ts";
import { newGuest, newUser } from "../helpers/auth.ts";
import { api } from "../helpers/http.ts";
import { createProduct, type TestProduct, updateProduct } from "../helpers/products.ts";

type Caller = { headers: Record<string, string> };

async function add(caller: Caller, productId: string, quantity: number) {
  const res = await api("POST", "/api/cart/items", {
    headers: caller.headers,
    json: { productId, quantity },
  });
  expect(res.status).toBe(201);
}

async function cartOf(caller: Caller) {
  return (await api("GET", "/api/cart", { headers: caller.headers })).body.data;
}

const lines = (cart: { items: { productId: string; quantity: number }[] }) =>
  Object.fromEntries(cart.items.map((item) => [item.productId, item.quantity]));

const snapshotOf = (product: TestProduct): ProductSnapshot => ({
  productId: product.id,
  name: product.name,
  price: product.price,
  currency: product.currency,
  image: product.images[0] ?? null,
  stock: product.stock,
});

/** A guest with two lines, and a merge into `userId` that died right after the guest object took them out. */
async function abandonedTransfer(userId: number) {
  const [a, b] = await Promise.all([createProduct(), createProduct()]);
  const guest = await newGuest();
  await add(guest, a.id, 2);
  await add(guest, b.id, 1);
  const stub = guestCartStub(env, guest.guestId);
  const begun = await stub.beginTransfer(crypto.randomUUID(), userId, "merge", {
    [a.id]: snapshotOf(a),
    [b.id]: snapshotOf(b),
  });
  if (!("transfer" in begun) || !begun.transfer) throw new Error("the transfer did not begin");
  return { guest, stub, transfer: begun.transfer, expected: { [a.id]: 2, [b.id]: 1 } };
}

async function transfersLeft(stub: ReturnType<typeof guestCartStub>) {
  return runInDurableObject(
    stub,
    (_object: GuestCartObject, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM cart_transfers").one().n,
  );
}

/** As if the transfer had begun longer ago than the grace its request has. */
async function backdate(stub: ReturnType<typeof guestCartStub>) {
  await runInDurableObject(stub, (_object: GuestCartObject, state) => {
    state.storage.sql.exec("UPDATE cart_transfers SET created_at = created_at - 120000");
  });
}

describe("merging a guest cart when something fails", () => {
  it("leaves both carts as they were while the product service is down (503)", async () => {
    const [a, b] = await Promise.all([createProduct(), createProduct()]);
    const guest = await newGuest();
    await add(guest, a.id, 2);
    await add(guest, b.id, 1);
    const user = await newUser();
    await add(user, a.id, 1);
    const [guestBefore, userBefore] = [await cartOf(guest), await cartOf(user)];
    await updateProduct(b.id, { faults: { get: "error" } });

    const res = await api("POST", "/api/cart/merge", {
      headers: user.headers,
      json: { guestToken: guest.token },
    });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("UPSTREAM_UNAVAILABLE");
    expect(await cartOf(guest)).toEqual(guestBefore);
    expect(await cartOf(user)).toEqual(userBefore);

    await updateProduct(b.id, { faults: {} });
    const retried = await api("POST", "/api/cart/merge", {
      headers: user.headers,
      json: { guestToken: guest.token },
    });
    expect(retried.status).toBe(200);
    expect(lines(retried.body.data.cart)).toEqual({ [a.id]: 2, [b.id]: 1 });
  });

  it("refuses while a checkout holds the user's cart (409), putting the guest's lines back as they were", async () => {
    const product = await createProduct();
    const guest = await newGuest();
    await add(guest, product.id, 3);
    const user = await newUser();
    await add(user, (await createProduct()).id, 1);
    const [guestBefore, userBefore] = [await cartOf(guest), await cartOf(user)];
    const locked = await cartStub(env, user.id).beginCheckout(60_000, crypto.randomUUID());
    if (!locked.ok) throw new Error("could not lock the cart");

    const res = await api("POST", "/api/cart/merge", {
      headers: user.headers,
      json: { guestToken: guest.token },
    });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("CHECKOUT_IN_PROGRESS");
    expect((await cartOf(guest)).items).toEqual(guestBefore.items);
    expect(await cartOf(user)).toEqual(userBefore);

    await cartStub(env, user.id).finishCheckout(user.id, locked.value.token, null);
    const retried = await api("POST", "/api/cart/merge", {
      headers: user.headers,
      json: { guestToken: guest.token },
    });
    expect(retried.status).toBe(200);
    expect(lines(retried.body.data.cart)[product.id]).toBe(3);
    expect((await cartOf(guest)).items).toEqual([]);
  });

  it("finishes a hand-over that died after taking the guest's lines at the same user's next merge", async () => {
    const user = await newUser();
    const { guest, stub, expected } = await abandonedTransfer(user.id);
    // The lines are in the transfer: in neither cart, and not lost.
    expect((await cartOf(guest)).items).toEqual([]);
    expect((await cartOf(user)).items).toEqual([]);
    expect(await transfersLeft(stub)).toBe(1);

    const res = await api("POST", "/api/cart/merge", {
      headers: user.headers,
      json: { guestToken: guest.token },
    });
    expect(res.status).toBe(200);
    expect(lines(res.body.data.cart)).toEqual(expected);
    expect(await transfersLeft(stub)).toBe(0);
    expect((await cartOf(guest)).items).toEqual([]);
    const again = await api("POST", "/api/cart/merge", {
      headers: user.headers,
      json: { guestToken: guest.token },
    });
    expect(lines(again.body.data.cart)).toEqual(expected);
  });

  it("finishes an abandoned hand-over from the guest object's alarm, applying it once", async () => {
    const user = await newUser();
    const { stub, transfer, expected } = await abandonedTransfer(user.id);
    // The user's object applied it, then the worker died before the guest object heard.
    const applied = await cartStub(env, user.id).applyTransfer(user.id, transfer, "USD");
    expect(applied.transfer).toBe("applied");
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await transfersLeft(stub)).toBe(1); // still within its request's grace

    await backdate(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await transfersLeft(stub)).toBe(0);
    expect(lines(await cartOf(user))).toEqual(expected);
  });

  it("gives another user nothing while a hand-over to someone else is unfinished; the alarm then finishes it", async () => {
    const [owner, other] = await Promise.all([newUser(), newUser()]);
    const { guest, stub, expected } = await abandonedTransfer(owner.id);

    const res = await api("POST", "/api/cart/merge", {
      headers: other.headers,
      json: { guestToken: guest.token },
    });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ cart: { userId: other.id, items: [] }, adjustments: [] });

    await backdate(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(lines(await cartOf(owner))).toEqual(expected);
    expect((await cartOf(other)).items).toEqual([]);
    expect((await cartOf(guest)).items).toEqual([]);
  });

  it("puts the lines back from the alarm when the user's object refuses the abandoned hand-over", async () => {
    const user = await newUser();
    const { guest, stub, expected } = await abandonedTransfer(user.id);
    const own = await createProduct();
    await add(user, own.id, 1);
    const locked = await cartStub(env, user.id).beginCheckout(60_000, crypto.randomUUID());
    expect(locked.ok).toBe(true);

    await backdate(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await transfersLeft(stub)).toBe(0);
    expect(lines(await cartOf(guest))).toEqual(expected);
    expect(lines(await cartOf(user))).toEqual({ [own.id]: 1 });
  });

  it("empties a guest cart idle for GUEST_TTL_DAYS when its alarm fires", async () => {
    const guest = await newGuest();
    await add(guest, (await createProduct()).id, 1);
    const stub = guestCartStub(env, guest.guestId);
    const ttl = 7 * 24 * 60 * 60 * 1000;
    const alarmAt = await runInDurableObject(stub, (_object: GuestCartObject, state) =>
      state.storage.getAlarm(),
    );
    expect(alarmAt).toBeGreaterThan(Date.now() + ttl - 60_000);
    expect(alarmAt).toBeLessThanOrEqual(Date.now() + ttl);

    await runInDurableObject(stub, (_object: GuestCartObject, state) => {
      state.storage.sql.exec("UPDATE cart_meta SET updated_at = ?", Date.now() - ttl - 1000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await cartOf(guest)).items).toEqual([]);
  });
});

describe("a guest cart during a hand-over", () => {
  it("takes no change (409 MERGE_IN_PROGRESS), so its lines come back to the cart they left", async () => {
    const user = await newUser();
    const { guest, stub, transfer, expected } = await abandonedTransfer(user.id);
    const alarmBefore = await runInDurableObject(stub, (_object: GuestCartObject, state) =>
      state.storage.getAlarm(),
    );
    const other = await createProduct({ currency: "EUR" });
    const line = transfer.lines[0]?.id;
    const writes = [
      api("POST", "/api/cart/items", { headers: guest.headers, json: { productId: other.id, quantity: 1 } }),
      api("PUT", `/api/cart/items/${line}`, { headers: guest.headers, json: { quantity: 1 } }),
      api("DELETE", `/api/cart/items/${line}`, { headers: guest.headers }),
      api("DELETE", "/api/cart", { headers: guest.headers }),
    ];
    for (const res of await Promise.all(writes)) {
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("MERGE_IN_PROGRESS");
      expect(res.headers.get("retry-after")).toBe("1");
    }
    // Nothing moved the alarm that finishes the transfer.
    expect(
      await runInDurableObject(stub, (_object: GuestCartObject, state) => state.storage.getAlarm()),
    ).toBe(alarmBefore);
    expect(alarmBefore).toBeLessThanOrEqual(transfer.createdAt + 60_000);

    await add(user, (await createProduct()).id, 1);
    expect((await cartStub(env, user.id).beginCheckout(60_000, crypto.randomUUID())).ok).toBe(true);
    const refused = await api("POST", "/api/cart/merge", {
      headers: user.headers,
      json: { guestToken: guest.token },
    });
    expect(refused.status).toBe(409);
    expect(lines(await cartOf(guest))).toEqual(expected);
    expect(await transfersLeft(stub)).toBe(0);
  });

  it("refuses a retry in the other mode while the first is unfinished (409), then finishes it in its own", async () => {
    const user = await newUser();
    const mine = await createProduct();
    await add(user, mine.id, 3);
    const { guest, stub } = await abandonedTransfer(user.id);
    // abandonedTransfer began it in mode merge.
    const other = await api("POST", "/api/cart/merge", {
      headers: user.headers,
      json: { guestToken: guest.token, mode: "replace" },
    });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe("MERGE_IN_PROGRESS");
    expect(lines(await cartOf(user))).toEqual({ [mine.id]: 3 });

    const same = await api("POST", "/api/cart/merge", {
      headers: user.headers,
      json: { guestToken: guest.token },
    });
    expect(same.status).toBe(200);
    expect(lines(same.body.data.cart)[mine.id]).toBe(3);
    expect(Object.keys(lines(same.body.data.cart))).toHaveLength(3);
    expect(await transfersLeft(stub)).toBe(0);
  });

  it("keeps lines put back into an expired cart under an expiry alarm of their own", async () => {
    const user = await newUser();
    const { guest, stub, expected } = await abandonedTransfer(user.id);
    await add(user, (await createProduct()).id, 1);
    expect((await cartStub(env, user.id).beginCheckout(600_000, crypto.randomUUID())).ok).toBe(true);
    const ttl = 7 * 24 * 60 * 60 * 1000;
    await runInDurableObject(stub, (_object: GuestCartObject, state) => {
      state.storage.sql.exec("UPDATE cart_meta SET updated_at = ?", Date.now() - ttl - 1000);
    });
    await backdate(stub);

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(lines(await cartOf(guest))).toEqual(expected);
    const [alarm, meta] = await runInDurableObject(stub, (_object: GuestCartObject, state) => [
      state.storage.getAlarm(),
      state.storage.sql.exec<{ updated_at: number }>("SELECT updated_at FROM cart_meta").toArray(),
    ]);
    expect(await alarm).toBeGreaterThan(Date.now() + ttl - 60_000);
    expect(meta).toHaveLength(1);
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { ProductClient } from "../../src/clients/product.ts";
import { uuidv7 } from "../../src/lib/ids.ts";
import { reserveAll } from "../../src/services/stock.ts";
import { withDb } from "../helpers/orders.ts";
import { createProduct, readProduct, updateProduct } from "../helpers/products.ts";

describe("stock: a reservation whose outcome is unknown", () => {
  it("is neither released nor forgotten: it is logged with the stock it may hold", async () => {
    const error = vi.spyOn(console, "error");
    const product = await createProduct({ stock: 10 });
    // The connection drops: the product service may or may not have applied the reservation.
    await updateProduct(product.id, { faults: { stock: "reset" } });
    const orderId = uuidv7();

    await expect(
      withDb((database) =>
        reserveAll(
          new ProductClient(env.PRODUCT_SERVICE_URL, 1000),
          [{ productId: product.id, quantity: 3 }],
          {
            database,
            orderId,
          },
        ),
      ),
    ).rejects.toMatchObject({ code: "UPSTREAM_UNAVAILABLE" });

    const logged = error.mock.calls
      .map(([line]) => JSON.parse(String(line)) as Record<string, unknown>)
      .filter((line) => line.msg === "stock reservation outcome unknown");
    expect(logged).toEqual([expect.objectContaining({ productId: product.id, quantity: 3, orderId })]);
    // Nothing was given back blindly (the stand-in dropped it without applying it here).
    expect((await readProduct(product.id)).stock).toBe(10);
  });
});

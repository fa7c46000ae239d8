import { ApiError } from "../lib/errors.ts";
import { type Product, ProductResponseSchema } from "../schemas/product.ts";
import { callUpstream, readUpstreamJson } from "./http.ts";

const SERVICE = "product service";

export type StockChange = { ok: true } | { ok: false; reason: "insufficient_stock" };

/** The product service (SPEC §2). Every call has a deadline; failures come back as ApiErrors. */
export class ProductClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, timeoutMs: number) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.timeoutMs = timeoutMs;
  }

  async get(productId: string): Promise<Product> {
    const response = await callUpstream(
      this.url(`/api/products/${encodeURIComponent(productId)}`),
      { headers: { accept: "application/json" } },
      { service: SERVICE, timeoutMs: this.timeoutMs },
    );
    // A product service that validates ids (e.g. as ObjectIds) answers 400 for one that cannot exist.
    if (response.status === 404 || response.status === 400) {
      await response.body?.cancel();
      throw new ApiError("PRODUCT_NOT_FOUND", `Product ${productId} does not exist`);
    }
    if (!response.ok) throw await this.unexpected(response);
    const { data } = await readUpstreamJson(response, ProductResponseSchema, SERVICE);
    return data;
  }

  /** Applies a signed stock delta: negative reserves, positive releases. */
  async adjustStock(productId: string, delta: number): Promise<StockChange> {
    const response = await callUpstream(
      this.url(`/api/products/${encodeURIComponent(productId)}/stock`),
      {
        method: "PATCH",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ quantity: delta }),
      },
      { service: SERVICE, timeoutMs: this.timeoutMs },
    );
    // The contract answers 409 (or 400) when a decrement would go below zero.
    if (delta < 0 && (response.status === 409 || response.status === 400)) {
      await response.body?.cancel();
      return { ok: false, reason: "insufficient_stock" };
    }
    if (response.status === 404) {
      await response.body?.cancel();
      throw new ApiError("PRODUCT_NOT_FOUND", `Product ${productId} does not exist`);
    }
    if (!response.ok) throw await this.unexpected(response);
    // A 2xx means the change was applied, whatever the body says: reading it cannot undo that.
    await response.body?.cancel();
    return { ok: true };
  }

  async ping(): Promise<void> {
    const response = await callUpstream(
      this.url("/health"),
      {},
      { service: SERVICE, timeoutMs: this.timeoutMs },
    );
    await response.body?.cancel();
  }

  private url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  private async unexpected(response: Response): Promise<ApiError> {
    await response.body?.cancel();
    return new ApiError("UPSTREAM_UNAVAILABLE", `The ${SERVICE} answered ${response.status}`);
  }
}

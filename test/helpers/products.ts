import { env } from "cloudflare:workers";
import type { Product } from "../../dev/services/product.ts";

/** The stand-in's product, as its admin endpoints answer it (a type only: nothing of dev/ runs here). */
export type TestProduct = Product;

async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${env.PRODUCT_SERVICE_URL}/__admin${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`product stand-in answered ${response.status} to ${method} ${path}`);
  return response.json() as Promise<T>;
}

let counter = 0;

/** A product of this test's own in the stand-in product service. */
export async function createProduct(overrides: Partial<Omit<TestProduct, "id">> = {}): Promise<TestProduct> {
  counter += 1;
  return admin<TestProduct>("POST", "/products", {
    name: `Test product ${counter}`,
    price: 1250,
    currency: "USD",
    images: [`https://example.com/test-${counter}.jpg`],
    stock: 100,
    sku: `TEST-${counter}`,
    isActive: true,
    ...overrides,
  });
}

export async function updateProduct(
  id: string,
  patch: Partial<Omit<TestProduct, "id">>,
): Promise<TestProduct> {
  return admin<TestProduct>("PATCH", `/products/${id}`, patch);
}

export async function readProduct(id: string): Promise<TestProduct> {
  return admin<TestProduct>("GET", `/products/${id}`);
}

/** How many times the product service answered GET /api/products/{id} for this product. */
export async function productReads(id: string): Promise<number> {
  return (await admin<{ reads: number }>("GET", `/products/${id}/reads`)).reads;
}

/** One API call the product service answered for a product: when it arrived and when it was answered. */
export interface ProductCall {
  method: string;
  startedAt: number;
  endedAt: number | null;
}

export async function productCalls(id: string): Promise<ProductCall[]> {
  return (await admin<{ calls: ProductCall[] }>("GET", `/products/${id}/calls`)).calls;
}

/** The most of `calls` that were in flight at one time. */
export function peakInFlight(calls: ProductCall[]): number {
  const edges = calls.flatMap(({ startedAt, endedAt }) => [
    { at: startedAt, step: 1 },
    { at: endedAt ?? Number.POSITIVE_INFINITY, step: -1 },
  ]);
  // An answer and an arrival in the same millisecond: the answer first (they did not overlap).
  edges.sort((a, b) => a.at - b.at || a.step - b.step);
  let inFlight = 0;
  let peak = 0;
  for (const { step } of edges) {
    inFlight += step;
    peak = Math.max(peak, inFlight);
  }
  return peak;
}

import { z } from "zod";
import { unavailable } from "../clients/http.ts";
import type { Product } from "../schemas/product.ts";
import type { Cache } from "./cache.ts";

/** Where the cart gets a product from: the product service, possibly through the cache. */
export interface ProductLookup {
  get(productId: string): Promise<Product>;
}

/** A cached product, exactly as the product client returns it; anything else is a miss. */
const CachedProductSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  price: z.number().int().nonnegative(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  image: z.string().nullable(),
  stock: z.number().int(),
  sku: z.string().optional(),
  isActive: z.boolean(),
}) satisfies z.ZodType<Product>;

/** Bump when the cached shape changes: old entries are then never read. */
export const productKey = (productId: string) => `product:v1:${productId}`;

export interface CachedProductsOptions {
  /** How long an entry lives; 0 turns the cache off for products. */
  ttlSeconds: number;
  /** The longest one lookup can take (cache deadline + product service deadline): see below. */
  maxFlightMs: number;
  /** Which product service and key space this is, so lookups of different configs never merge. */
  scope: string;
}

interface Flight {
  promise: Promise<Product>;
  startedAt: number;
}

/**
 * Lookups in progress in this isolate. Concurrent misses for one product share one call: the first
 * request's lookup, which the others await (workerd resumes each awaiting request in its own
 * context). If that request is cancelled mid-lookup its promise may never settle, so a waiter never
 * waits past the flight's own deadline, and a flight older than that is replaced, never joined.
 */
const flights = new Map<string, Flight>();

/**
 * Product lookups for cart adds and line increases: cache-aside over the product service, with
 * single-flight per isolate. Checkout does not use this: it re-reads every product fresh.
 */
export class CachedProducts implements ProductLookup {
  private readonly products: ProductLookup;
  private readonly cache: Cache;
  private readonly options: CachedProductsOptions;

  constructor(products: ProductLookup, cache: Cache, options: CachedProductsOptions) {
    this.products = products;
    this.cache = cache;
    this.options = options;
  }

  get(productId: string): Promise<Product> {
    if (this.options.ttlSeconds === 0) return this.products.get(productId);
    const id = `${this.options.scope}|${productId}`;
    const now = Date.now();
    const current = flights.get(id);
    if (current && now - current.startedAt < this.options.maxFlightMs) {
      return this.join(current, now);
    }
    const flight: Flight = { promise: this.load(productId), startedAt: now };
    flights.set(id, flight);
    flight.promise
      .finally(() => {
        if (flights.get(id) === flight) flights.delete(id);
      })
      .catch(() => {});
    return flight.promise;
  }

  private async load(productId: string): Promise<Product> {
    const key = productKey(productId);
    const cached = await this.cache.get(key, CachedProductSchema);
    if (cached) return cached;
    const product = await this.products.get(productId);
    this.cache.set(key, product, this.options.ttlSeconds);
    return product;
  }

  private async join(flight: Flight, now: number): Promise<Product> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(unavailable("product service", "timeout")),
        flight.startedAt + this.options.maxFlightMs - now,
      );
    });
    try {
      return await Promise.race([flight.promise, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
}

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
  /** How long a Redis entry lives; 0 when there is no Redis (or the cache is off). */
  ttlSeconds: number;
  /** How long this isolate keeps its own copy of a product it looked up; 0 turns that off. */
  localTtlSeconds: number;
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

/** This isolate's copies of products it looked up recently, oldest first. */
const recent = new Map<string, { product: Product; expiresAt: number }>();
/** Bounds the isolate's copies (a product is well under 1 KiB). */
const MAX_RECENT = 1000;

function remember(id: string, product: Product, ttlSeconds: number): void {
  recent.delete(id);
  if (recent.size >= MAX_RECENT) {
    const oldest = recent.keys().next().value;
    if (oldest !== undefined) recent.delete(oldest);
  }
  recent.set(id, { product, expiresAt: Date.now() + ttlSeconds * 1000 });
}

/**
 * Product lookups for cart adds and line increases: cache-aside over the product service, with
 * single-flight per isolate. Two layers: a few seconds' copy in the isolate, which spares an add the
 * subrequest (a Redis call costs about what the product service's does), then Redis. Checkout does
 * not use this: it re-reads every product fresh.
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
    const { ttlSeconds, localTtlSeconds } = this.options;
    if (ttlSeconds === 0 && localTtlSeconds === 0) return this.products.get(productId);
    const id = `${this.options.scope}|${productId}`;
    const now = Date.now();
    const copy = recent.get(id);
    if (copy && copy.expiresAt > now) return Promise.resolve(copy.product);
    const current = flights.get(id);
    if (current && now - current.startedAt < this.options.maxFlightMs) {
      return this.join(current, now);
    }
    const flight: Flight = { promise: this.load(productId, id), startedAt: now };
    flights.set(id, flight);
    flight.promise
      .finally(() => {
        if (flights.get(id) === flight) flights.delete(id);
      })
      .catch(() => {});
    return flight.promise;
  }

  private async load(productId: string, id: string): Promise<Product> {
    const { ttlSeconds, localTtlSeconds } = this.options;
    const key = productKey(productId);
    let product = ttlSeconds > 0 ? await this.cache.get(key, CachedProductSchema) : null;
    if (!product) {
      product = await this.products.get(productId);
      if (ttlSeconds > 0) this.cache.set(key, product, ttlSeconds);
    }
    if (localTtlSeconds > 0) remember(id, product, localTtlSeconds);
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

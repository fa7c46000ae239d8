import type { ProductLookup } from "../cache/products.ts";
import type { Config } from "../config.ts";
import type { AddResult, NeedsProduct } from "../durable-objects/cart-object.ts";
import { ApiError } from "../lib/errors.ts";
import { canonicalJson, sha256Hex } from "../lib/ids.ts";
import type { Cart, CartItem, CartResult, ProductSnapshot } from "../schemas/cart.ts";
import type { Product } from "../schemas/product.ts";

/** The thin typed client in front of a user's cart object. */
export function cartStub(env: Env, userId: number) {
  return env.CART.getByName(`user:${userId}`);
}

function unwrap<T>(result: CartResult<T> | NeedsProduct): T {
  if (result.ok) return result.value;
  // Only a call without the product asks for it; one that had it and still asks could not check stock.
  if ("needsProduct" in result)
    throw new ApiError("INSUFFICIENT_STOCK", "The product's stock could not be confirmed");
  throw new ApiError(result.code, result.message);
}

function snapshot(product: Product): ProductSnapshot {
  if (!product.isActive) throw new ApiError("PRODUCT_UNAVAILABLE", `${product.name} is not available`);
  return {
    productId: product.id,
    name: product.name,
    price: product.price,
    currency: product.currency,
    image: product.image,
    stock: product.stock,
  };
}

/** The cart flows: product data is fetched here, outside the object, before any change inside it. */
export class CartService {
  private readonly env: Env;
  private readonly services: { config: Config; products: ProductLookup };

  /** `products` is the cached lookup: adds and increases may see a product up to its cache TTL old. */
  constructor(env: Env, services: { config: Config; products: ProductLookup }) {
    this.env = env;
    this.services = services;
  }

  async get(userId: number): Promise<Cart> {
    return cartStub(this.env, userId).getCart(userId, this.services.config.DEFAULT_CURRENCY);
  }

  /**
   * Adds a product. With an Idempotency-Key, a repeat of the same add replays the first answer
   * (looked up before the product service is asked, so it replays even if that is down).
   */
  async addItem(userId: number, productId: string, quantity: number, key?: string): Promise<AddResult> {
    const cart = cartStub(this.env, userId);
    const idempotency = key
      ? { key, requestHash: await sha256Hex(canonicalJson({ productId, quantity })) }
      : undefined;
    const earlier = idempotency && (await cart.findAdd(idempotency));
    if (earlier) return unwrap(earlier);
    const product = snapshot(await this.services.products.get(productId));
    return unwrap(await cart.addItem(userId, product, quantity, idempotency));
  }

  /**
   * Shrinking (or keeping) a quantity is one call to the cart and needs no stock check, so it keeps
   * working while the product service is down; growing looks the line's product up and calls again.
   */
  async setQuantity(userId: number, itemId: string, quantity: number): Promise<CartItem> {
    const cart = cartStub(this.env, userId);
    const changed = await cart.setQuantity(userId, itemId, quantity);
    if (!("needsProduct" in changed)) return unwrap(changed);
    const product = snapshot(await this.services.products.get(changed.needsProduct));
    return unwrap(await cart.setQuantity(userId, itemId, quantity, product));
  }

  async removeItem(userId: number, itemId: string): Promise<Cart> {
    const cart = await cartStub(this.env, userId).removeItem(
      userId,
      itemId,
      this.services.config.DEFAULT_CURRENCY,
    );
    if (!cart) throw new ApiError("CART_ITEM_NOT_FOUND", "The cart has no such item");
    return cart;
  }

  async clear(userId: number): Promise<Cart> {
    return cartStub(this.env, userId).clear(userId, this.services.config.DEFAULT_CURRENCY);
  }
}

import type { Services } from "../app-env.ts";
import { ApiError } from "../lib/errors.ts";
import type { Cart, CartItem, CartResult, ProductSnapshot } from "../schemas/cart.ts";
import type { Product } from "../schemas/product.ts";

/** The thin typed client in front of a user's cart object. */
export function cartStub(env: Env, userId: number) {
  return env.CART.getByName(`user:${userId}`);
}

function unwrap<T>(result: CartResult<T>): T {
  if (result.ok) return result.value;
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
  private readonly services: Pick<Services, "config" | "products">;

  constructor(env: Env, services: Pick<Services, "config" | "products">) {
    this.env = env;
    this.services = services;
  }

  async get(userId: number): Promise<Cart> {
    return cartStub(this.env, userId).getCart(userId, this.services.config.DEFAULT_CURRENCY);
  }

  async addItem(
    userId: number,
    productId: string,
    quantity: number,
  ): Promise<{ item: CartItem; created: boolean }> {
    const product = snapshot(await this.services.products.get(productId));
    return unwrap(await cartStub(this.env, userId).addItem(userId, product, quantity));
  }

  async setQuantity(userId: number, itemId: string, quantity: number): Promise<CartItem> {
    const cart = cartStub(this.env, userId);
    const line = await cart.getItem(itemId);
    if (!line) throw new ApiError("CART_ITEM_NOT_FOUND", "The cart has no such item");
    // Shrinking needs no stock check, so it keeps working while the product service is down.
    const product =
      quantity > line.quantity ? snapshot(await this.services.products.get(line.productId)) : undefined;
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

import type { ProductLookup } from "../cache/products.ts";
import type { ProductClient } from "../clients/product.ts";
import type { Config } from "../config.ts";
import type { CartBase } from "../durable-objects/cart-base.ts";
import type { AddResult, NeedsProduct } from "../durable-objects/cart-object.ts";
import { guestCartName, userCartName } from "../durable-objects/names.ts";
import { ApiError } from "../lib/errors.ts";
import { verifyGuestToken } from "../lib/guest-tokens.ts";
import { canonicalJson, sha256Hex } from "../lib/ids.ts";
import type {
  Cart,
  CartItem,
  CartOwner,
  CartResult,
  MergeMode,
  MergeResult,
  ProductSnapshot,
} from "../schemas/cart.ts";
import type { Product } from "../schemas/product.ts";

/** The thin typed client in front of a user's cart object. */
export function cartStub(env: Env, userId: number) {
  return env.CART.getByName(userCartName(userId));
}

/** The thin typed client in front of a guest's cart object. */
export function guestCartStub(env: Env, guestId: string) {
  return env.GUEST_CART.getByName(guestCartName(guestId));
}

/** The cart object of whoever calls: the cart routes answer users and guests alike. */
function ownerStub(env: Env, owner: CartOwner): DurableObjectStub<CartBase> {
  return "userId" in owner ? cartStub(env, owner.userId) : guestCartStub(env, owner.guestId);
}

/**
 * How often a merge looks up products the guest added while it was reading the others, before
 * giving up (the guest's cart kept changing under a sign-in: retryable).
 */
const MERGE_READ_ROUNDS = 3;

function unwrap<T>(result: CartResult<T> | NeedsProduct): T {
  if (result.ok) return result.value;
  // Only a call without the product asks for it; one that had it and still asks could not check stock.
  if ("needsProduct" in result)
    throw new ApiError("INSUFFICIENT_STOCK", "The product's stock could not be confirmed");
  // A merge is over in moments: worth retrying soon.
  const retry = result.code === "MERGE_IN_PROGRESS" ? { "Retry-After": "1" } : undefined;
  throw new ApiError(result.code, result.message, undefined, retry);
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
  private readonly services: { config: Config; products: ProductLookup; freshProducts: ProductClient };

  /**
   * `products` is the cached lookup: adds and increases may see a product up to its cache TTL old;
   * merges read `freshProducts`, the product service itself.
   */
  constructor(env: Env, services: { config: Config; products: ProductLookup; freshProducts: ProductClient }) {
    this.env = env;
    this.services = services;
  }

  async get(owner: CartOwner): Promise<Cart> {
    return ownerStub(this.env, owner).getCart(owner, this.services.config.DEFAULT_CURRENCY);
  }

  /**
   * Adds a product. With an Idempotency-Key, a repeat of the same add replays the first answer
   * (looked up before the product service is asked, so it replays even if that is down).
   */
  async addItem(owner: CartOwner, productId: string, quantity: number, key?: string): Promise<AddResult> {
    const cart = ownerStub(this.env, owner);
    const idempotency = key
      ? { key, requestHash: await sha256Hex(canonicalJson({ productId, quantity })) }
      : undefined;
    const earlier = idempotency && (await cart.findAdd(idempotency));
    if (earlier) return unwrap(earlier);
    const product = snapshot(await this.services.products.get(productId));
    return unwrap(await cart.addItem(owner, product, quantity, idempotency));
  }

  /**
   * Shrinking (or keeping) a quantity is one call to the cart and needs no stock check, so it keeps
   * working while the product service is down; growing looks the line's product up and calls again.
   */
  async setQuantity(owner: CartOwner, itemId: string, quantity: number): Promise<CartItem> {
    const cart = ownerStub(this.env, owner);
    const changed = await cart.setQuantity(owner, itemId, quantity);
    if (!("needsProduct" in changed)) return unwrap(changed);
    const product = snapshot(await this.services.products.get(changed.needsProduct));
    return unwrap(await cart.setQuantity(owner, itemId, quantity, product));
  }

  async removeItem(owner: CartOwner, itemId: string): Promise<Cart> {
    return unwrap(
      await ownerStub(this.env, owner).removeItem(owner, itemId, this.services.config.DEFAULT_CURRENCY),
    );
  }

  async clear(owner: CartOwner): Promise<Cart> {
    return unwrap(await ownerStub(this.env, owner).clear(owner, this.services.config.DEFAULT_CURRENCY));
  }

  /**
   * Merges the cart of the guest `guestToken` names (400 naming it, when it names none) into a
   * user's at sign-in (SPEC §4 Guests; the hand-over is described in
   * durable-objects/cart-transfer.ts). Every product is read fresh from the product service before
   * anything moves: while it is down, both carts stay as they are (503).
   */
  async merge(
    userId: number,
    guestToken: string,
    mode: MergeMode,
    key?: string,
  ): Promise<MergeResult & { replayed: boolean }> {
    const guestId = await verifyGuestToken(guestToken, this.services.config);
    if (!guestId) {
      throw new ApiError("VALIDATION_FAILED", "The request is invalid", [
        { path: "guestToken", message: "is not a valid, unexpired guest token" },
      ]);
    }
    const cart = cartStub(this.env, userId);
    const guest = guestCartStub(this.env, guestId);
    const idempotency = key
      ? { key, requestHash: await sha256Hex(canonicalJson({ merge: { guestId, mode } })) }
      : undefined;
    const earlier = idempotency && (await cart.findMerge(idempotency));
    if (earlier) return unwrap(earlier);

    const transferId = crypto.randomUUID();
    const products: Record<string, ProductSnapshot | null> = {};
    let begun = await guest.beginTransfer(transferId, userId, mode, products);
    for (let round = 1; "missing" in begun; round++) {
      if (round > MERGE_READ_ROUNDS) {
        throw new ApiError("UPSTREAM_UNAVAILABLE", "The guest's cart kept changing during the merge; retry");
      }
      Object.assign(products, await this.freshProducts(begun.missing));
      begun = await guest.beginTransfer(transferId, userId, mode, products);
    }

    if ("busy" in begun) {
      throw new ApiError(
        "MERGE_IN_PROGRESS",
        `A merge of this guest cart in mode ${begun.busy} is under way; retry it in that mode, or wait a minute`,
        undefined,
        { "Retry-After": "1" },
      );
    }
    const { transfer } = begun;
    const answer = await cart.applyTransfer(
      userId,
      transfer,
      this.services.config.DEFAULT_CURRENCY,
      idempotency,
    );
    if (transfer && answer.transfer === "applied") await guest.completeTransfer(transfer.id);
    if (transfer && answer.transfer === "refused") await guest.abortTransfer(transfer.id);
    return unwrap(answer.result);
  }

  /** Each product as the product service answers now: null when it is unknown or inactive. */
  private async freshProducts(productIds: string[]): Promise<Record<string, ProductSnapshot | null>> {
    const read = async (productId: string): Promise<[string, ProductSnapshot | null]> => {
      try {
        const product = await this.services.freshProducts.get(productId);
        return [productId, product.isActive ? snapshot(product) : null];
      } catch (error) {
        if (error instanceof ApiError && error.code === "PRODUCT_NOT_FOUND") return [productId, null];
        throw error;
      }
    };
    return Object.fromEntries(await Promise.all(productIds.map(read)));
  }
}

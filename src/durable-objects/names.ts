/**
 * The names of the cart objects in their namespaces; in a module of their own, so that the worker
 * (and tools that load the app outside workerd) can name an object without loading its class.
 */
export const userCartName = (userId: number) => `user:${userId}`;
export const guestCartName = (guestId: string) => `guest:${guestId}`;

/**
 * Keys derived from JWT_SECRET, one per purpose (HKDF-SHA256 with the purpose as its info), so that
 * what one purpose signs can never pass for another's: a live ticket for a guest token, either for
 * a user-service token (signed with JWT_SECRET itself).
 */
const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

/** The HMAC-SHA256 key for `purpose`, derived from `secret` once per isolate. */
export function derivedKey(secret: string, purpose: string): Promise<CryptoKey> {
  const id = `${purpose}\n${secret}`;
  let key = keys.get(id);
  if (!key) {
    key = crypto.subtle
      .importKey("raw", encoder.encode(secret), "HKDF", false, ["deriveKey"])
      .then((master) =>
        crypto.subtle.deriveKey(
          {
            name: "HKDF",
            hash: "SHA-256",
            salt: encoder.encode("order-service"),
            info: encoder.encode(purpose),
          },
          master,
          { name: "HMAC", hash: "SHA-256", length: 256 },
          false,
          ["sign", "verify"],
        ),
      );
    keys.set(id, key);
  }
  return key;
}

/**
 * Keys derived from JWT_SECRET, one per purpose (HKDF-SHA256, salt "order-service", the purpose as
 * its info), so a MAC made for one purpose (a live ticket, a cached identity, …) never passes for
 * another, nor for a token signed with the secret itself. Derived once per isolate.
 */
const encoder = new TextEncoder();
const derived = new Map<string, Promise<CryptoKey>>();

/** The HMAC-SHA256 key (sign and verify) of `purpose` under `secret`. */
export function derivedKey(secret: string, purpose: string): Promise<CryptoKey> {
  const id = `${purpose}\n${secret}`;
  let key = derived.get(id);
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
    derived.set(id, key);
  }
  return key;
}

export function toBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/=+$/, "")
    .replace(/\+/g, "-")
    .replace(/\//g, "_");
}

export function fromBase64Url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** HMAC-SHA256 of `text` under the key of `purpose`, base64url (43 characters). */
export async function macOf(secret: string, purpose: string, text: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await derivedKey(secret, purpose), encoder.encode(text));
  return toBase64Url(new Uint8Array(mac));
}

/** Whether `mac` is the MAC of `text` under the key of `purpose` (compared in constant time by WebCrypto). */
export async function verifyMac(
  secret: string,
  purpose: string,
  text: string,
  mac: string,
): Promise<boolean> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(mac)) return false;
  return crypto.subtle.verify(
    "HMAC",
    await derivedKey(secret, purpose),
    fromBase64Url(mac),
    encoder.encode(text),
  );
}

/**
 * Signed, short-lived tickets: `<userId>.<expiresAt ms>.<nonce>.<mac>`, the MAC an HMAC-SHA256 of
 * the first three parts under a key derived from JWT_SECRET for the purpose (lib/keys.ts), so a
 * ticket can never pass for a token or the other way round. A forged or expired ticket is refused from its
 * text alone, before anything is looked up.
 */
import { derivedKey as ticketKey } from "./keys.ts";

const encoder = new TextEncoder();
const TICKET = /^(\d{1,15})\.(\d{13})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export interface Ticket {
  userId: number;
  expiresAt: number;
  nonce: string;
}

function toBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/=+$/, "")
    .replace(/\+/g, "-")
    .replace(/\//g, "_");
}

function fromBase64Url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

export async function signTicket(secret: string, purpose: string, ticket: Ticket): Promise<string> {
  const payload = `${ticket.userId}.${ticket.expiresAt}.${ticket.nonce}`;
  const mac = await crypto.subtle.sign("HMAC", await ticketKey(secret, purpose), encoder.encode(payload));
  return `${payload}.${toBase64Url(new Uint8Array(mac))}`;
}

/** The ticket's claims if its MAC is ours and it has not expired; null otherwise. */
export async function verifyTicket(
  secret: string,
  purpose: string,
  text: string,
  now = Date.now(),
): Promise<Ticket | null> {
  const match = TICKET.exec(text);
  if (!match) return null;
  const [, userId, expiresAt, nonce, mac] = match as unknown as [string, string, string, string, string];
  const valid = await crypto.subtle.verify(
    "HMAC",
    await ticketKey(secret, purpose),
    fromBase64Url(mac),
    encoder.encode(`${userId}.${expiresAt}.${nonce}`),
  );
  if (!valid || Number(expiresAt) <= now) return null;
  return { userId: Number(userId), expiresAt: Number(expiresAt), nonce };
}

import { macOf, verifyMac } from "./keys.ts";

/**
 * Signed, short-lived tickets: `<userId>.<expiresAt ms>.<nonce>.<mac>`, the MAC an HMAC-SHA256 of
 * the first three parts under a key derived from JWT_SECRET (HKDF, its own label, so a ticket can
 * never pass for a token or the other way round; lib/keys.ts). A forged or expired ticket is refused from its
 * text alone, before anything is looked up.
 */
const TICKET = /^(\d{1,15})\.(\d{13})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

export interface Ticket {
  userId: number;
  expiresAt: number;
  nonce: string;
}

export async function signTicket(secret: string, purpose: string, ticket: Ticket): Promise<string> {
  const payload = `${ticket.userId}.${ticket.expiresAt}.${ticket.nonce}`;
  return `${payload}.${await macOf(secret, purpose, payload)}`;
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
  const valid = await verifyMac(secret, purpose, `${userId}.${expiresAt}.${nonce}`, mac);
  if (!valid || Number(expiresAt) <= now) return null;
  return { userId: Number(userId), expiresAt: Number(expiresAt), nonce };
}

import { ApiError } from "../lib/errors.ts";
import { randomToken, sha256Hex } from "../lib/ids.ts";
import { describeError, log } from "../lib/log.ts";
import { type LiveEvent, type OrderEvent, toLiveEvent } from "../queues/messages.ts";
import { cartStub } from "./cart.ts";

/**
 * Live order status (SPEC §4). Browsers cannot set headers on a WebSocket, so a page trades its
 * bearer token for a ticket, then connects with `?ticket=`. A ticket names its user (so the
 * upgrade reaches that user's object) and carries 256 random bits, of which the object keeps only
 * a hash until the ticket is used once or lapses.
 */
export const LIVE_TICKET_TTL_MS = 30_000;
const TICKET = /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/;

export async function issueLiveTicket(
  env: Env,
  userId: number,
): Promise<{ ticket: string; expiresAt: string }> {
  const secret = randomToken(32);
  const expiresAt = Date.now() + LIVE_TICKET_TTL_MS;
  await cartStub(env, userId).issueLiveTicket(await sha256Hex(secret), expiresAt);
  return { ticket: `${userId}.${secret}`, expiresAt: new Date(expiresAt).toISOString() };
}

function invalidTicket(): ApiError {
  return new ApiError("UNAUTHORIZED", "The live ticket is invalid, expired or already used");
}

/**
 * Upgrades to a WebSocket held by the ticket's user's object, which redeems the ticket first.
 * Refusals (426 without an upgrade, 401 for a bad ticket) happen before anything is accepted.
 */
export async function connectLive(env: Env, upgrade: string | undefined, ticket: string | undefined) {
  if (upgrade?.toLowerCase() !== "websocket") {
    throw new ApiError("UPGRADE_REQUIRED", "Connect with a WebSocket (Upgrade: websocket)", undefined, {
      Upgrade: "websocket",
    });
  }
  const match = ticket ? TICKET.exec(ticket) : null;
  if (!match) throw invalidTicket();
  const [, userId, secret] = match as unknown as [string, string, string];
  const response = await cartStub(env, Number(userId)).fetch(
    new Request("https://cart.internal/live", {
      headers: { upgrade: "websocket", "x-live-ticket-hash": await sha256Hex(secret) },
    }),
  );
  if (response.status !== 101 || !response.webSocket) throw invalidTicket();
  return new Response(null, { status: 101, webSocket: response.webSocket });
}

/** Pushes committed events to their owners' open sockets; best effort (a page refetches on reconnect). */
export async function pushLive(env: Env, events: OrderEvent[]): Promise<void> {
  const byUser = new Map<number, LiveEvent[]>();
  for (const event of events)
    byUser.set(event.userId, [...(byUser.get(event.userId) ?? []), toLiveEvent(event)]);
  await Promise.all(
    [...byUser].map(([userId, live]) =>
      cartStub(env, userId)
        .pushLive(live)
        .catch((error: unknown) => log("warn", "live push failed", { userId, ...describeError(error) })),
    ),
  );
}

import { getConfig } from "../config.ts";
import { ApiError } from "../lib/errors.ts";
import { randomToken, sha256Hex } from "../lib/ids.ts";
import { describeError, log } from "../lib/log.ts";
import { signTicket, verifyTicket } from "../lib/tickets.ts";
import { type OrderEvent, toLiveEvent } from "../queues/messages.ts";
import type { LiveEvent } from "../schemas/live.ts";
import { cartStub } from "./cart.ts";

/**
 * Live order status (SPEC §4). Browsers cannot set headers on a WebSocket, so a page trades its
 * bearer token for a ticket, then connects with `?ticket=`. A ticket is signed (lib/tickets.ts):
 * it names its user, so the upgrade reaches that user's object, and a forged or expired one is
 * refused before any object is touched. The object keeps a hash of the ticket's nonce until it is
 * used once or lapses.
 */
export const LIVE_TICKET_TTL_MS = 30_000;
const PURPOSE = "live-ticket/v1";

/**
 * A ticket carries when its socket must close: when the bearer token that bought it expires, or
 * after LIVE_SOCKET_MAX_AGE_SECONDS, whichever is first. A page reconnects with a new ticket then
 * (close code 4001), so a socket never outlives its login.
 */
export async function issueLiveTicket(
  env: Env,
  userId: number,
  tokenExpiresAt: number,
): Promise<{ ticket: string; expiresAt: string }> {
  const config = getConfig(env);
  const nonce = randomToken(16);
  const now = Date.now();
  const expiresAt = now + LIVE_TICKET_TTL_MS;
  const closesAt = Math.min(tokenExpiresAt, now + config.LIVE_SOCKET_MAX_AGE_SECONDS * 1000);
  await cartStub(env, userId).issueLiveTicket(await sha256Hex(nonce), expiresAt, closesAt);
  const ticket = await signTicket(getConfig(env).JWT_SECRET, PURPOSE, { userId, expiresAt, nonce });
  return { ticket, expiresAt: new Date(expiresAt).toISOString() };
}

function invalidTicket(): ApiError {
  return new ApiError("UNAUTHORIZED", "The live ticket is invalid, expired or already used");
}

/**
 * Upgrades to a WebSocket held by the ticket's user's object, which redeems the ticket first.
 * Refusals (426 without an upgrade, 401 for a bad ticket) happen before anything is accepted.
 */
export async function connectLive(env: Env, upgrade: string | undefined, text: string | undefined) {
  if (upgrade?.toLowerCase() !== "websocket") {
    throw new ApiError("UPGRADE_REQUIRED", "Connect with a WebSocket (Upgrade: websocket)", undefined, {
      Upgrade: "websocket",
    });
  }
  const ticket = text ? await verifyTicket(getConfig(env).JWT_SECRET, PURPOSE, text) : null;
  if (!ticket) throw invalidTicket();
  const response = await cartStub(env, ticket.userId).fetch(
    new Request("https://cart.internal/live", {
      headers: {
        upgrade: "websocket",
        "x-live-ticket-hash": await sha256Hex(ticket.nonce),
        "x-live-max-sockets": String(getConfig(env).LIVE_MAX_SOCKETS_PER_USER),
      },
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

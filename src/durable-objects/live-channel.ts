import type { LiveEvent } from "../schemas/live.ts";

/**
 * The live half of a user's object: single-use tickets and the user's open WebSockets, accepted
 * with the hibernation API so that an idle connection costs nothing while the object sleeps.
 *
 * Storage: live_ticket_grants (hash of the ticket's secret, its expiry, and when a socket opened
 * with it must close), one row per unused ticket. Each socket's closing time travels in its
 * attachment, so it survives hibernation; the object's alarm closes sockets when their time comes.
 */
const LIVE_SCHEMA = `
  DROP TABLE IF EXISTS live_tickets;
  CREATE TABLE IF NOT EXISTS live_ticket_grants (
    hash TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    closes_at INTEGER NOT NULL
  );
`;
const SOCKET_TAG = "live";

/** Close codes a page can act on: both mean "reconnect with a new ticket if you still want events". */
export const LIVE_CLOSE = {
  /** The user opened more sockets than allowed: the oldest are closed first. */
  superseded: { code: 4000, reason: "Too many live connections: the oldest was closed" },
  /** The token that bought the ticket expired, or the socket reached its maximum age. */
  expired: { code: 4001, reason: "Session over: reconnect with a new ticket" },
} as const;

interface SocketAttachment {
  openedAt: number;
  closesAt: number;
}

export class LiveChannel {
  private readonly ctx: DurableObjectState;

  constructor(ctx: DurableObjectState) {
    this.ctx = ctx;
    ctx.storage.sql.exec(LIVE_SCHEMA);
    // Answered by the runtime without waking the object: a page's keep-alive.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  issue(hash: string, expiresAt: number, closesAt: number): void {
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec("DELETE FROM live_ticket_grants WHERE expires_at <= ?", Date.now());
      this.ctx.storage.sql.exec(
        "INSERT INTO live_ticket_grants (hash, expires_at, closes_at) VALUES (?, ?, ?)",
        hash,
        expiresAt,
        closesAt,
      );
    });
  }

  /**
   * Accepts the socket if the ticket is unused and unexpired, using it up; else 401, nothing
   * accepted. Beyond `maxSockets` open sockets, the oldest are closed.
   */
  connect(ticketHash: string | null, maxSockets: number): { response: Response; closesAt?: number } {
    const now = Date.now();
    const ticket = this.ctx.storage.sql
      .exec<{ expires_at: number; closes_at: number }>(
        "DELETE FROM live_ticket_grants WHERE hash = ? RETURNING expires_at, closes_at",
        ticketHash ?? "",
      )
      .toArray()[0];
    if (!ticket || ticket.expires_at <= now || ticket.closes_at <= now)
      return { response: new Response(null, { status: 401 }) };
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, [SOCKET_TAG]);
    server.serializeAttachment({ openedAt: now, closesAt: ticket.closes_at } satisfies SocketAttachment);

    const open = this.open().sort((a, b) => a.attachment.openedAt - b.attachment.openedAt);
    for (const { socket } of open.slice(0, Math.max(0, open.length - maxSockets)))
      close(socket, LIVE_CLOSE.superseded);
    return { response: new Response(null, { status: 101, webSocket: client }), closesAt: ticket.closes_at };
  }

  /** Closes the sockets whose time has come; answers when the next one must close (null: none open). */
  closeDue(now = Date.now()): number | null {
    for (const { socket, attachment } of this.open())
      if (attachment.closesAt <= now) close(socket, LIVE_CLOSE.expired);
    return this.nextClose();
  }

  /** When the first open socket must close, or null. */
  nextClose(): number | null {
    const times = this.open().map(({ attachment }) => attachment.closesAt);
    return times.length ? Math.min(...times) : null;
  }

  /** Sends each event to every open socket; answers how many sockets got them. */
  push(events: LiveEvent[]): number {
    const sockets = this.ctx.getWebSockets(SOCKET_TAG);
    for (const socket of sockets) {
      for (const event of events) {
        try {
          socket.send(JSON.stringify(event));
        } catch {
          // Closing already: webSocketClose tidies up.
        }
      }
    }
    return sockets.length;
  }

  private open(): { socket: WebSocket; attachment: SocketAttachment }[] {
    return this.ctx
      .getWebSockets(SOCKET_TAG)
      .filter((socket) => socket.readyState === WebSocket.OPEN)
      .map((socket) => ({
        socket,
        // A socket accepted before closing times existed has none: it closes at the next alarm.
        attachment: (socket.deserializeAttachment() as SocketAttachment | null) ?? {
          openedAt: 0,
          closesAt: 0,
        },
      }));
  }
}

function close(socket: WebSocket, { code, reason }: { code: number; reason: string }): void {
  try {
    socket.close(code, reason);
  } catch {
    // Already closing.
  }
}

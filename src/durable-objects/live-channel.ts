import type { LiveEvent } from "../schemas/live.ts";

/**
 * The live half of a user's object: single-use tickets and the user's open WebSockets, accepted
 * with the hibernation API so that an idle connection costs nothing while the object sleeps.
 *
 * Storage: live_tickets (hash of the ticket's secret, expiry), one row per unused ticket.
 */
const LIVE_SCHEMA = `
  CREATE TABLE IF NOT EXISTS live_tickets (
    hash TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  );
`;
const SOCKET_TAG = "live";

export class LiveChannel {
  private readonly ctx: DurableObjectState;

  constructor(ctx: DurableObjectState) {
    this.ctx = ctx;
    ctx.storage.sql.exec(LIVE_SCHEMA);
    // Answered by the runtime without waking the object: a page's keep-alive.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  issue(hash: string, expiresAt: number): void {
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec("DELETE FROM live_tickets WHERE expires_at <= ?", Date.now());
      this.ctx.storage.sql.exec("INSERT INTO live_tickets (hash, expires_at) VALUES (?, ?)", hash, expiresAt);
    });
  }

  /** Accepts the socket if the ticket is unused and unexpired, using it up; else 401, nothing accepted. */
  connect(ticketHash: string | null): Response {
    const ticket = this.ctx.storage.sql
      .exec<{ expires_at: number }>(
        "DELETE FROM live_tickets WHERE hash = ? RETURNING expires_at",
        ticketHash ?? "",
      )
      .toArray()[0];
    if (!ticket || ticket.expires_at <= Date.now()) return new Response(null, { status: 401 });
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, [SOCKET_TAG]);
    return new Response(null, { status: 101, webSocket: client });
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
}

import { exports } from "cloudflare:workers";

/**
 * A WebSocket, as the client's watchOrders uses one, over the worker's own fetch handler (workerd's
 * upgrade response): the tests' stand-in for a browser's or Node's WebSocket. `hold()` keeps new
 * sockets from connecting until released, and `drop()` cuts the open ones, as a network would.
 */
export class WorkerSocket extends EventTarget {
  static open = new Set<WorkerSocket>();
  static gate: Promise<void> = Promise.resolve();
  private static release: () => void = () => {};

  static hold(): void {
    WorkerSocket.gate = new Promise((resolve) => {
      WorkerSocket.release = resolve;
    });
  }

  static let(): void {
    WorkerSocket.release();
    WorkerSocket.gate = Promise.resolve();
  }

  static drop(): void {
    for (const socket of WorkerSocket.open) socket.close(1006, "dropped");
  }

  readyState = 0;
  private socket: WebSocket | undefined;

  constructor(url: string) {
    super();
    const target = new URL(url);
    target.protocol = "https:";
    void WorkerSocket.gate
      .then(() => exports.default.fetch(new Request(target, { headers: { upgrade: "websocket" } })))
      .then((response) => {
        const socket = response.webSocket;
        if (!socket) return this.closed();
        socket.accept();
        this.socket = socket;
        this.readyState = 1;
        WorkerSocket.open.add(this);
        socket.addEventListener("message", (event) =>
          this.dispatchEvent(Object.assign(new Event("message"), { data: event.data })),
        );
        socket.addEventListener("close", (event) => this.closed(event.code));
        this.dispatchEvent(new Event("open"));
      });
  }

  close(code = 1000, reason = ""): void {
    try {
      this.socket?.close(code === 1006 ? 1001 : code, reason);
    } catch {}
    this.closed(code);
  }

  private closed(code = 1006): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    WorkerSocket.open.delete(this);
    this.dispatchEvent(Object.assign(new Event("close"), { code }));
  }
}

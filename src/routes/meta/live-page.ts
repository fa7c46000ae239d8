import type { Hono } from "hono";
import type { AppEnv } from "../../app-env.ts";
import { securePage } from "./csp.ts";

/**
 * A developer's window on live order status (SPEC §4): paste a token, and the page trades it for a
 * ticket, opens the WebSocket and shows each event as it arrives, next to the latest orders. No
 * framework and nothing loaded from elsewhere; the token stays in this page's memory.
 */
const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>Live order status</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1d2530; }
  h1 { font-size: 1.4rem; margin-bottom: .25rem; }
  p.hint { color: #5b6573; margin-top: 0; }
  form { display: flex; gap: .5rem; }
  input { flex: 1; font: inherit; padding: .45rem .6rem; border: 1px solid #b8c0cc; border-radius: 4px; }
  button { font: inherit; padding: .45rem 1rem; border: 0; border-radius: 4px; background: #1f6feb; color: #fff; cursor: pointer; }
  #state { margin: .75rem 0; font-weight: 600; }
  #state.open { color: #1a7f37; } #state.closed { color: #b42318; }
  table { width: 100%; border-collapse: collapse; margin-top: .5rem; }
  th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e3e7ed; font-variant-numeric: tabular-nums; }
  th { font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; color: #5b6573; }
  td.id { font-family: ui-monospace, monospace; font-size: .85rem; }
  tr.fresh { animation: flash 2s ease-out; }
  @keyframes flash { from { background: #fff3b0; } to { background: transparent; } }
  h2 { font-size: 1.05rem; margin-top: 1.75rem; }
</style>
</head>
<body>
<h1>Live order status</h1>
<p class="hint">Paste a bearer token (for example from <code>npm run token -- --user 1</code>) and watch your orders change.</p>
<form id="connect">
  <input id="token" type="password" placeholder="Bearer token" autocomplete="off" required />
  <button type="submit">Connect</button>
</form>
<div id="state" class="closed">Not connected</div>
<h2>Events</h2>
<table><thead><tr><th>At</th><th>Order</th><th>Status</th><th>Payment</th></tr></thead><tbody id="events"></tbody></table>
<h2>Latest orders</h2>
<table><thead><tr><th>Created</th><th>Order</th><th>Status</th><th>Payment</th><th>Total</th></tr></thead><tbody id="orders"></tbody></table>
<script>
  const $ = (id) => document.getElementById(id);
  let token = "";
  let socket = null;
  let retries = 0;
  let keepAlive = null;

  function setState(text, open) {
    $("state").textContent = text;
    $("state").className = open ? "open" : "closed";
  }

  function row(cells, fresh) {
    const tr = document.createElement("tr");
    if (fresh) tr.className = "fresh";
    for (const [text, cls] of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    return tr;
  }

  async function api(method, path) {
    const res = await fetch(path, { method, headers: { authorization: "Bearer " + token } });
    const body = await res.json();
    if (!res.ok) throw new Error(body.message || "HTTP " + res.status);
    return body.data;
  }

  async function loadOrders() {
    const { orders } = await api("GET", "/api/orders?limit=10");
    $("orders").replaceChildren(...orders.map((o) => {
      const tr = row([[new Date(o.createdAt).toLocaleString()], [o.id, "id"], [o.status], [o.paymentStatus],
        [(o.totalAmount / 100).toFixed(2) + " " + o.currency]]);
      tr.dataset.id = o.id;
      return tr;
    }));
  }

  async function connect() {
    clearInterval(keepAlive);
    setState("Connecting…", false);
    try {
      const { ticket } = await api("POST", "/api/orders/live/ticket");
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + "/api/orders/live?ticket=" + encodeURIComponent(ticket));
    } catch (error) {
      setState("Could not connect: " + error.message, false);
      return;
    }
    socket.onopen = () => {
      retries = 0;
      setState("Connected: waiting for events", true);
      keepAlive = setInterval(() => socket.send("ping"), 30000);
      loadOrders().catch(() => {});
    };
    socket.onmessage = (message) => {
      if (message.data === "pong") return;
      setState("Connected", true);
      const event = JSON.parse(message.data);
      $("events").prepend(row([[new Date(event.at).toLocaleTimeString()], [event.orderId, "id"],
        [event.status], [event.paymentStatus]], true));
      loadOrders().catch(() => {});
    };
    socket.onclose = () => {
      clearInterval(keepAlive);
      const delay = Math.min(30, 2 ** retries++);
      setState("Disconnected: reconnecting in " + delay + " s", false);
      setTimeout(connect, delay * 1000);
    };
  }

  $("connect").addEventListener("submit", (event) => {
    event.preventDefault();
    token = $("token").value.trim().replace(/^Bearer\\s+/i, "");
    if (socket) { socket.onclose = null; socket.close(); }
    connect();
  });
</script>
</body>
</html>`;

export function mountLivePage(app: Hono<AppEnv>) {
  app.get("/live", securePage(page));
}

// A developer's window on live order status (SPEC §4): paste a token, and the page trades it for a
// single-use ticket, opens the WebSocket (browsers cannot set its headers) and shows each event as
// it arrives, next to the latest orders. The token stays in this module's memory.
import { api } from "./api.js";
import { $, money, row, time } from "./dom.js";

let token = "";
let socket = null;
let retries = 0;
let keepAlive = null;
let reconnect = null;

function setState(text, open) {
  $("state").textContent = text;
  $("state").className = `state ${open ? "open" : "closed"}`;
}

async function loadOrders() {
  const { orders } = await api(token, "GET", "/api/orders?limit=10");
  $("orders").replaceChildren(
    ...orders.map((order) =>
      row(
        [
          time(order.createdAt),
          [order.id, "id"],
          order.status,
          order.paymentStatus,
          money(order.totalAmount, order.currency),
        ],
        { dataset: { id: order.id } },
      ),
    ),
  );
}

async function connect() {
  clearInterval(keepAlive);
  setState("Connecting…", false);
  let ticket;
  try {
    ({ ticket } = await api(token, "POST", "/api/orders/live/ticket"));
  } catch (error) {
    setState(`Could not connect: ${error.message}`, false);
    return;
  }
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const current = new WebSocket(
    `${scheme}${location.host}/api/orders/live?ticket=${encodeURIComponent(ticket)}`,
  );
  socket = current;
  current.onopen = () => {
    retries = 0;
    setState("Connected: waiting for events", true);
    // Under a minute of silence, so that no proxy on the way closes an idle socket.
    keepAlive = setInterval(() => current.send("ping"), 30_000);
    loadOrders().catch(() => {});
  };
  current.onmessage = (message) => {
    if (message.data === "pong") return;
    setState("Connected", true);
    const event = JSON.parse(message.data);
    $("events").prepend(
      row(
        [new Date(event.at).toLocaleTimeString(), [event.orderId, "id"], event.status, event.paymentStatus],
        {
          class: "fresh",
          dataset: { order: event.orderId, status: event.status },
        },
      ),
    );
    loadOrders().catch(() => {});
  };
  current.onclose = (event) => {
    clearInterval(keepAlive);
    if (socket !== current) return;
    // 4000: the user opened more sockets than allowed and this, the oldest, was closed. Coming back
    // would close another of theirs, so this page stops; Connect starts it again.
    if (event.code === 4000) {
      setState("Disconnected: a newer connection of this user took this one's place", false);
      return;
    }
    const delay = Math.min(30, 2 ** retries++);
    setState(`Disconnected: reconnecting in ${delay} s`, false);
    reconnect = setTimeout(connect, delay * 1000);
  };
}

$("connect").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token")
    .value.trim()
    .replace(/^Bearer\s+/i, "");
  clearTimeout(reconnect);
  const previous = socket;
  socket = null;
  previous?.close();
  connect();
});

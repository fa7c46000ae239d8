// The strip at the top: what the orders look like in the summary's window, and what is stuck.
import { $, h, money, time } from "./dom.js";

const tile = (label, value, attributes = {}) =>
  h("div", { class: "tile", ...attributes }, h("b", {}, String(value)), h("span", {}, label));

export async function loadSummary(session) {
  const summary = await session.call("GET", "/api/admin/orders/summary");
  const { byStatus, byPaymentStatus } = summary;
  const stuck = (label, value, name) =>
    tile(label, value, { class: value > 0 ? "tile alert" : "tile", dataset: { name } });
  $("summary").replaceChildren(
    ...Object.entries(byStatus).map(([status, count]) =>
      tile(status, count, { dataset: { name: `status.${status}` } }),
    ),
    ...Object.entries(byPaymentStatus).map(([status, count]) =>
      tile(`payment ${status}`, count, { dataset: { name: `payment.${status}` } }),
    ),
    stuck("overdue pending", summary.overduePending, "overduePending"),
    stuck("dead letters", summary.deadLetters, "deadLetters"),
    stuck("outbox backlog", summary.outboxBacklog, "outboxBacklog"),
    ...(summary.revenue.length
      ? summary.revenue.map((total) => tile(`revenue ${total.currency}`, money(total.amount, total.currency)))
      : [tile("revenue", "—")]),
    h(
      "div",
      { class: "window" },
      `Orders created ${time(summary.window.createdFrom)} – ${time(summary.window.createdTo)}`,
    ),
  );
}

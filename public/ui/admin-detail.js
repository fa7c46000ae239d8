// One order as an operator sees it: the order, its items, its status history and payment attempts,
// and the status changes an admin may make from here (the API's allowedStatuses) as buttons.
import { $, h, money, row, time } from "./dom.js";

const badge = (value) => h("span", { class: `badge ${value}` }, value);

function address(value) {
  if (!value || typeof value !== "object") return "—";
  return ["street", "city", "state", "postalCode", "country"]
    .map((key) => value[key])
    .filter(Boolean)
    .join(", ");
}

function table(headings, rows, empty) {
  return h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headings.map((text) => h("th", {}, text)),
      ),
    ),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headings.length }, empty))),
  );
}

/** The form under the buttons: a note for any move; tracking number and carrier for shipping. */
function moveForm(session, order, status) {
  const shipping = status === "shipped";
  const field = (label, name, attributes = {}) =>
    h("label", {}, label, h("input", { name, id: `move-${name}`, autocomplete: "off", ...attributes }));
  const form = h(
    "form",
    { class: "move-form", id: "move-form", dataset: { status } },
    h("strong", {}, `Move to ${status}`),
    shipping ? field("Tracking number", "trackingNumber", { required: true, maxlength: 64 }) : null,
    shipping ? field("Carrier", "carrier", { maxlength: 64 }) : null,
    field("Note", "note", { maxlength: 500 }),
    h("button", { type: "submit" }, shipping ? "Ship" : `Confirm ${status}`),
    h("button", { type: "button", class: "secondary", onclick: () => form.remove() }, "Cancel"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    const body = { status };
    for (const [key, value] of Object.entries(values))
      if (String(value).trim()) body[key] = String(value).trim();
    form.querySelector("button[type=submit]").disabled = true;
    try {
      await session.call("PUT", `/api/orders/${encodeURIComponent(order.id)}/status`, body);
      session.notify(`Order ${order.id} is now ${status}`);
      await showOrder(session, order.id);
      session.refresh();
    } catch {
      form.querySelector("button[type=submit]").disabled = false;
    }
  });
  return form;
}

export async function showOrder(session, id) {
  const { order, history, payments, allowedStatuses } = await session.call(
    "GET",
    `/api/admin/orders/${encodeURIComponent(id)}`,
  );
  const moves = h(
    "div",
    { class: "moves" },
    h("strong", {}, "Change status:"),
    allowedStatuses.length
      ? allowedStatuses.map((status) =>
          h(
            "button",
            {
              type: "button",
              class: status === "cancelled" ? "secondary" : null,
              dataset: { move: status },
              onclick: () => {
                $("move-form")?.remove();
                moves.after(moveForm(session, order, status));
                $("move-form").querySelector("input")?.focus();
              },
            },
            status === "shipped" ? "Ship…" : `Mark ${status}`,
          ),
        )
      : h("span", { class: "hint" }, `none from ${order.status}`),
  );
  $("detail").replaceChildren(
    h("h2", {}, "Order ", h("code", {}, order.id)),
    h(
      "dl",
      {},
      h("dt", {}, "Status"),
      h("dd", { id: "detail-status" }, badge(order.status)),
      h("dt", {}, "Payment"),
      h("dd", {}, badge(order.paymentStatus), ` ${order.paymentMethod}`),
      h("dt", {}, "User"),
      h("dd", {}, String(order.userId)),
      h("dt", {}, "Total"),
      h("dd", {}, money(order.totalAmount, order.currency)),
      h("dt", {}, "Tracking"),
      h(
        "dd",
        { id: "detail-tracking" },
        order.trackingNumber ?? "—",
        order.carrier ? ` (${order.carrier})` : "",
      ),
      h("dt", {}, "Ship to"),
      h("dd", {}, address(order.shippingAddress)),
      h("dt", {}, "Created"),
      h("dd", {}, time(order.createdAt)),
      h("dt", {}, "Updated"),
      h("dd", {}, time(order.updatedAt)),
      h("dt", {}, "Estimated delivery"),
      h("dd", {}, time(order.estimatedDelivery)),
    ),
    moves,
    h("h3", {}, "Items"),
    table(
      ["Product", "Name", "Price", "Quantity", "Total"],
      order.items.map((item) =>
        row([
          [item.productId, "id"],
          item.productName,
          money(item.price, order.currency),
          String(item.quantity),
          money(item.totalPrice, order.currency),
        ]),
      ),
      "No items",
    ),
    h("h3", {}, "Status history"),
    table(
      ["At", "From", "To", "By", "Note"],
      history.map((entry) =>
        row([
          time(entry.at),
          entry.fromStatus ?? "—",
          badge(entry.status),
          entry.actorId === null ? entry.actorRole : `${entry.actorRole} ${entry.actorId}`,
          entry.note ?? "—",
        ]),
      ),
      "No history",
    ),
    h("h3", {}, "Payment attempts"),
    table(
      ["#", "Method", "Status", "Amount", "Reference", "Decline reason", "Created", "Settled"],
      payments.map((payment) =>
        row([
          String(payment.attempt),
          payment.method,
          badge(payment.status),
          money(payment.amount, payment.currency),
          [payment.reference ?? "—", "id"],
          payment.declineReason ?? "—",
          time(payment.createdAt),
          time(payment.settledAt),
        ]),
      ),
      "No payment attempts",
    ),
  );
  $("detail").hidden = false;
}

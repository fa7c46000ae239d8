// Order search: every filter of GET /api/admin/orders, keyset paging (the cursor goes back with the
// filters it was issued for), and a click on an order opens its detail.
import { showOrder } from "./admin-detail.js";
import { query } from "./api.js";
import { $, h, money, row, time } from "./dom.js";

const CHOICES = {
  status: ["pending", "paid", "processing", "shipped", "delivered", "cancelled"],
  paymentStatus: ["pending", "paid", "failed", "refunded"],
  paymentMethod: ["credit_card", "upi", "net_banking", "cash_on_delivery"],
};

const badge = (value) => h("span", { class: `badge ${value}` }, value);

/** A datetime-local value (the browser's time zone) as ISO 8601 UTC; the API judges what is not a date. */
function iso(value) {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}

export function setupSearch(session) {
  for (const [name, values] of Object.entries(CHOICES)) {
    $(name).append(
      ...values.map((value) =>
        h("label", {}, h("input", { type: "checkbox", name, value, id: `${name}-${value}` }), ` ${value}`),
      ),
    );
  }

  // The filters of the shown pages, and the cursors that led to them (the first page has none).
  let filters = {};
  let cursors = [null];
  let next = null;
  let selected = null;

  function readFilters() {
    const form = new FormData($("search"));
    return {
      q: String(form.get("q") ?? "").trim(),
      userId: String(form.get("userId") ?? "").trim(),
      createdFrom: iso(String(form.get("createdFrom") ?? "")),
      createdTo: iso(String(form.get("createdTo") ?? "")),
      status: form.getAll("status"),
      paymentStatus: form.getAll("paymentStatus"),
      paymentMethod: form.getAll("paymentMethod"),
      limit: String(form.get("limit") ?? "20"),
    };
  }

  async function load() {
    const cursor = cursors[cursors.length - 1];
    const page = await session.call("GET", `/api/admin/orders${query({ ...filters, cursor })}`);
    next = page.nextCursor;
    $("orders").replaceChildren(
      ...page.orders.map((order) =>
        row(
          [
            time(order.createdAt),
            [order.id, "id"],
            String(order.userId),
            badge(order.status),
            badge(order.paymentStatus),
            order.paymentMethod,
            money(order.totalAmount, order.currency),
            order.trackingNumber
              ? `${order.trackingNumber}${order.carrier ? ` (${order.carrier})` : ""}`
              : "—",
          ],
          {
            class: order.id === selected ? "selected" : null,
            dataset: { id: order.id },
            onclick: () => open(order.id),
          },
        ),
      ),
    );
    if (!page.orders.length)
      $("orders").append(h("tr", {}, h("td", { colspan: 8 }, "No orders match these filters")));
    $("page-info").textContent =
      `Page ${cursors.length} · ${page.orders.length} order${page.orders.length === 1 ? "" : "s"}`;
    $("next-page").disabled = !next;
    $("previous-page").disabled = cursors.length < 2;
    $("first-page").disabled = cursors.length < 2;
  }

  async function open(id) {
    selected = id;
    for (const tr of $("orders").children) tr.classList.toggle("selected", tr.dataset.id === id);
    await showOrder(session, id);
  }

  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    run().catch(() => {});
  });
  $("search").addEventListener("reset", () => setTimeout(() => run().catch(() => {})));
  $("next-page").addEventListener("click", () => {
    if (!next) return;
    cursors.push(next);
    load().catch(() => cursors.pop());
  });
  $("previous-page").addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    load().catch(() => {});
  });
  $("first-page").addEventListener("click", () => {
    cursors = [null];
    load().catch(() => {});
  });

  /** A new search from the form: the first page; an exact match on `q` opens that order. */
  async function run() {
    filters = readFilters();
    cursors = [null];
    await load();
    const rows = [...$("orders").querySelectorAll("tr[data-id]")];
    if (filters.q && rows.length === 1) await open(rows[0].dataset.id);
  }

  return { run, reload: load };
}

// DOM helpers for the pages: elements are built node by node and text is only ever set as text
// (the CSP forbids HTML sinks: require-trusted-types-for 'script' with no policy).

/**
 * `h("td", { class: "id" }, "text", child)`: attributes (on* handlers as functions, `dataset`
 * as an object, false/null/undefined skipped), then children (strings become text nodes).
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  element.append(
    ...children.flat().filter((child) => child !== null && child !== undefined && child !== false),
  );
  return element;
}

export const $ = (id) => document.getElementById(id);

/** Money in minor units, with its currency (99999 USD → "999.99 USD"). */
export function money(amount, currency) {
  const digits = currency === "JPY" || currency === "KRW" ? 0 : 2;
  return `${(amount / 10 ** digits).toFixed(digits)} ${currency}`;
}

/** An ISO 8601 timestamp in the browser's time zone, or an em dash. */
export function time(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

/** Shows an API error in `box` as the API worded it: the message, then each field detail. */
export function showError(box, error) {
  const details = error?.details ?? [];
  box.replaceChildren(
    ...[
      h("strong", {}, error?.message ?? String(error)),
      error?.code ? h("span", { class: "code" }, ` (${error.status} ${error.code})`) : null,
      details.length
        ? h(
            "ul",
            {},
            details.map((detail) =>
              h("li", {}, h("code", {}, detail.path || "(body)"), `: ${detail.message}`),
            ),
          )
        : null,
    ].filter(Boolean),
  );
  box.hidden = false;
}

export function clearError(box) {
  box.replaceChildren();
  box.hidden = true;
}

/** A table row of text cells; a cell is a string, a node, or [text, className]. */
export function row(cells, attributes = {}) {
  return h(
    "tr",
    attributes,
    cells.map((cell) =>
      Array.isArray(cell) ? h("td", { class: cell[1] }, cell[0] ?? "—") : h("td", {}, cell ?? "—"),
    ),
  );
}

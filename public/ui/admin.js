// The operator console (SPEC §4 "Operators"): wires the token, the summary strip, the order search
// with an order's detail, and the dead letters. Every call goes to the public API with the admin's
// token, which lives in this tab's sessionStorage only; every refusal is shown as the API worded it.

import { loadDeadLetters, setupDeadLetters } from "./admin-dead-letters.js";
import { setupSearch } from "./admin-search.js";
import { loadSummary } from "./admin-summary.js";
import { ApiError, api } from "./api.js";
import { $, clearError, showError } from "./dom.js";

const TOKEN_KEY = "order-service.admin-token";

/** What the views share: the API with the token, and the page's error and notice boxes. */
export const session = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? "",
  async call(method, path, body) {
    try {
      if (!session.token) throw new ApiError(0, { message: "Paste an admin token first" });
      const data = await api(session.token, method, path, body);
      clearError($("error"));
      return data;
    } catch (error) {
      $("notice").hidden = true;
      showError($("error"), error);
      throw error;
    }
  },
  notify(text) {
    $("notice").textContent = text;
    $("notice").hidden = false;
  },
  /** After a change: the summary and the lists show it. */
  refresh() {
    loadSummary(session).catch(() => {});
    search.reload().catch(() => {});
    if (!$("dead-letters-view").hidden) loadDeadLetters(session).catch(() => {});
  },
};

const search = setupSearch(session);
setupDeadLetters(session);

function selectTab(name) {
  for (const tab of ["orders", "dead-letters"]) {
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    $(`${tab}-view`).hidden = tab !== name;
  }
  if (name === "dead-letters") loadDeadLetters(session).catch(() => {});
}
$("tab-orders").addEventListener("click", () => selectTab("orders"));
$("tab-dead-letters").addEventListener("click", () => selectTab("dead-letters"));

function start() {
  $("notice").hidden = true;
  loadSummary(session).catch(() => {});
  search.run().catch(() => {});
}

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  session.token = $("token")
    .value.trim()
    .replace(/^Bearer\s+/i, "");
  sessionStorage.setItem(TOKEN_KEY, session.token);
  $("token").value = "";
  $("token").placeholder = "Admin bearer token (one is in use)";
  start();
});

$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  session.token = "";
  location.reload();
});

if (session.token) {
  $("token").placeholder = "Admin bearer token (one is in use)";
  start();
}

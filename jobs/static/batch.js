// The batch review page: the approver looks through every card, then approves them all
// with the button at the end or its key, a (the same key as for one card). Sent once.
"use strict";

const bulk = document.getElementById("bulk-confirm");

if (bulk) {
  bulk.addEventListener("submit", () => {
    bulk.querySelector("button[type=submit]").disabled = true; // no second approval
  });
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (event.target.closest("input, textarea, select")) return;
    if (event.key === "a" && !bulk.querySelector("button[type=submit]").disabled) {
      event.preventDefault();
      bulk.requestSubmit();
    }
  });
}

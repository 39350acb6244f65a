// The approval page: one key per action on the selected card (j/k move, a approve,
// r reject with a reason, e edit the text), answers shown in place, and cards being
// rendered again polled until their new preview is there. Works without this script too
// (plain form posts).
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const POLL_MS = 1000;
const OPEN = ["rendered", "received", "failed"];
let selected = -1;

const cards = () => Array.from(document.querySelectorAll("#jobs .job"));

function select(index) {
  const all = cards();
  if (!all.length) return;
  index = Math.max(0, Math.min(index, all.length - 1));
  all.forEach((card, i) => card.classList.toggle("selected", i === index));
  selected = index;
  all[index].scrollIntoView({ block: "nearest", behavior: "smooth" });
  all[index].focus({ preventScroll: true });
}

function current() {
  return cards()[selected] || null;
}

function nextOpen(from) {
  const all = cards();
  for (let i = from + 1; i < all.length; i++) if (OPEN.includes(all[i].dataset.state)) return i;
  return from;
}

function show(card, view) {
  card.dataset.state = view.state;
  card.dataset.revision = view.revision;
  card.className = card.className.replace(/\bstate-\S+/, "state-" + view.state);
  const label = { received: "rendering…", queued: "approved" }[view.state] || view.state;
  card.querySelector(".job-state").textContent = label;
  card.querySelector(".revision").textContent = view.revision;
  card.querySelector(".job-error").textContent = view.error || "";
  for (const [name, cls] of [["greeting", "t-greeting"], ["message", "t-message"],
    ["closing", "t-closing"], ["signature", "t-signature"]]) {
    card.querySelector("." + cls).textContent = view.texts[name];
  }
  const img = card.querySelector(".preview img");
  if (view.preview_url && img.getAttribute("src") !== view.preview_url) {
    img.setAttribute("src", view.preview_url);
  }
  if (view.state === "received") poll(card);
}

function say(card, text, bad) {
  const out = card.querySelector(".outcome");
  if (!out) return;
  out.textContent = text;
  out.classList.toggle("error", Boolean(bad));
}

async function poll(card) {
  if (card.dataset.polling) return;
  card.dataset.polling = "1";
  while (card.dataset.state === "received") {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try {
      const response = await fetch(`/staff/jobs/${card.dataset.id}.json`,
        { headers: { Accept: "application/json" } });
      if (response.status === 401) { location.assign("/login?next=/approve"); return; }
      if (response.ok) {
        const view = await response.json();
        if (view.state !== "received") {
          delete card.dataset.polling;
          show(card, view);
          if (view.state === "rendered" && view.revision > 1) {
            say(card, `Revision ${view.revision} rendered: look again.`);
          }
          return;
        }
      }
    } catch (error) { /* the service is away for a moment: poll again */ }
  }
  delete card.dataset.polling;
}

async function submit(form) {
  const card = form.closest(".job");
  const action = form.dataset.action;
  const fields = {};
  for (const [key, value] of new FormData(form)) {
    if (key !== "csrf_token" && key !== "back") fields[key] = value;
  }
  say(card, "…");
  let response, body;
  try {
    response = await fetch(form.action, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json",
        "X-CSRF-Token": csrf },
      body: JSON.stringify(fields),
    });
    body = await response.json().catch(() => ({}));
  } catch (error) {
    say(card, "The service does not answer: " + error.message, true);
    return;
  }
  if (response.status === 401) { location.assign("/login?next=/approve"); return; }
  if (!response.ok) {
    say(card, body.message || `refused (${response.status})`, true);
    return;
  }
  show(card, body);
  if (action === "approve") say(card, "Approved: on the plot queue.");
  else if (action === "reject") say(card, "Rejected: " + fields.reason);
  else if (action === "edit") {
    card.querySelector("details.edit").open = false;
    say(card, `Revision ${body.revision}: rendering…`);
  }
  document.activeElement.blur();
  if (action !== "edit") select(nextOpen(cards().indexOf(card)));
  else select(cards().indexOf(card));
}

function wireForm(form) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit(form);
  });
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit(form);
    } else if (event.key === "Escape") {
      event.preventDefault();
      const details = form.closest("details");
      if (details) details.open = false;
      document.activeElement.blur();
      current() && current().focus({ preventScroll: true });
    }
  });
}

function wire(card) {
  for (const form of card.querySelectorAll("form[data-action]")) wireForm(form);
  card.addEventListener("click", (event) => {
    if (!event.target.closest("input, textarea, button, summary, a")) {
      select(cards().indexOf(card));
    }
  });
  if (card.dataset.state === "received") poll(card);
}

cards().forEach(wire);

// new cards come in while the approver works: ask for those after the newest one shown
const list = document.getElementById("jobs");
const NEW_MS = 3000;

async function fetchNew() {
  const query = new URLSearchParams({ after: list.dataset.newest, shop: list.dataset.shop,
    batch: list.dataset.batch });
  try {
    const response = await fetch(`/approve/new.json?${query}`,
      { headers: { Accept: "application/json" } });
    if (response.status === 401) { location.assign("/login?next=/approve"); return; }
    if (!response.ok) return;
    const body = await response.json();
    list.dataset.newest = body.newest;
    for (const html of body.cards) {
      const holder = document.createElement("div");
      holder.innerHTML = html;
      const card = holder.firstElementChild;
      if (document.getElementById(card.id)) continue;
      list.appendChild(card);
      wire(card);
    }
    if (body.cards.length) {
      document.querySelector("h1 .count").textContent = cards().length;
      document.querySelector(".empty").hidden = true;
      if (selected < 0) select(0);
    }
  } catch (error) { /* the service is away for a moment: ask again */ }
}

setInterval(fetchNew, NEW_MS);

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("input, textarea, select")) return;
  const card = current();
  const key = event.key;
  if (key === "j" || key === "ArrowDown") select(selected + 1);
  else if (key === "k" || key === "ArrowUp") select(selected - 1);
  else if (key === "b") {
    const bulk = document.getElementById("bulk");
    if (bulk) location.assign(bulk.href);
    else return;
  } else if (!card) return;
  else if (key === "a") {
    if (card.dataset.state !== "rendered") { say(card, "Not rendered: nothing to approve yet.", true); }
    else submit(card.querySelector('form[data-action="approve"]'));
  } else if (key === "r") {
    card.querySelector('form[data-action="reject"] input[name="reason"]').focus();
  } else if (key === "e") {
    const details = card.querySelector("details.edit");
    details.open = true;
    details.querySelector("textarea").focus();
  } else return;
  event.preventDefault();
});

const first = cards().findIndex((card) => OPEN.includes(card.dataset.state));
if (first >= 0) select(first);

// The operator page: follows its station over server-sent events, draws the card on the
// plotter with the strokes coloured as they are acknowledged, and sends the buttons'
// commands. Runs a whole shift without a reload: EventSource reconnects by itself, and a
// closed stream (the server restarted, the session ended) is opened again or sent to login.
"use strict";

const root = document.getElementById("station");
const name = root.dataset.station;
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const svg = document.getElementById("card");
const strokesGroup = document.getElementById("strokes");
const SVG_NS = "http://www.w3.org/2000/svg";
const INKS = { "blue-black": "#1f2f5c", black: "#111", blue: "#1d4fd8", red: "#c2261c",
  green: "#17803d", brown: "#6b3e1f", violet: "#6d28d9", purple: "#6d28d9" };

let state = JSON.parse(document.getElementById("initial-state").textContent);
let cardKey = null;     // job:revision:what of the strokes drawn
let polylines = [];     // one per stroke, in plotting order
let doneCount = 0;      // strokes coloured as done
let loading = null;     // the card.json being fetched

const $ = (id) => document.getElementById(id);

function clock(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(r).padStart(2, "0");
}

let feedbackTimer = null;

function feedback(text, bad) {
  const el = $("feedback");
  el.textContent = text;
  el.classList.toggle("bad", Boolean(bad));
  clearTimeout(feedbackTimer);
  feedbackTimer = setTimeout(() => { el.textContent = ""; }, 10000);
}

// ------------------------------------------------------------------ drawing

function setDone(count) {
  count = Math.max(0, Math.min(count, polylines.length));
  if (count < doneCount) {
    for (let i = count; i < doneCount; i++) polylines[i].classList.remove("done");
  } else {
    for (let i = doneCount; i < count; i++) polylines[i].classList.add("done");
  }
  doneCount = count;
}

function drawCard(card) {
  svg.setAttribute("viewBox", `0 0 ${card.width_mm} ${card.height_mm}`);
  $("paper").setAttribute("width", card.width_mm);
  $("paper").setAttribute("height", card.height_mm);
  svg.style.setProperty("--ink-colour", INKS[card.ink] || INKS["blue-black"]);
  const fragment = document.createDocumentFragment();
  polylines = card.strokes.map((points) => {
    const line = document.createElementNS(SVG_NS, "polyline");
    const pts = points.length === 1 ? [points[0], [points[0][0] + 0.05, points[0][1]]] : points;
    line.setAttribute("points", pts.map((p) => p[0] + "," + p[1]).join(" "));
    fragment.appendChild(line);
    return line;
  });
  strokesGroup.replaceChildren(fragment);
  doneCount = 0;
  // what is drawn, for whoever reads the page (the browser test): the card and its counts
  svg.dataset.job = card.job_id + ":" + card.what;
  svg.dataset.strokes = String(polylines.length);
  svg.dataset.done = "0";
}

function clearCard() {
  strokesGroup.replaceChildren();
  polylines = [];
  doneCount = 0;
  svg.dataset.job = "";
  svg.dataset.strokes = "0";
  svg.dataset.done = "0";
}

async function loadCard(key, drawn, what) {
  const url = `/station/${encodeURIComponent(name)}/card.json?job=${encodeURIComponent(drawn.id)}` +
    `&what=${what}&rev=${drawn.revision}`;
  loading = key;
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`card ${drawn.id}: ${response.status}`);
    const card = await response.json();
    if (loading !== key) return; // another card came meanwhile
    drawCard(card);
    cardKey = key;
    showProgress(state);
  } catch (error) {
    if (loading === key) cardKey = null; // try again with the next state
  } finally {
    if (loading === key) loading = null;
  }
}

function showProgress(s) {
  const p = s.progress || {};
  const finished = p.outcome === "plotted";
  setDone(finished ? polylines.length : (p.strokes_done || 0));
  svg.dataset.done = String(doneCount);
  const pen = $("pen");
  if (p.pen && !p.outcome) {
    pen.setAttribute("cx", p.pen[0]);
    pen.setAttribute("cy", p.pen[1]);
    pen.setAttribute("visibility", "visible");
  } else {
    pen.setAttribute("visibility", "hidden");
  }
}

// ------------------------------------------------------------------ the page

function cardLine(card, withState) {
  const li = document.createElement("li");
  const who = card.recipient || card.id;
  li.textContent = `${who} · ${card.shop} · ${card.card}` +
    (card.ink !== "blue-black" ? ` · ink ${card.ink}` : "") +
    (card.plot_seconds ? ` · ${clock(card.plot_seconds)}` : "") + " ";
  const tags = [];
  if (card.reprint) tags.push(["reprint", "reprint"]);
  if (card.envelope) tags.push(["envelope", ""]);
  if (card.coupon) tags.push(["coupon", ""]);
  if (withState) tags.push([card.state, card.state]);
  for (const [text, cls] of tags) {
    const tag = document.createElement("span");
    tag.className = "badge tag " + cls;
    tag.textContent = text;
    li.appendChild(tag);
  }
  li.dataset.id = card.id;
  return li;
}

// the card a button is for: spoiled is for the newest interrupted card, which the
// station may have left behind for the next one; the others for the card on it
function jobFor(command) {
  if (command === "shipped") return null; // every plotted card of the station
  if (command === "spoiled") return state.last_interrupted_id || null;
  return state.current_job_id || null;
}

function enable(command, on) {
  const button = $("btn-" + command);
  button.disabled = !on;
  button.form.querySelector('input[name="job"]').value = jobFor(command) || "";
}

function apply(next) {
  state = next;
  const s = next, p = s.progress || {};
  const status = $("status");
  status.textContent = s.status.replace("_", " ");
  status.className = "badge big status-" + s.status;
  root.dataset.status = s.status;
  $("message").textContent = s.message || "";

  const outcome = $("outcome");
  if (p.outcome) {
    const penDown = /pen may still be down|not confirmed/.test(p.reason || "");
    outcome.textContent = p.outcome === "plotted" ? "PLOTTED"
      : "INTERRUPTED · " + (penDown ? "CHECK THE PEN" : "pen up");
    outcome.className = "outcome-badge " + p.outcome;
    outcome.hidden = false;
  } else {
    outcome.hidden = true;
  }
  root.dataset.outcome = p.outcome || "";

  const total = p.strokes_total || 0;
  const done = p.outcome === "plotted" ? total : (p.strokes_done || 0);
  $("strokes-count").textContent = total ? `${done} / ${total}` : "–";
  const share = p.outcome === "plotted" ? 1 : (p.total ? (p.acked || 0) / p.total : 0);
  $("bar-fill").style.width = (share * 100).toFixed(1) + "%";
  $("elapsed").textContent = clock(p.elapsed_s);
  $("remaining").textContent = p.outcome === "plotted" ? clock(0)
    : (p.outcome ? "–" : clock(p.remaining_s));
  $("pen-info").textContent = s.pen_colour
    ? `${s.pen_colour}, ${s.ink_used_m} of ${s.ink_capacity_m} m` : "–";

  const drawn = s.drawn;
  $("card-info").textContent = drawn
    ? `On the plotter: ${s.drawn_what === "envelope" ? "envelope" : "card"} for ` +
      `${drawn.recipient || "—"} · ` +
      `${drawn.shop} · ${drawn.card} · ${drawn.id}` + (drawn.reprint ? " · REPRINT" : "")
    : "No card on the plotter.";
  const current = s.current;
  $("up-next").textContent = current && (!drawn || current.id !== drawn.id)
    ? `Next to load: ${current.recipient || "—"} · ${current.shop} · ${current.card} · ${current.id}` +
      (current.reprint ? " · REPRINT" : "") : "";
  const interrupted = s.last_interrupted;
  $("interrupted-note").textContent = interrupted && s.status !== "interrupted"
    ? `Interrupted: ${interrupted.recipient || "—"} · ${interrupted.id}. Take that card out ` +
      "and press Spoiled: reprint (S)." : "";
  if (!drawn) {
    cardKey = null;
    loading = null;
    clearCard();
  } else if (s.card_key !== cardKey && s.card_key !== loading) {
    clearCard();
    loadCard(s.card_key, drawn, s.drawn_what);
  }
  if (cardKey === s.card_key) showProgress(s);

  enable("load_done", s.status === "waiting_load");
  enable("pause", s.status === "plotting");
  enable("resume", s.status === "paused");
  $("btn-pause").hidden = s.status === "paused";
  $("btn-resume").hidden = s.status !== "paused";
  enable("abort", ["plotting", "paused", "waiting_load"].includes(s.status));
  enable("spoiled", Boolean(s.last_interrupted_id));
  enable("pen_changed", s.online && s.status !== "plotting" && s.status !== "paused");
  enable("shipped", s.to_ship > 0);
  $("btn-shipped").firstChild.textContent = s.to_ship
    ? `${s.to_ship} plotted card${s.to_ship === 1 ? "" : "s"} posted ` : "Plotted cards posted ";

  $("queue-count").textContent = s.queue_count
    ? `(${s.queue_count} card${s.queue_count === 1 ? "" : "s"}, about ${clock(s.queue_seconds)})` : "(empty)";
  $("queue").replaceChildren(...s.queue.map((card) => cardLine(card, false)));
  $("recent").replaceChildren(...s.recent.map((card) => cardLine(card, true)));
}

// ------------------------------------------------------------------ commands

async function send(command) {
  const button = $("btn-" + command);
  if (!button || button.disabled || button.hidden) {
    feedback(`${button ? button.textContent.trim().split(/\s+/)[0] : command}: not now`, true);
    return;
  }
  feedback("…");
  try {
    const response = await fetch(`/station/${encodeURIComponent(name)}/commands/${command}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json",
        "X-CSRF-Token": csrf },
      body: JSON.stringify({ job: jobFor(command) }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.status === 401) { location.assign(loginUrl()); return; }
    feedback(body.message || `${response.status}`, !response.ok);
  } catch (error) {
    feedback("The service does not answer: " + error.message, true);
  }
}

for (const form of document.querySelectorAll("form[data-command]")) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(form.dataset.command);
  });
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("input, textarea, select")) return;
  const key = event.key.toLowerCase();
  let command = null;
  if (key === "enter" || key === "l") command = "load_done";
  else if (key === " ") command = state.status === "paused" ? "resume" : "pause";
  else if (key === "a") command = "abort";
  else if (key === "s") command = "spoiled";
  else if (key === "p") command = "pen_changed";
  else if (key === "h") command = "shipped";
  else if (key === "e" || key === "c") {
    // the run's label (E) or coupon (C) sheet, in a tab of its own to print from
    event.preventDefault();
    window.open($(key === "e" ? "labels-link" : "coupons-link").href, "_blank", "noopener");
    return;
  }
  if (command) {
    event.preventDefault();
    send(command);
  }
});

// ------------------------------------------------------------------ live updates

function loginUrl() {
  return "/login?next=" + encodeURIComponent(location.pathname);
}

let downTimer = null;

function setConnection(live) {
  // the stream is renewed every minute: only a gap that lasts is shown
  clearTimeout(downTimer);
  const show = (on) => {
    const conn = $("conn");
    conn.textContent = on ? "live" : "reconnecting…";
    conn.className = "conn " + (on ? "live" : "down");
    root.dataset.live = on ? "1" : "0";
  };
  if (live) show(true);
  else downTimer = setTimeout(() => show(false), 3000);
}

function connect() {
  const source = new EventSource(`/station/${encodeURIComponent(name)}/events`);
  source.addEventListener("open", () => setConnection(true));
  source.addEventListener("state", (event) => apply(JSON.parse(event.data)));
  source.addEventListener("logout", () => { source.close(); location.assign(loginUrl()); });
  source.addEventListener("error", () => {
    setConnection(false);
    if (source.readyState === EventSource.CLOSED) {
      // the browser gave up (an error answer): find out why, then try again
      setTimeout(async () => {
        try {
          const response = await fetch(`/station/${encodeURIComponent(name)}/state.json`,
            { headers: { Accept: "application/json" } });
          if (response.status === 401) { location.assign(loginUrl()); return; }
        } catch (error) { /* the service is away: keep trying */ }
        connect();
      }, 3000);
    }
  });
}

apply(state);
connect();

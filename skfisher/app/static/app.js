// skfisher labeling page: label a round with clicks and number keys, submit,
// watch the training, see when to stop. Everything goes through the server's
// JSON API with the page's token; nothing is loaded from elsewhere.
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
const $ = (id) => document.getElementById(id);
let S = null;          // the server's state (page_state + job)
let marks = {};        // path -> {kind: "label"|"skip"|"unsure", label}
let history = [];      // [path, previous mark] for undo
let cursor = 0;
let lastJob = null;

function withToken(url) { return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token); }

async function api(path, body) {
  const opts = { headers: { "X-Skfisher-Token": token } };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const response = await fetch(path, opts);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function say(text, ok) {
  const box = $("message");
  box.textContent = text;
  box.className = ok ? "ok" : "";
  box.hidden = !text;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

const openItems = () => (S ? S.items.filter((it) => !it.label) : []);
const keyOf = (i) => (i < 9 ? String(i + 1) : i === 9 ? "0" : "");

function setState(state) {
  S = state;
  marks = {};
  history = [];
  cursor = 0;
  render();
  if (state.job) showJob(state.job);
}

function render() {
  $("project").textContent = S.project.split(/[\\/]/).pop();
  $("project").title = S.project;
  const classes = $("classes");
  classes.replaceChildren(...S.classes.map((c, i) =>
    el("button", { "data-class": c, onclick: () => give({ kind: "label", label: c }) }, c + " ", el("kbd", {}, keyOf(i)))));
  const items = openItems();
  $("round").textContent = S.round ? `Round ${S.round}` : "No round yet";
  const done = items.filter((it) => marks[it.path]).length;
  const labeled = items.filter((it) => marks[it.path] && marks[it.path].kind === "label").length;
  $("progress").textContent = items.length
    ? `${done} / ${items.length} (${labeled} labeled, ${done - labeled} skipped or unsure)`
    : "nothing to label in this round";
  $("submit").disabled = !labeled;
  $("query").hidden = items.length > 0 || Boolean(S.job && (S.job.running || S.job.queued));
  $("grid").replaceChildren(...items.map((it, k) => card(it, k)));
  $("review-title").hidden = !S.review.length && !S.items.some((it) => it.label);
  $("review").replaceChildren(...S.items.filter((it) => it.label).concat(S.review.filter((it) => it.label)).map((it) => card(it, -1)));
  renderStatus();
}

function card(it, k) {
  const mark = marks[it.path];
  const cls = ["card", k === cursor ? "selected" : "", it.label ? "taught" : "", mark ? (mark.kind === "label" ? "labeled" : mark.kind) : ""];
  const text = it.label ? `taught: ${it.label}` : mark ? (mark.kind === "label" ? mark.label : mark.kind) : "";
  const guesses = it.guesses.map(([c, p]) => el("span", {
    class: "guess", title: "click to label as " + c,
    onclick: (e) => { if (k < 0) return; e.stopPropagation(); cursor = k; give({ kind: "label", label: c }); },
  }, `${c} ${Math.round(p * 100)}%`));
  return el("div", { class: cls.join(" "), "data-path": it.path, onclick: () => { if (k >= 0) { cursor = k; render(); } } },
    el("img", { src: withToken(it.image), alt: it.name, loading: "lazy" }),
    el("div", { class: "name", title: it.path }, it.name),
    el("div", { class: "mark" }, text),
    el("div", { class: "guesses" }, ...guesses));
}

function give(mark) {
  const items = openItems();
  if (!items.length) return;
  const path = items[cursor].path;
  history.push([path, marks[path], cursor]);
  marks[path] = mark;
  const next = items.findIndex((it, k) => k > cursor && !marks[it.path]);
  const first = items.findIndex((it) => !marks[it.path]);
  cursor = next >= 0 ? next : first >= 0 ? first : cursor;
  render();
}

function undo() {
  const last = history.pop();
  if (!last) return;
  const [path, previous, at] = last;
  if (previous) marks[path] = previous; else delete marks[path];
  cursor = at;
  render();
}

async function submit() {
  const labels = {};
  for (const [path, m] of Object.entries(marks)) if (m.kind === "label") labels[path] = m.label;
  $("submit").disabled = true;
  try {
    const out = await api("api/submit", { round: S.round, stamp: S.stamp, labels });
    const t = out.taught;
    say(`Round ${S.round}: taught ${t.new} new label(s)` + (t.changed ? `, changed ${t.changed}` : "") +
      `. Training and the next query run in the background; the next images appear when they are ready.`, true);
    setState({ ...out, job: S.job });
    poll();
  } catch (e) {
    say(e.message);
    render();
  }
}

async function addClass(event) {
  event.preventDefault();
  const name = $("add-class-name").value;
  try {
    const out = await api("api/classes", { name });
    const kept = marks;
    setState({ ...out, job: S.job });
    marks = kept;
    $("add-class-name").value = "";
    say(`Added class ${name.trim()}; the next rounds' models predict it.`, true);
    render();
  } catch (e) {
    say(e.message);
  }
}

function showJob(job) {
  S.job = job;
  const bar = $("job-progress");
  let text = job.running ? `Background job: ${job.phase}` : "Idle";
  if (job.running && job.max_epochs) {
    text += ` (epoch ${job.epoch || 0} / ${job.max_epochs})`;
    bar.max = job.max_epochs;
    bar.value = job.epoch || 0;
    bar.hidden = false;
  } else bar.hidden = true;
  if (job.queued) text += "; a query is queued after it";
  if (!job.running && job.seconds) text += ` (the last job took ${job.seconds.toFixed(1)} s)`;
  $("job-phase").textContent = text;
  if (job.error && (!lastJob || lastJob.error !== job.error)) say("The background job failed: " + job.error);
  lastJob = job;
  $("query").hidden = openItems().length > 0 || job.running || job.queued;
  renderStatus();
}

async function poll() {
  try {
    const job = await api("api/job");
    const unsent = Object.keys(marks).length > 0;
    if (job.stamp !== S.stamp) {
      if (!unsent) setState({ ...(await api("api/state")), job });
      else say("The project changed (a new round, another tab or a command). Submit what you have, or reload the page.");
    }
    showJob(job);
  } catch (e) {
    $("job-phase").textContent = "The server does not answer: " + e.message;
  }
}

function table(node, header, rows) {
  node.replaceChildren(el("tr", {}, ...header.map((h) => el("th", {}, h))),
    ...rows.map((r) => el("tr", {}, ...r.map((v) => el("td", {}, v === null || v === undefined ? "" : String(v))))));
}

function renderStatus() {
  if (!S) return;
  const total = Object.values(S.counts).reduce((a, b) => a + b, 0);
  table($("counts"), ["class", "labels"], Object.entries(S.counts).concat([["all", total]]));
  const job = S.job || { learning_curve: [], agreement: [], advice: "" };
  const curve = job.learning_curve || [];
  drawCurve(curve.filter((p) => p.accuracy !== null && p.accuracy !== undefined));
  $("advice").textContent = job.advice || "";
  table($("agreement"), ["rounds", "kappa", "same prediction", "images"],
    (job.agreement || []).map((a) => [`${a.previous} → ${a.round}`, a.kappa.toFixed(3), (100 * a.agree).toFixed(1) + " %", a.n_sample]));
  const sec = (v) => (v === null || v === undefined ? "" : v.toFixed(2));
  table($("rounds"), ["round", "strategy", "labels before", "queried", "waiting", "training s", "query s"],
    S.rounds.map((r) => [r.round, r.strategy, r.n_labels, r.n_queried, r.n_waiting, sec(r.fit_seconds), sec(r.query_seconds)]));
}

function drawCurve(points) {
  const box = $("curve");
  if (!points.length) { box.textContent = "Appears once each class has a few labels."; return; }
  const W = 420, H = 220, P = 36;
  const xs = points.map((p) => p.n_labels), lo = Math.min(...xs), hi = Math.max(...xs, lo + 1);
  const x = (v) => P + ((v - lo) / (hi - lo)) * (W - 2 * P), y = (v) => H - P - v * (H - 2 * P);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", W); svg.setAttribute("height", H);
  const add = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
  };
  add("line", { x1: P, y1: y(0), x2: W - P, y2: y(0), stroke: "#999" });
  add("line", { x1: P, y1: y(0), x2: P, y2: y(1), stroke: "#999" });
  add("text", { x: 2, y: y(1) + 4, "font-size": 10 }, "1.0");
  add("text", { x: 2, y: y(0) + 4, "font-size": 10 }, "0.0");
  add("text", { x: W / 2 - 40, y: H - 6, "font-size": 11 }, "labeled images");
  add("polyline", { points: points.map((p) => `${x(p.n_labels)},${y(p.accuracy)}`).join(" "), fill: "none", stroke: "#2457c5", "stroke-width": 2 });
  for (const p of points) {
    add("circle", { cx: x(p.n_labels), cy: y(p.accuracy), r: 3.5, fill: "#2457c5" });
    add("text", { x: x(p.n_labels) - 12, y: y(p.accuracy) - 8, "font-size": 10 }, p.accuracy.toFixed(2));
    add("text", { x: x(p.n_labels) - 6, y: H - P + 14, "font-size": 10 }, String(p.n_labels));
  }
  box.replaceChildren(svg);
}

document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" || e.ctrlKey || e.metaKey || e.altKey || !S) return;
  const items = openItems();
  if (/^[0-9]$/.test(e.key)) {
    const i = e.key === "0" ? 9 : Number(e.key) - 1;
    if (i < S.classes.length) give({ kind: "label", label: S.classes[i] });
  } else if (e.key === "s") give({ kind: "skip" });
  else if (e.key === "u") give({ kind: "unsure" });
  else if (e.key === "z" || e.key === "Backspace") undo();
  else if (e.key === "ArrowRight" || e.key === "ArrowDown") { cursor = Math.min(cursor + 1, items.length - 1); render(); }
  else if (e.key === "ArrowLeft" || e.key === "ArrowUp") { cursor = Math.max(cursor - 1, 0); render(); }
  else return;
  e.preventDefault();
});
$("skip").onclick = () => give({ kind: "skip" });
$("unsure").onclick = () => give({ kind: "unsure" });
$("undo").onclick = undo;
$("submit").onclick = submit;
$("query").onclick = async () => {
  try { await api("api/query", {}); showJob(await api("api/job")); } catch (e) { say(e.message); }
};
$("add-class-form").addEventListener("submit", addClass);
for (const tab of document.querySelectorAll(".tab")) {
  tab.onclick = () => {
    for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
    $("view-label").hidden = tab.dataset.view !== "label";
    $("view-status").hidden = tab.dataset.view !== "status";
  };
}
api("api/state").then(setState).catch((e) => say(e.message));
setInterval(poll, 1000);

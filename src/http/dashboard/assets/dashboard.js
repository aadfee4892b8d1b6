// The taskhub dashboard: one page, views chosen by the URL's hash, every value read from the
// JSON endpoints under /dashboard/api/ (docs/dashboard.md).
//
// Safety: every value from storage becomes a text node (el() and textContent); nothing here
// assigns innerHTML, so ids, outputs and event names holding markup stay inert. The key, when
// the server has one, lives in sessionStorage and travels in the x-functions-key header only.
"use strict";

const KEY_STORE = "taskhub.dashboard.key";
const main = document.getElementById("main");
let timers = [];   // the current view's refresh timers, cleared on navigation
let generation = 0; // bumped per navigation, so late answers of a left view are dropped

// ---- DOM helpers --------------------------------------------------------------------------

// el("td", {class: "x", onclick: f}, "text", node…): strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "style") Object.assign(node.style, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

function time(ms) {
  if (ms === null || ms === undefined) return "";
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}

function duration(ms) {
  if (ms === null || ms === undefined) return "";
  const a = Math.abs(ms), sign = ms < 0 ? "-" : "";
  if (a < 1000) return `${sign}${a} ms`;
  if (a < 60000) return `${sign}${(a / 1000).toFixed(1)} s`;
  if (a < 3600000) return `${sign}${Math.floor(a / 60000)} min ${Math.floor(a / 1000) % 60} s`;
  return `${sign}${Math.floor(a / 3600000)} h ${Math.floor(a / 60000) % 60} min`;
}

// JSON text pretty-printed when it parses; as it is otherwise.
function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (_) { return text; }
}

function link(hash, text) { return el("a", { href: hash }, text); }
function instanceLink(id) { return link("#/instance/" + encodeURIComponent(id), id); }

function table(headers, rows, attrs) {
  return el("table", attrs || {},
    el("thead", {}, el("tr", {}, headers.map(h => el("th", {}, h)))),
    el("tbody", {}, rows.map(r => el("tr", {}, r.map(c => el("td", {}, c))))));
}

function section(title, ...children) {
  return el("section", {}, el("h2", {}, title), ...children);
}

// ---- the API ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options) {
  const headers = Object.assign({}, (options && options.headers) || {});
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers["x-functions-key"] = key;
  const response = await fetch("/dashboard/api/" + path, Object.assign({}, options, { headers }));
  const text = await response.text();
  let body = null;
  if (text) { try { body = JSON.parse(text); } catch (_) { body = text; } }
  if (response.status === 401) { askForKey(key ? "That key was refused." : ""); }
  if (!response.ok) {
    const message = body && (body.ExceptionMessage || body.Message) || `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

// An action: a POST with a JSON body (the server refuses any other content type).
function post(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body === undefined ? {} : body),
  });
}

function askForKey(message) {
  const form = document.getElementById("key-form");
  form.hidden = false;
  document.getElementById("key-error").textContent = message;
  document.getElementById("key-input").focus();
}

document.getElementById("key-form").addEventListener("submit", e => {
  e.preventDefault();
  sessionStorage.setItem(KEY_STORE, document.getElementById("key-input").value);
  document.getElementById("key-input").value = "";
  document.getElementById("key-form").hidden = true;
  route();
});

function showError(where, e) {
  where.append(el("p", { class: "error" }, e.message || String(e)));
}

// Runs `load` now and every `ms`, while this view is shown.
function every(ms, load) {
  const g = generation;
  const tick = async () => {
    if (g !== generation) return;
    try { await load(); document.getElementById("refresh-state").textContent = "updated " + new Date().toLocaleTimeString(); }
    catch (e) { document.getElementById("refresh-state").textContent = "refresh failed: " + e.message; }
  };
  tick();
  timers.push(setInterval(tick, ms));
}

// ---- charts (uPlot) -----------------------------------------------------------------------

// A bar chart of [[ms, n1, n2…], …] with one series per label, stacked: uPlot draws bars of
// the running totals, the largest first, so each series shows as its own band; the legend
// shows each series' own count.
function barChart(where, buckets, labels, colors, bucketMs) {
  clear(where);
  if (!buckets.length) { where.append(el("p", { class: "muted" }, "nothing in this range")); return; }
  const xs = buckets.map(b => b[0] / 1000);
  const own = labels.map((_, i) => buckets.map(b => b[i + 1]));
  const totals = own.map((_, i) => buckets.map(b => b.slice(1, i + 2).reduce((a, n) => a + n, 0)));
  const order = labels.map((_, i) => labels.length - 1 - i);
  const data = [xs, ...order.map(i => totals[i])];
  const bars = uPlot.paths.bars({ size: [0.9, 40] });
  const width = Math.max(320, Math.min(where.clientWidth || 900, 1200));
  new uPlot({
    width, height: 180,
    // The x range spans whole buckets, so that a single bar still has an axis of its width.
    scales: {
      x: { time: true, range: () => [xs[0] - bucketMs / 2000, xs[xs.length - 1] + bucketMs / 2000] },
      y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] },
    },
    series: [{}, ...order.map(i => ({
      label: labels[i], stroke: colors[i], fill: colors[i] + "cc", paths: bars, points: { show: false },
      value: (u, v, si, di) => di === null || di === undefined ? "-" : own[i][di],
    }))],
    axes: [{}, { size: 50 }],
    legend: { show: labels.length > 1 },
  }, data, where);
}

// ---- virtual rows: large tables render only the rows in view ---------------------------------

// A scrolling box of `count` rows of `rowHeight` px; renderRow(i) makes the node of row i.
function virtualRows(count, rowHeight, maxHeight, renderRow, attrs) {
  const box = el("div", Object.assign({ class: "vbox" }, attrs || {}));
  box.style.height = Math.min(maxHeight, count * rowHeight + 2) + "px";
  const spacer = el("div", { class: "vspacer" });
  spacer.style.height = count * rowHeight + "px";
  box.append(spacer);
  let shown = [-1, -1];
  const paint = () => {
    const first = Math.max(0, Math.floor(box.scrollTop / rowHeight) - 10);
    const last = Math.min(count, Math.ceil((box.scrollTop + box.clientHeight) / rowHeight) + 10);
    if (first === shown[0] && last === shown[1]) return;
    shown = [first, last];
    clear(spacer);
    for (let i = first; i < last; i++) {
      const row = renderRow(i);
      row.style.position = "absolute";
      row.style.top = i * rowHeight + "px";
      row.style.height = rowHeight + "px";
      spacer.append(row);
    }
  };
  box.addEventListener("scroll", () => requestAnimationFrame(paint));
  // Painted once in the document (it needs the box's height); before that, the first rows.
  requestAnimationFrame(paint);
  shown = [0, Math.min(count, Math.ceil(maxHeight / rowHeight) + 10)];
  for (let i = shown[0]; i < shown[1]; i++) {
    const row = renderRow(i);
    row.style.position = "absolute"; row.style.top = i * rowHeight + "px"; row.style.height = rowHeight + "px";
    spacer.append(row);
  }
  return box;
}

// ---- views --------------------------------------------------------------------------------

const STATUS_COLORS = {
  Running: "#2f6fde", Completed: "#2e9e4f", Failed: "#d0312d", Terminated: "#8a5a00",
  Pending: "#777777", Suspended: "#a35bd6", ContinuedAsNew: "#1b9aaa", Canceled: "#555555",
};

function statusBadge(s) { return el("span", { class: "badge", dataset: { status: s } }, s); }

async function viewOverview() {
  const queues = el("div"), counts = el("div"), chart = el("div", { class: "chart" });
  main.append(
    section("Queues and partitions", queues),
    section("Instances", counts),
    section("Finished per minute, last 15 minutes", chart));
  every(5000, async () => {
    const o = await api("overview");
    document.getElementById("hub-name").textContent = o.hub;
    const byPartition = new Map(o.partitions.map(p => [p.partition, p]));
    clear(queues).append(
      el("div", { class: "cards" },
        card("Work items", o.workItems.length, o.workItems.oldest_age_ms !== null ? "oldest " + duration(o.workItems.oldest_age_ms) : "none visible"),
        card("Control messages", o.controlQueues.reduce((n, q) => n + q.length, 0), o.partitionCount + " partitions"),
        card("Workers", o.currentWorkers, "holding partitions"),
        card("Poison", o.poisonCount === null ? "?" : o.poisonCount, link("#/poison", "records"), o.poisonCount > 0 ? "warn" : "")),
      table(["Partition", "Messages", "Oldest visible", "Owner", "Lease expires", "Draining"],
        o.controlQueues.map(q => {
          const p = byPartition.get(q.name) || {};
          return [q.name, q.length, q.oldest_age_ms === null ? "-" : duration(q.oldest_age_ms),
            p.owner || "-", p.expires_at ? (p.expired ? "expired " : "") + p.expires_at : "-", p.draining ? "yes" : "no"];
        }), { id: "overview-partitions" }));
  });
  every(30000, async () => {
    const [c, t] = await Promise.all([api("counts"), api("throughput?minutes=15")]);
    const statusRows = Object.entries(c.by_status).map(([s, n]) =>
      [statusBadge(s), link("#/instances?status=" + encodeURIComponent(s), String(n))]);
    const nameRows = Object.entries(c.by_name).sort((a, b) => b[1] - a[1]).slice(0, 50).map(([name, n]) =>
      [name, link("#/instances?name=" + encodeURIComponent(name), String(n))]);
    clear(counts).append(el("p", {}, `${c.total} instances`),
      el("div", { class: "columns" },
        table(["Status", "Instances"], statusRows, { id: "counts-by-status" }),
        table(["Orchestrator", "Instances"], nameRows, { id: "counts-by-name" })));
    barChart(chart, t.buckets, ["completed", "failed", "terminated"], ["#2e9e4f", "#d0312d", "#8a5a00"], t.bucketMs);
  });
}

function card(title, value, note, kind) {
  return el("div", { class: "card " + (kind || "") }, el("div", { class: "muted" }, title),
    el("div", { class: "big" }, String(value)), el("div", { class: "muted" }, note));
}

const FILTERS = ["status", "name", "prefix", "from", "to", "tag"];

function viewInstances(params) {
  const form = el("form", { class: "filters", id: "instance-filters" });
  for (const f of FILTERS) {
    const input = el("input", { name: f, value: params.get(f) || "",
      placeholder: { status: "Running,Failed", tag: "key=value", from: "2024-05-01T10:00:00Z", to: "RFC 3339" }[f] || "" });
    form.append(el("label", {}, f + " ", input));
  }
  form.append(el("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", e => {
    e.preventDefault();
    const q = new URLSearchParams();
    for (const f of FILTERS) { const v = form.elements[f].value.trim(); if (v) q.set(f, v); }
    location.hash = "#/instances?" + q.toString();
  });
  const chart = el("div", { class: "chart" }), note = el("p", { class: "muted" });
  const body = el("tbody"), more = el("button", { type: "button", id: "load-more" }, "Load more");
  const status = el("p", { class: "muted", id: "list-status" });
  const columns = [["instanceId", "Instance"], ["name", "Name"], ["status", "Status"],
    ["createdTime", "Created"], ["lastUpdatedTime", "Last updated"], ["completedTime", "Completed"]];
  let rows = [], next = null, sort = null;
  const head = el("tr", {}, columns.map(([k, label]) => el("th", {
    class: "sortable", onclick: () => { sort = sort && sort[0] === k ? [k, -sort[1]] : [k, 1]; paint(); },
  }, label)));
  const paint = () => {
    const shown = rows.slice();
    if (sort) shown.sort((a, b) => ((a[sort[0]] ?? "") > (b[sort[0]] ?? "") ? 1 : (a[sort[0]] ?? "") < (b[sort[0]] ?? "") ? -1 : 0) * sort[1]);
    clear(body).append(...shown.map(r => el("tr", { dataset: { instanceId: r.instanceId } },
      el("td", {}, instanceLink(r.instanceId)), el("td", {}, r.name), el("td", {}, statusBadge(r.status)),
      el("td", {}, time(r.createdTime)), el("td", {}, time(r.lastUpdatedTime)), el("td", {}, time(r.completedTime)))));
    status.textContent = `${rows.length} shown` + (next ? " (more in the table)" : "");
    more.hidden = !next;
  };
  const filterQuery = new URLSearchParams();
  for (const f of FILTERS) if (params.get(f)) filterQuery.set(f, params.get(f));
  const load = async () => {
    const q = new URLSearchParams(filterQuery); q.set("top", "50");
    if (next) q.set("continuation", next);
    try {
      const page = await api("instances?" + q.toString());
      rows = rows.concat(page.instances); next = page.continuation; paint();
    } catch (e) { showError(status, e); }
  };
  more.addEventListener("click", load);
  main.append(section("Instances", form, el("table", { id: "instance-list" }, el("thead", {}, head), body), status, more),
    section("Starts", chart, note));
  load();
  api("starts?" + filterQuery.toString()).then(h => {
    barChart(chart, h.buckets, ["started"], ["#2f6fde"], h.bucketMs);
    note.textContent = `${h.rows} instances, ${duration(h.bucketMs)} per bar` + (h.complete ? "" : " (the first ones read only)");
  }).catch(e => showError(note, e));
}

async function viewInstance(id) {
  const head = el("div"), values = el("div"), actions = el("div", { id: "actions" });
  const result = el("p", { id: "action-result", role: "status" });
  const timeline = el("div", { id: "timeline" }), history = el("div", { id: "history" });
  main.append(el("h1", { id: "instance-id" }, id), head, section("Timeline", timeline),
    section("Actions", actions, result), values, section("History", history));
  const path = "instances/" + encodeURIComponent(id);
  try {
    const s = await api(path);
    clear(head).append(table(["Status", "Name", "Version", "Created", "Last updated", "Completed", "Execution"],
      [[statusBadge(s.status), s.name, s.version || "", time(s.createdTime), time(s.lastUpdatedTime), time(s.completedTime), s.executionId || ""]],
      { id: "instance-status" }));
    if (Object.keys(s.tags || {}).length) head.append(el("p", {}, "Tags: ", Object.entries(s.tags).map(([k, v]) => `${k}=${v}`).join(", ")));
    for (const [key, label] of [["input", "Input"], ["output", "Output"], ["customStatus", "Custom status"]]) {
      values.append(valueBlock(path, key, label, s[key]));
    }
    actionButtons(actions, result, path, s);
  } catch (e) { showError(head, e); return; }
  api(path + "/history").then(h => {
    if (h.parent) head.append(el("p", { id: "parent" }, "Parent: ", instanceLink(h.parent.instanceId), h.parent.name ? ` (${h.parent.name})` : ""));
    if (h.children.length) head.append(el("p", { id: "children" }, `Sub-orchestrations (${h.children.length}): `,
      h.children.slice(0, 200).map((c, i) => [i ? ", " : "", instanceLink(c.instanceId)])));
    history.append(historyTable(path, h.events));
  }).catch(e => showError(history, e));
  api(path + "/timeline").then(t => timeline.append(gantt(t))).catch(e => showError(timeline, e));
}

function valueBlock(path, key, label, v) {
  const pre = el("pre", { class: "value", dataset: { value: key } });
  const box = el("div", {}, el("h3", {}, label), pre);
  if (!v) { pre.textContent = "(none)"; return box; }
  pre.textContent = pretty(v.text);
  if (v.truncated) {
    const more = el("button", { type: "button" }, `Load all ${v.length} characters`);
    more.addEventListener("click", async () => {
      more.disabled = true;
      try { const full = await api(`${path}/value/${key}`); pre.textContent = pretty(full.text || ""); more.remove(); }
      catch (e) { showError(box, e); more.disabled = false; }
    });
    box.append(more);
  }
  return box;
}

// The actions, each confirmed; the answer (or error) is shown in `result`.
function actionButtons(where, result, path, s) {
  const reason = el("input", { id: "action-reason", placeholder: "reason (optional)" });
  const eventName = el("input", { id: "event-name", placeholder: "event name" });
  const eventData = el("input", { id: "event-data", placeholder: "JSON data, e.g. {\"ok\":true}" });
  const act = (label, op, what) => el("button", {
    type: "button", id: "action-" + op, onclick: async () => {
      if (!confirm(`${what} instance ${s.instanceId}?`)) return;
      const q = reason.value.trim() ? "?reason=" + encodeURIComponent(reason.value.trim()) : "";
      try {
        const answer = await post(`${path}/${op}${q}`);
        result.className = "ok";
        result.textContent = `${label}: accepted` + (answer && answer.id ? ` (new instance ${answer.id})` : "") +
          (answer && answer.instancesDeleted !== undefined ? ` (${answer.instancesDeleted} deleted)` : "");
      } catch (e) { result.className = "error"; result.textContent = `${label} failed: ${e.message}`; }
    },
  }, label);
  const raise = el("button", {
    type: "button", id: "action-raise", onclick: async () => {
      const name = eventName.value.trim();
      if (!name) { result.className = "error"; result.textContent = "Raise event: give the event a name."; return; }
      let data = null;
      if (eventData.value.trim()) {
        try { data = JSON.parse(eventData.value); } catch (e) { result.className = "error"; result.textContent = "Raise event: the data is not JSON: " + e.message; return; }
      }
      if (!confirm(`Raise event ${name} on instance ${s.instanceId}?`)) return;
      try { await post(`${path}/raiseEvent/${encodeURIComponent(name)}`, data); result.className = "ok"; result.textContent = `Raise event ${name}: accepted`; }
      catch (e) { result.className = "error"; result.textContent = `Raise event failed: ${e.message}`; }
    },
  }, "Raise event");
  where.append(el("div", { class: "actions" },
    act("Terminate", "terminate", "Terminate"), act("Suspend", "suspend", "Suspend"), act("Resume", "resume", "Resume"),
    act("Restart", "restart", "Restart (with a new id)"), act("Rewind", "rewind", "Rewind"), act("Purge", "purge", "Purge (delete for good)"), reason),
    el("div", { class: "actions" }, eventName, eventData, raise));
}

function historyTable(path, events) {
  const widths = ["4em", "16em", "12em", "5em", "6em", "15em", "7em", "auto"];
  const header = el("div", { class: "hrow hhead" }, ["#", "Event", "Name", "EventId", "Scheduled", "Time", "Duration", "Detail"]
    .map((h, i) => el("span", { style: { flex: widths[i] === "auto" ? "1" : `0 0 ${widths[i]}` } }, h)));
  const detail = el("pre", { class: "value", id: "event-detail", hidden: true });
  const render = i => {
    const e = events[i];
    const cells = [e.index, e.type, e.name || "", e.eventId >= 0 ? e.eventId : "", e.scheduledId ?? "",
      time(e.timestamp), duration(e.durationMs), e.detail + (e.detailTruncated ? " …" : "")];
    const row = el("div", { class: "hrow", dataset: { type: e.type }, title: "click for the whole event" },
      cells.map((c, j) => el("span", { style: { flex: widths[j] === "auto" ? "1" : `0 0 ${widths[j]}` } }, String(c))));
    row.addEventListener("click", async () => {
      detail.hidden = false; detail.textContent = "loading…";
      try { detail.textContent = JSON.stringify(await api(`${path}/history/${e.index}`), null, 2); }
      catch (err) { detail.textContent = err.message; }
    });
    return row;
  };
  return el("div", {}, el("p", { class: "muted" }, `${events.length} events`), header,
    virtualRows(events.length, 22, 500, render, { id: "history-rows" }), detail);
}

// The Gantt: a row per span (a sub-orchestration's own spans indented beneath it), bars placed
// on one time axis; retries say which attempt they are.
function gantt(t) {
  const rows = [];
  const add = (s, depth, parent) => {
    rows.push({ s, depth, parent });
    for (const c of s.children || []) add(c, depth + 1, s);
  };
  t.spans.forEach(s => add(s, 0, null));
  if (!rows.length) return el("p", { class: "muted" }, "no activities, sub-orchestrations or timers");
  const now = Date.now();
  const t0 = Math.min(...rows.map(r => r.s.start));
  const t1 = Math.max(t0 + 1, ...rows.map(r => r.s.end ?? (r.s.outcome === "open" ? now : r.s.start)), t.historyEnd || t0);
  const span = t1 - t0;
  const render = i => {
    const { s, depth, parent } = rows[i];
    const label = s.name + (s.attempt > 1 ? ` (retry ${s.attempt - 1})` : "");
    const end = s.end ?? now;
    const bar = el("div", { class: "bar", dataset: { kind: s.kind, outcome: s.outcome } });
    bar.style.left = ((s.start - t0) / span * 100) + "%";
    bar.style.width = `max(3px, ${((end - s.start) / span * 100)}%)`;
    const title = `${s.kind} ${label}: ${time(s.start)} → ${s.end ? time(s.end) : "still open"} (${duration(end - s.start)}, ${s.outcome})`;
    return el("div", {
      class: "grow", title,
      dataset: { kind: s.kind, name: s.name, outcome: s.outcome, depth: String(depth), attempt: String(s.attempt), parent: parent && parent.instanceId || "" },
    },
    el("span", { class: "glabel", style: { paddingLeft: depth * 1.2 + "em" } },
      s.instanceId ? instanceLink(s.instanceId) : label, s.instanceId ? ` ${s.name}` : ""),
    el("span", { class: "gtrack" }, bar),
    el("span", { class: "gtime" }, duration(end - s.start)));
  };
  return el("div", {},
    el("p", { class: "muted" }, `${rows.length} spans from ${time(t0)} over ${duration(span)}` + (t.truncatedChildren ? " (the first 200 sub-orchestrations expanded)" : "")),
    virtualRows(rows.length, 22, 640, render, { id: "gantt" }));
}

async function viewEntities(params) {
  const form = el("form", { class: "filters" }, el("label", {}, "name ", el("input", { name: "name", value: params.get("name") || "" })), el("button", {}, "Filter"));
  form.addEventListener("submit", e => { e.preventDefault(); location.hash = "#/entities?name=" + encodeURIComponent(form.elements.name.value.trim()); });
  const out = el("div");
  main.append(section("Entities", form, out));
  try {
    const r = await api("entities" + (params.get("name") ? "?name=" + encodeURIComponent(params.get("name")) : ""));
    out.append(table(["Entity", "Key", "Last modified", "State"], r.entities.map(e =>
      [e.name, e.key, time(e.lastModified), el("pre", { class: "value" }, e.state ? pretty(e.state.text) + (e.state.truncated ? " …" : "") : "")]), { id: "entity-list" }));
  } catch (e) { showError(out, e); }
}

// Partitions, refreshed; owner changes seen while the page is open are kept as a lease history.
function viewPartitions() {
  const out = el("div"), log = el("ol", { id: "lease-history" });
  const seen = new Map();
  main.append(section("Partitions", out), section("Lease changes seen while this page is open", log));
  every(5000, async () => {
    const r = await api("partitions");
    for (const p of r.partitions) {
      const was = seen.get(p.partition);
      if (was !== undefined && was !== (p.owner || "")) log.prepend(el("li", {}, `${new Date().toLocaleTimeString()} ${p.partition}: ${was || "free"} → ${p.owner || "free"}`));
      seen.set(p.partition, p.owner || "");
    }
    clear(out).append(table(["Partition", "Owner", "Next owner", "Owned since", "Last renewal", "Lease expires", "Draining", "Messages"],
      r.partitions.map(p => [p.partition, p.owner || "-", p.next_owner || "-", p.owned_since || "-", p.last_renewal || "-",
        p.expires_at ? (p.expired ? "expired " : "") + p.expires_at : "-", p.draining ? "yes" : "no", p.queue_length ?? "-"]),
      { id: "partition-list" }));
  });
}

async function viewPoison() {
  const out = el("div");
  main.append(section("Poison messages (peeked, not removed)", out));
  try {
    const r = await api("poison");
    if (!r.records.length) { out.append(el("p", { class: "muted" }, `${r.queue} is empty`)); return; }
    out.append(table(["Inserted", "Queue", "Dequeues", "Instance", "Event", "Reason", "Message"], r.records.map(p => [
      time(p.insertedOn), p.sourceQueue, p.dequeueCount, p.instanceId ? instanceLink(p.instanceId) : "-", p.eventType || "-", p.reason,
      el("pre", { class: "value" }, p.message ? pretty(p.message.text) + (p.message.truncated ? " …" : "") : (p.messageBlob || "")),
    ]), { id: "poison-list" }));
  } catch (e) { showError(out, e); }
}

// ---- routing ------------------------------------------------------------------------------

function route() {
  generation++;
  timers.forEach(clearInterval); timers = [];
  clear(main);
  const hash = location.hash.replace(/^#\/?/, "") || "overview";
  const [view, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", view.startsWith(a.dataset.view));
  if (view.startsWith("instance/")) return viewInstance(decodeURIComponent(view.slice("instance/".length)));
  switch (view) {
    case "instances": return viewInstances(params);
    case "entities": return viewEntities(params);
    case "partitions": return viewPartitions();
    case "poison": return viewPoison();
    default: return viewOverview();
  }
}

window.addEventListener("hashchange", route);
route();

// The review page: a scene list, the selected scene on a Leaflet map in its pixel grid, the series plot.
// Keyboard first. Every key's work (a verdict's write included) finishes before the next key is handled.
// Data from the server is only ever written into the page as text (textContent), never as HTML.
"use strict";

const COLOURS = { predicted: "#ff3b30", redrawn: "#2f7bff", box: "#ffd400", reference: "#34c759", editing: "#ff9f0a" };
const POINT = { "": "#8a8f98", unreviewed: "#8a8f98", accepted: "#17752f", redrawn: "#1d57b3" };

const state = {
  scenes: [],        // the run's scenes, as /api/run gives them
  order: [],         // indexes of the shown scenes, in the list's order
  current: null,     // index of the selected scene
  detail: null,      // /api/scene/<current>
  undo: [],          // [{index, verdict, line}] the states to go back to
  editor: null,      // {parts: [[L.LatLng]], layers: []} while editing or drawing
  queue: Promise.resolve(),
  seriesRows: [],
};

const el = (id) => document.getElementById(id);
const map = L.map("map", { crs: L.CRS.Simple, minZoom: -6, maxZoom: 6, zoomSnap: 0.25, attributionControl: false });
const layers = L.layerGroup().addTo(map);
let picture = null;

function text(node, value) { node.textContent = value == null ? "" : String(value); return node; }
function status(message) { text(el("status"), message); }
function warn(message) { text(el("warning"), message || ""); }

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

// -- the list -----------------------------------------------------------------------------------------------
function flagged(s) { return s.quality && s.quality !== "ok"; }

function sortKey(s, how) {
  switch (how) {
    case "flags": return [s.quality && s.quality.includes("low_confidence") ? 0 : flagged(s) ? 1 : 2, s.date || ""];
    case "confidence": return [s.confidence == null ? -1 : s.confidence, s.date || ""];
    case "length": return [-(s.length_m || 0), s.date || ""];
    case "verdict": return [s.verdict || "~", s.date || ""];
    default: return [s.date || "", s.name];
  }
}

function compare(a, b) {
  for (let i = 0; i < a.length; i++) { if (a[i] < b[i]) return -1; if (a[i] > b[i]) return 1; }
  return 0;
}

function shown(s, filter) {
  switch (filter) {
    case "unreviewed": return !s.verdict;
    case "low_confidence": return !!(s.quality && s.quality.includes("low_confidence"));
    case "flagged": return flagged(s) || s.status !== "ok";
    case "accepted": case "rejected": case "redrawn": return s.verdict === filter;
    default: return true;
  }
}

function renderList() {
  const filter = el("filter").value, how = el("sort").value;
  state.order = state.scenes.filter((s) => shown(s, filter))
    .sort((a, b) => compare(sortKey(a, how), sortKey(b, how))).map((s) => s.index);
  const body = document.querySelector("#scenes tbody");
  body.replaceChildren();
  for (const index of state.order) {
    const s = state.scenes[index];
    const row = document.createElement("tr");
    row.dataset.index = index;
    row.className = `v-${s.verdict || "none"}` + (index === state.current ? " selected" : "");
    const cells = [s.date, s.sensor, s.status === "ok" ? s.quality : s.status,
      s.confidence == null ? "" : s.confidence.toFixed(2),
      s.length_m == null ? "" : (s.length_m / 1000).toFixed(1), s.verdict, s.name];
    const classes = ["", "", flagged(s) ? "flag" : "", "", "", "verdict", "name"];
    cells.forEach((value, i) => {
      const td = text(document.createElement("td"), value);
      if (classes[i]) td.className = classes[i];
      if (i === 6) td.title = s.name;
      row.appendChild(td);
    });
    row.addEventListener("click", () => enqueue(() => select(index)));
    body.appendChild(row);
  }
  const counts = { accepted: 0, rejected: 0, redrawn: 0 };
  state.scenes.forEach((s) => { if (counts[s.verdict] !== undefined) counts[s.verdict] += 1; });
  text(el("counts"), `${state.scenes.length} scenes: ${counts.accepted} accepted, ${counts.rejected} rejected, ` +
    `${counts.redrawn} redrawn`);
}

function markSelected() {
  for (const row of document.querySelectorAll("#scenes tbody tr")) {
    const on = Number(row.dataset.index) === state.current;
    row.classList.toggle("selected", on);
    if (on) row.scrollIntoView({ block: "nearest" });
  }
}

// -- the map ------------------------------------------------------------------------------------------------
const toLatLng = ([col, row]) => L.latLng(-row, col);
const fromLatLng = (ll) => [ll.lng, -ll.lat];

function drawScene() {
  const d = state.detail;
  layers.clearLayers();
  if (picture) { map.removeLayer(picture); picture = null; }
  const bounds = L.latLngBounds([[-d.grid.height, 0], [0, d.grid.width]]);
  if (d.grid.has_image) {
    picture = L.imageOverlay(`/api/scene/${d.index}/picture.png`, bounds, { className: "scene-picture" }).addTo(map);
    picture.bringToBack();
  }
  for (const ring of d.boxes) L.polyline(ring.map(toLatLng), { color: COLOURS.box, weight: 2, dashArray: "6 4", interactive: false }).addTo(layers);
  for (const part of d.reference) L.polyline(part.map(toLatLng), { color: COLOURS.reference, weight: 2, interactive: false }).addTo(layers);
  const redrawn = d.verdict.verdict === "redrawn" && d.redrawn.length;
  for (const part of d.predicted) {
    L.polyline(part.map(toLatLng), { color: COLOURS.predicted, weight: 2.5, opacity: redrawn ? 0.45 : 1,
      className: "predicted-line" }).addTo(layers);
  }
  if (redrawn) for (const part of d.redrawn) L.polyline(part.map(toLatLng), { color: COLOURS.redrawn, weight: 3, className: "redrawn-line" }).addTo(layers);
  if (!state.keepView) map.fitBounds(bounds, { animate: false });
}

function legend() {
  const box = L.control({ position: "bottomright" });
  box.onAdd = () => {
    const div = L.DomUtil.create("div", "legend");
    for (const [name, colour] of [["predicted", COLOURS.predicted], ["redrawn", COLOURS.redrawn],
      ["box / AOI", COLOURS.box], ["reference", COLOURS.reference]]) {
      const line = document.createElement("div");
      const swatch = document.createElement("i");
      swatch.style.background = colour;
      line.appendChild(swatch);
      line.appendChild(document.createTextNode(name));
      div.appendChild(line);
    }
    return div;
  };
  box.addTo(map);
}

// -- editing ------------------------------------------------------------------------------------------------
function startEditor(parts) {
  stopEditor();
  state.editor = { parts: parts.map((p) => p.map(toLatLng)), group: L.layerGroup().addTo(map) };
  renderEditor();
  status("editing: drag vertices, click the map to add one at the end, shift-click a vertex to delete it; " +
    "Enter saves (verdict redrawn), Esc cancels");
}

function renderEditor() {
  const ed = state.editor;
  ed.group.clearLayers();
  ed.parts.forEach((part, p) => {
    const line = L.polyline(part, { color: COLOURS.editing, weight: 3, className: "editing-line" }).addTo(ed.group);
    part.forEach((ll, v) => {
      const marker = L.marker(ll, { draggable: true, keyboard: false,
        icon: L.divIcon({ className: "vertex", iconSize: [10, 10] }) }).addTo(ed.group);
      marker.on("drag", (e) => { part[v] = e.target.getLatLng(); line.setLatLngs(part); });
      marker.on("dragend", () => { ed.draggedAt = Date.now(); });  // the click ending a drag adds no vertex
      marker.on("click", (e) => {
        if (e.originalEvent.shiftKey) { part.splice(v, 1); if (!part.length) ed.parts.splice(p, 1); renderEditor(); }
      });
    });
  });
}

function stopEditor() {
  if (state.editor) { map.removeLayer(state.editor.group); state.editor = null; }
}

map.on("click", (e) => {
  const ed = state.editor;
  if (!ed || Date.now() - (ed.draggedAt || 0) < 400) return;
  if (!ed.parts.length) ed.parts.push([]);
  ed.parts[ed.parts.length - 1].push(e.latlng);
  renderEditor();
});

// -- verdicts -----------------------------------------------------------------------------------------------
async function judge(verdict, line, remember = true) {
  const d = state.detail;
  if (!d) return;
  const before = { index: d.index, verdict: d.verdict.verdict, line: d.verdict.verdict === "redrawn" ? d.redrawn : null };
  const answer = await api(`/api/scene/${d.index}/verdict`, { verdict, revision: d.verdict.revision, line });
  if (remember) state.undo.push(before);
  warn(answer.warning);
  const s = state.scenes[d.index];
  s.verdict = answer.verdict.verdict;
  s.revision = answer.verdict.revision;
  status(`${s.name}: ${s.verdict || "verdict undone"} (saved)`);
  return answer;
}

async function judgeAndMove(verdict) {
  await judge(verdict, null);
  const next = neighbour(+1);
  renderList();
  await refreshSeries();
  if (next !== null && next !== state.current) await select(next);
  else await select(state.current, true);
}

async function saveEditor() {
  const parts = state.editor.parts.filter((p) => p.length >= 2).map((p) => p.map(fromLatLng));
  if (!parts.length) { status("a line needs two vertices or more: click the map to add them"); return; }
  await judge("redrawn", parts);
  stopEditor();
  renderList();
  await refreshSeries();
  await select(state.current, true);
}

async function undo() {
  const last = state.undo.pop();
  if (!last) { status("nothing to undo"); return; }
  await select(last.index, true);
  await judge(last.verdict, last.line, false);
  renderList();
  await refreshSeries();
  await select(last.index, true);
}

// -- moving -------------------------------------------------------------------------------------------------
function neighbour(step) {
  if (!state.order.length) return null;
  const at = state.order.indexOf(state.current);
  if (at < 0) return state.order[0];
  return state.order[Math.max(0, Math.min(state.order.length - 1, at + step))];
}

async function select(index, keepView = false) {
  if (index === null || index === undefined) return;
  stopEditor();
  const d = await api(`/api/scene/${index}`);
  state.current = index;
  state.detail = d;
  state.keepView = keepView;
  const s = state.scenes[index];
  s.verdict = d.verdict.verdict;
  text(el("title"), `${d.name}  ·  ${d.date || "no date"}  ·  ${d.sensor || ""}  ·  quality ${d.quality || d.status}` +
    (d.confidence == null ? "" : `  ·  confidence ${d.confidence.toFixed(2)}`) +
    (d.verdict.verdict ? `  ·  ${d.verdict.verdict} by ${d.verdict.reviewer}` : ""));
  drawScene();
  markSelected();
  highlightSeries();
  document.body.dataset.scene = String(index);
}

// -- the series plot ----------------------------------------------------------------------------------------
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

async function refreshSeries() {
  const answer = await api("/api/series");
  state.seriesRows = answer.rows;
  drawSeries(answer.error);
}

function drawSeries(error) {
  const plot = el("series");
  plot.replaceChildren();
  const rows = state.seriesRows.filter((r) => r.change_m !== null);
  const w = plot.clientWidth || 600, h = plot.clientHeight || 180, left = 58, right = 12, top = 10, bottom = 24;
  if (error || !rows.length) {
    text(svg("text", { x: 10, y: 20, class: "series-message" }, plot), error || "no front is measured in the box");
    plot.dataset.points = "0";
    return;
  }
  const xs = rows.map((r) => r.decimal_year), ys = rows.map((r) => r.change_m);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys, 0), Math.max(...ys, 0)];
  if (x1 - x0 < 0.1) { x0 -= 0.5; x1 += 0.5; }
  if (y1 - y0 < 1) { y0 -= 50; y1 += 50; }
  const X = (v) => left + (v - x0) / (x1 - x0) * (w - left - right);
  const Y = (v) => top + (y1 - v) / (y1 - y0) * (h - top - bottom);
  svg("line", { x1: left, x2: w - right, y1: Y(0), y2: Y(0), stroke: "#c5cad3" }, plot);
  for (let year = Math.ceil(x0); year <= Math.floor(x1); year++) {
    text(svg("text", { x: X(year), y: h - 6, "text-anchor": "middle", "font-size": 11 }, plot), year);
    svg("line", { x1: X(year), x2: X(year), y1: h - bottom, y2: h - bottom + 4, stroke: "#777" }, plot);
  }
  for (const v of [y0, 0, y1]) {
    text(svg("text", { x: left - 6, y: Y(v) + 4, "text-anchor": "end", "font-size": 11 }, plot), `${Math.round(v)} m`);
  }
  const sorted = rows.slice().sort((a, b) => a.decimal_year - b.decimal_year);
  svg("polyline", { points: sorted.map((r) => `${X(r.decimal_year)},${Y(r.change_m)}`).join(" "),
    fill: "none", stroke: "#9aa3ad" }, plot);
  for (const r of rows) {
    const dot = svg("circle", { cx: X(r.decimal_year), cy: Y(r.change_m), r: 5, fill: POINT[r.verdict] || POINT[""],
      "data-index": r.index, class: "point" }, plot);
    text(svg("title", {}, dot), `${r.date}: ${r.change_m.toFixed(0)} m (${r.quality}, ${r.verdict})`);
    dot.addEventListener("click", () => enqueue(() => select(r.index)));
  }
  plot.dataset.points = String(rows.length);
  highlightSeries();
}

function highlightSeries() {
  for (const dot of document.querySelectorAll("#series circle")) {
    dot.classList.toggle("selected", Number(dot.getAttribute("data-index")) === state.current);
  }
}

// -- keys ---------------------------------------------------------------------------------------------------
function enqueue(work) {
  state.queue = state.queue.then(work).catch((err) => { warn(err.message); });
  return state.queue;
}

const KEYS = {
  j: () => select(neighbour(+1)), ArrowDown: () => select(neighbour(+1)), n: () => select(neighbour(+1)),
  k: () => select(neighbour(-1)), ArrowUp: () => select(neighbour(-1)), p: () => select(neighbour(-1)),
  a: () => judgeAndMove("accepted"),
  r: () => judgeAndMove("rejected"),
  e: async () => {
    const d = state.detail;
    startEditor(d.verdict.verdict === "redrawn" && d.redrawn.length ? d.redrawn : d.predicted);
  },
  d: async () => { startEditor([]); status("drawing: click the map to add vertices; Enter saves, Esc cancels"); },
  u: () => undo(),
};

document.addEventListener("keydown", (event) => {
  if (event.target.closest("select, input, textarea") || event.altKey || event.metaKey) return;
  if (event.ctrlKey && event.key !== "z") return;
  let key = event.ctrlKey && event.key === "z" ? "u" : event.key;
  if (state.editor) {
    if (key === "Enter") { event.preventDefault(); enqueue(saveEditor); return; }
    if (key === "Escape") { event.preventDefault(); stopEditor(); status("edit cancelled"); return; }
    if (key === "Backspace") {
      const part = state.editor.parts[state.editor.parts.length - 1];
      if (part && part.length) { part.pop(); renderEditor(); }
      event.preventDefault();
      return;
    }
    return;  // other keys do nothing while a line is being edited
  }
  const action = KEYS[key];
  if (!action) return;
  event.preventDefault();
  enqueue(action);
});

for (const id of ["filter", "sort"]) {
  el(id).addEventListener("change", () => { renderList(); el(id).blur(); });
}

// -- start --------------------------------------------------------------------------------------------------
async function start() {
  const run = await api("/api/run");
  state.scenes = run.scenes;
  text(el("run"), run.run);
  if (run.notes.length) warn(run.notes.join("; "));
  legend();
  renderList();
  await refreshSeries();
  const resume = state.order.find((i) => !state.scenes[i].verdict);
  await select(resume !== undefined ? resume : state.order[0]);
  document.body.dataset.ready = "1";
}

enqueue(start);
window.addEventListener("resize", () => drawSeries(null));

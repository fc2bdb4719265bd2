// The web rater: plain JS over the REST API, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  token: localStorage.getItem("agile-token") || "",
  me: null, info: null,
  concepts: [], concept: null,
  batch: null, focus: 0, mode: "grid",
  shownAt: 0, history: [], secondsSpent: [],
  images: new Map(),      // corpus id -> object URL (prefetched)
  job: null, pollingConcept: null,
  versions: [], evaluation: null,
};

// ---------------------------------------------------------------- API and errors
class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function describe(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {  // FastAPI validation errors
    return detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ");
  }
  return JSON.stringify(detail);
}

async function api(method, path, body, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  if (state.token) headers["Authorization"] = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, cache: "no-store",
                                   body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, `cannot reach the server (${e.message})`);
  }
  if (response.status === 304) return { status: 304, etag: response.headers.get("ETag") };
  let data = null;
  const text = await response.text();
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!response.ok) {
    const err = new ApiError(response.status, `${response.status}: ${describe(data && data.detail)}`);
    err.etag = response.headers.get("ETag");
    throw err;
  }
  return { status: response.status, etag: response.headers.get("ETag"), data };
}

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}
$("error-close").onclick = () => { $("error").hidden = true; };

async function guarded(fn) {
  try { return await fn(); } catch (e) { showError(e.message); }
}

// ---------------------------------------------------------------- images, prefetched
const imageQueue = [];
let imageSlots = 6;

function loadImage(id) {
  if (state.images.has(id)) return state.images.get(id);
  const promise = new Promise((resolve) => imageQueue.push({ id, resolve })).then(async ({ id }) => {
    try {
      const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
      const r = await fetch(`/api/images/${id}`, { headers });
      if (!r.ok) throw new ApiError(r.status, `image ${id}: ${r.status}`);
      return URL.createObjectURL(await r.blob());
    } catch (e) {
      state.images.delete(id);
      return "";
    } finally {
      imageSlots++; pumpImages();
    }
  });
  state.images.set(id, promise);
  pumpImages();
  return promise;
}

function pumpImages() {
  while (imageSlots > 0 && imageQueue.length) {
    imageSlots--;
    const job = imageQueue.shift();
    job.resolve(job);
  }
}

// ---------------------------------------------------------------- sign-in and concepts
async function start() {
  try {
    state.me = (await api("GET", "/api/me")).data;
  } catch (e) {
    if (e.status === 401) { $("login").hidden = false; if (state.token) showError(e.message); return; }
    showError(e.message); return;
  }
  $("login").hidden = true;
  $("error").hidden = true;
  $("app").hidden = false;
  $("whoami").textContent = `${state.me.name} (${state.me.role}${state.me.dev ? ", dev mode" : ""})`;
  state.info = (await api("GET", "/api/info")).data;
  $("corpus-info").textContent = `${state.info.corpus}: ${state.info.count.toLocaleString()} images, `
    + `${state.info.model.name}, ${state.info.index} index`;
  $("strategy").innerHTML = state.info.strategies.map((s) => `<option>${s}</option>`).join("");
  const owner = state.me.role === "owner";
  for (const id of ["create-concept", "submit", "train", "expand", "evaluate", "edit-phrases"]) $(id).disabled = !owner;
  await refreshConcepts();
  const last = Number(localStorage.getItem("agile-concept"));
  const pick = state.concepts.find((c) => c.id === last) || state.concepts[state.concepts.length - 1];
  if (pick) await selectConcept(pick.id);
}

$("login-form").onsubmit = (ev) => {
  ev.preventDefault();
  state.token = $("token").value.trim();
  localStorage.setItem("agile-token", state.token);
  start();
};

async function refreshConcepts() {
  state.concepts = (await api("GET", "/api/concepts")).data;
  const list = $("concepts");
  list.innerHTML = "";
  for (const c of state.concepts) {
    const li = document.createElement("li");
    li.textContent = `${c.name} (${c.rated} rated${c.latest_version ? `, v${c.latest_version}` : ""})`;
    li.className = state.concept && state.concept.id === c.id ? "active" : "";
    li.onclick = () => guarded(() => selectConcept(c.id));
    list.appendChild(li);
  }
}

const lines = (id) => $(id).value.split("\n").map((s) => s.trim()).filter(Boolean);

$("new-concept").onsubmit = (ev) => {
  ev.preventDefault();
  guarded(async () => {
    const body = { name: $("concept-name").value, positives: lines("concept-positives"),
                   negatives: lines("concept-negatives") };
    const concept = (await api("POST", "/api/concepts", body)).data;
    $("new-concept").reset();
    await selectConcept(concept.id);
    $("grid").focus();
  });
};

async function selectConcept(id) {
  state.concept = (await api("GET", `/api/concepts/${id}`)).data;
  localStorage.setItem("agile-concept", String(id));
  state.history = [];
  state.job = null;  // a job of the previous concept no longer blocks this one
  $("concept").hidden = false;
  $("concept-title").textContent = state.concept.name;
  showPhrases();
  closePhraseEditor();
  await refreshConcepts();
  const job = state.concept.job;
  // Wait for a running job (a new concept's expansion) before showing its batch: keys
  // pressed on a batch shown while the job is still followed would find it "busy".
  if (job && (job.status === "queued" || job.status === "running")) await followJob(job);
  else showJob(job);
  await loadBatch();
  await loadVersions();
  watchVersions(id);
  await guarded(loadEvaluation);  // its failure must not stop the page from following new versions
  if (window.assistant) await assistant.show(id);
}

function showPhrases() {
  $("phrases").textContent = `positive: ${state.concept.positives.join(", ")}`
    + (state.concept.negatives.length ? ` · negative: ${state.concept.negatives.join(", ")}` : "");
}

// ---------------------------------------------------------------- editing phrases
function openPhraseEditor() {
  const c = state.concept;
  $("editor-name").textContent = c.name;
  $("edit-positives").value = c.positives.slice(1).join("\n");  // the name is always the first positive
  $("edit-negatives").value = c.negatives.join("\n");
  $("phrase-error").hidden = true;
  $("phrase-editor").hidden = false;
  $("edit-positives").focus();
}

function closePhraseEditor() {
  $("phrase-editor").hidden = true;
  $("phrase-error").hidden = true;
}

// Saves the phrases; the API's message is shown in the editor, which stays open to fix them.
async function savePhrases() {
  try {
    state.concept = (await api("PATCH", `/api/concepts/${state.concept.id}`,
                               { positives: lines("edit-positives"), negatives: lines("edit-negatives") })).data;
  } catch (e) {
    $("phrase-error").textContent = `phrases not saved: ${e.message}`;
    $("phrase-error").hidden = false;
    return false;
  }
  showPhrases();
  closePhraseEditor();
  return true;
}

$("edit-phrases").onclick = () => ($("phrase-editor").hidden ? openPhraseEditor() : closePhraseEditor());
$("cancel-phrases").onclick = () => closePhraseEditor();
$("save-phrases").onclick = () => savePhrases();
$("phrase-editor").onsubmit = async (ev) => {
  ev.preventDefault();
  if (await savePhrases()) await startJob("expand");  // a fresh batch from the new phrases
};

// ---------------------------------------------------------------- the batch
// The newest batch, or the newest of one purpose ("training" / "evaluation").
async function loadBatch(purpose) {
  let batch;
  try {
    const query = purpose ? `?purpose=${purpose}` : "";
    batch = (await api("GET", `/api/concepts/${state.concept.id}/batch${query}`)).data;
  } catch (e) {
    if (e.status !== 404) throw e;
    state.batch = null; render(); return;
  }
  if (state.batch && state.batch.id === batch.id) return;  // already shown; local state is newer
  // Prefetch every image before showing the batch, so it appears at once.
  await Promise.all(batch.items.map((it) => loadImage(it.id)));
  if (state.batch && state.batch.id === batch.id) return;
  state.batch = batch;
  state.focus = Math.max(0, batch.items.findIndex((it) => it.rating === null));
  state.history = [];
  state.secondsSpent = [];
  state.shownAt = performance.now();
  render();
}

const evaluating = () => Boolean(state.batch && state.batch.purpose === "evaluation");

function render() {
  const grid = $("grid");
  grid.innerHTML = "";
  $("eval-banner").hidden = !evaluating();
  $("grid").setAttribute("aria-label", evaluating() ? "evaluation batch to rate" : "batch to rate");
  if (!state.batch) {
    grid.innerHTML = `<p class="muted">No batch yet: it appears here when the job above is done.</p>`;
    updateCounter();
    return;
  }
  state.batch.items.forEach((item, i) => {
    const tile = document.createElement("div");
    tile.className = "tile";
    tile.dataset.id = item.id;
    tile.dataset.index = i;
    const img = document.createElement("img");
    img.alt = `image ${item.id}`;
    loadImage(item.id).then((url) => { img.src = url; });
    tile.append(img, Object.assign(document.createElement("span"), { className: "id", textContent: `#${item.id}` }),
                Object.assign(document.createElement("span"), { className: "mark" }));
    tile.onclick = () => { setFocus(i); };
    grid.appendChild(tile);
  });
  paint();
}

function paint() {
  if (!state.batch) return;
  const tiles = $("grid").children;
  state.batch.items.forEach((item, i) => {
    const tile = tiles[i];
    tile.classList.toggle("pos", item.rating === true);
    tile.classList.toggle("neg", item.rating === false);
    tile.classList.toggle("focus", i === state.focus);
    tile.querySelector(".mark").textContent = item.rating === true ? "✓" : item.rating === false ? "✗" : "";
  });
  const current = state.batch.items[state.focus];
  if (current) {
    const img = $("single-img");
    loadImage(current.id).then((url) => { img.src = url; });
    img.className = current.rating === true ? "pos" : current.rating === false ? "neg" : "";
    img.dataset.id = current.id;
    $("single-caption").textContent = `#${current.id} · ${state.focus + 1} of ${state.batch.items.length}`;
    if (state.mode === "grid") tiles[state.focus].scrollIntoView({ block: "nearest" });
  }
  updateCounter();
}

function updateCounter() {
  const c = state.concept;
  const entry = document.querySelector("#concepts li.active");
  if (entry && c) entry.textContent = `${c.name} (${c.rated} rated${c.latest_version ? `, v${c.latest_version}` : ""})`;
  if (!state.batch) { $("counter").textContent = `total rated ${c ? c.rated : 0}`; return; }
  const rated = state.batch.items.filter((it) => it.rating !== null).length;
  const mean = state.secondsSpent.length
    ? ` · ${(state.secondsSpent.reduce((a, b) => a + b, 0) / state.secondsSpent.length).toFixed(1)} s/image` : "";
  if (evaluating()) {
    $("counter").textContent = `rated ${rated} / evaluation batch ${state.batch.items.length}`
      + ` · not used for training · evaluation rated ${c.evaluation_rated}${mean}`;
    return;
  }
  $("counter").textContent = `rated ${rated} / batch ${state.batch.items.length} · total ${c.rated}`
    + ` · round ${state.batch.round} (${state.batch.source})${mean}`;
}

function setFocus(i) {
  if (!state.batch) return;
  state.focus = Math.max(0, Math.min(state.batch.items.length - 1, i));
  state.shownAt = performance.now();
  paint();
}

function columns() {
  const tiles = $("grid").children;
  if (!tiles.length) return 1;
  const top = tiles[0].offsetTop;
  let n = 0;
  while (n < tiles.length && tiles[n].offsetTop === top) n++;
  return Math.max(1, n);
}

// ---------------------------------------------------------------- rating, undo, submit
async function rate(positive) {
  if (!state.batch || state.me.role !== "owner") return;
  const index = state.focus;
  const item = state.batch.items[index];
  const previous = item.rating;
  const seconds = Math.min(3600, (performance.now() - state.shownAt) / 1000);
  item.rating = positive;
  state.history.push({ index, previous });
  state.secondsSpent.push(seconds);
  const next = state.batch.items.findIndex((it, j) => j > index && it.rating === null);
  setFocus(next >= 0 ? next : Math.min(index + 1, state.batch.items.length - 1));
  try {
    const r = await api("POST", `/api/concepts/${state.concept.id}/ratings`,
                        { ratings: [{ id: item.id, positive, seconds }] });
    state.concept.rated = r.data.rated;
    state.concept.evaluation_rated = r.data.evaluation_rated;
    updateCounter();
    // The last image of an evaluation batch: its metrics are what the owner waits for.
    if (evaluating() && state.batch.items.every((it) => it.rating !== null)) await guarded(loadEvaluation);
  } catch (e) {
    item.rating = previous;
    paint();
    showError(`rating of image ${item.id} not saved: ${e.message}`);
  }
}

async function undo() {
  const last = state.history.pop();
  if (!last || !state.batch) return;
  const item = state.batch.items[last.index];
  const undone = item.rating;
  item.rating = last.previous;  // at once, like a rating; the server follows
  setFocus(last.index);
  const path = `/api/concepts/${state.concept.id}/ratings/${item.id}`;
  try {
    const r = last.previous === null ? await api("DELETE", path)
                                     : await api("PUT", path, { positive: last.previous });
    state.concept.rated = r.data.rated;
    state.concept.evaluation_rated = r.data.evaluation_rated;
    updateCounter();
  } catch (e) {
    item.rating = undone;
    paint();
    showError(`undo of image ${item.id} not saved: ${e.message}`);
  }
}

async function startJob(kind) {
  if (!state.concept) return;
  if (!state.batch) kind = "expand";  // no batch yet (or its expansion failed): find images first
  await guarded(async () => {
    const job = (await api("POST", `/api/concepts/${state.concept.id}/jobs`,
                           { kind, strategy: $("strategy").value })).data;
    followJob(job);
  });
}

$("submit").onclick = () => startJob("round");
$("train").onclick = () => startJob("train");
$("expand").onclick = () => startJob("expand");
$("evaluate").onclick = () => startJob("evaluate");
$("back-to-training").onclick = () => guarded(() => loadBatch("training"));
$("view-toggle").onclick = () => toggleMode();

function toggleMode() {
  state.mode = state.mode === "grid" ? "single" : "grid";
  $("grid").hidden = state.mode !== "grid";
  $("single").hidden = state.mode !== "single";
  $("view-toggle").textContent = state.mode === "grid" ? "One at a time" : "Grid";
  state.shownAt = performance.now();
  paint();
}

// ---------------------------------------------------------------- jobs and versions
function showJob(job) {
  const box = $("job");
  if (!job) { box.hidden = true; return; }
  box.hidden = false;
  box.classList.toggle("failed", job.status === "failed");
  $("job-bar").style.width = `${job.status === "done" ? 100 : job.percent}%`;
  $("job-text").textContent = `${job.kind} job ${job.id}: ${job.status} — ${job.message}`;
}

async function followJob(job) {
  state.job = job;
  const conceptId = job.concept_id;
  showJob(job);
  while (job.status === "queued" || job.status === "running") {
    await new Promise((r) => setTimeout(r, 400));
    try { job = (await api("GET", `/api/jobs/${job.id}`)).data; } catch (e) { showError(e.message); return; }
    if (!state.concept || state.concept.id !== conceptId) return;  // another concept is shown now
    showJob(job);
  }
  state.job = null;
  if (job.status === "failed") { showError(`${job.kind} job failed: ${job.message}`); return; }
  await guarded(async () => {
    state.concept = (await api("GET", `/api/concepts/${conceptId}`)).data;
    if (job.result && job.result.batch_id !== undefined) await loadBatch();
    await loadVersions();
    await loadEvaluation();
    await refreshConcepts();
  });
  if (window.assistant) await assistant.after(job.kind);  // at most one new tip after a batch, round or evaluation
}

async function loadVersions() {
  const versions = (await api("GET", `/api/concepts/${state.concept.id}/versions`)).data;
  const list = $("versions");
  list.innerHTML = "";
  for (const v of versions.slice().reverse()) {
    const li = document.createElement("li");
    const m = v.metrics;
    li.textContent = `version ${v.version}: ${v.labels.count} ratings (${v.labels.positives} positive), `
      + `AUC-PR on rated ${m.rated_auc_pr ?? "–"}, accuracy ${m.rated_accuracy ?? "–"}, `
      + `hidden ${JSON.stringify(v.training.config ? v.training.config.hidden : "?")}`;
    list.appendChild(li);
  }
  state.versions = versions;
  drawChart(versions);
}

// AUC-PR of each version on the rated evaluation images, when the report has it.
function evaluationAucPr(version) {
  const e = state.evaluation;
  const row = e && e.ready ? e.models.find((m) => m.version === version.version) : null;
  return row && row.metrics ? row.metrics.auc_pr : null;
}

function drawChart(versions) {
  const svg = $("chart");
  const W = 520, H = 170, L = 36, R = 12, T = 12, B = 28;
  const series = [[(v) => v.metrics.rated_auc_pr, "#1565c0", "AUC-PR (rated)"],
                  [(v) => v.metrics.rated_accuracy, "#1b8a3a", "accuracy (rated)"],
                  [evaluationAucPr, "#b26a00", "AUC-PR (evaluation)"]];
  const x = (i) => L + (versions.length < 2 ? (W - L - R) / 2 : i * (W - L - R) / (versions.length - 1));
  const y = (v) => T + (1 - v) * (H - T - B);
  let out = `<line x1="${L}" y1="${y(0)}" x2="${W - R}" y2="${y(0)}" stroke="#ccc"/>`
    + `<line x1="${L}" y1="${y(1)}" x2="${W - R}" y2="${y(1)}" stroke="#eee"/>`
    + `<text x="4" y="${y(1) + 4}">1.0</text><text x="4" y="${y(0) + 4}">0.0</text>`;
  if (!versions.length) out += `<text x="${L + 10}" y="${H / 2}">no model versions yet</text>`;
  versions.forEach((v, i) => {
    out += `<text x="${x(i) - 14}" y="${H - 8}">v${v.version} (${v.labels.count})</text>`;
  });
  series.forEach(([value, color, label], s) => {
    const pts = versions.map((v, i) => [value(v), i]).filter(([m]) => m !== null && m !== undefined)
      .map(([m, i]) => [x(i), y(Number(m))]);
    if (pts.length) {
      out += `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => p.join(",")).join(" ")}"/>`;
      out += pts.map((p) => `<circle cx="${p[0]}" cy="${p[1]}" r="3" fill="${color}"/>`).join("");
    }
    out += `<rect x="${W - 150}" y="${T + s * 16}" width="10" height="10" fill="${color}"/>`
      + `<text x="${W - 135}" y="${T + 9 + s * 16}">${label}</text>`;
  });
  svg.innerHTML = out;
}

// ---------------------------------------------------------------- evaluation report
const fixed = (v) => Number(v).toFixed(3);

async function loadEvaluation() {
  const conceptId = state.concept.id;
  const report = (await api("GET", `/api/concepts/${conceptId}/evaluation`)).data;
  if (!state.concept || state.concept.id !== conceptId) return;
  state.evaluation = report;
  $("evaluation-status").textContent = report.message;
  const table = $("evaluation");
  table.hidden = !report.ready;
  const body = table.querySelector("tbody");
  body.innerHTML = "";
  for (const m of report.ready ? report.models : []) {
    const tr = document.createElement("tr");
    const cell = (text, className = "") => Object.assign(document.createElement("td"), { textContent: text, className });
    const withCi = (name) => {
      const ci = m.metrics.ci[name];
      return `${fixed(m.metrics[name])}${ci ? ` [${fixed(ci[0])}, ${fixed(ci[1])}]` : ""}`;
    };
    tr.append(cell(m.model), cell(withCi("auc_pr")), cell(withCi("auc_roc"), "ci"), cell(withCi("f1"), "ci"),
              cell(withCi("accuracy"), "ci"), cell(String(m.threshold)));
    body.appendChild(tr);
  }
  drawChart(state.versions);
}

async function showEvaluation() {
  await guarded(loadEvaluation);
  $("evaluation-status").scrollIntoView({ block: "nearest" });
}

// Long-poll the latest version: the page learns of a new one (from any client) within a second.
async function watchVersions(conceptId) {
  if (state.pollingConcept === conceptId) return;
  state.pollingConcept = conceptId;
  let etag = null;
  while (state.pollingConcept === conceptId) {
    try {
      const r = await api("GET", `/api/concepts/${conceptId}/versions/latest?wait=25`, undefined,
                          etag ? { "If-None-Match": etag } : {});
      if (r.status === 200 && etag !== null && state.concept && state.concept.id === conceptId) await loadVersions();
      etag = r.etag || etag;
    } catch (e) {
      if (e.status === 404 && e.etag) { etag = e.etag; continue; }
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
}

// ---------------------------------------------------------------- keyboard
document.addEventListener("keydown", (ev) => {
  if (["INPUT", "TEXTAREA", "SELECT"].includes(ev.target.tagName) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (ev.key === "Enter" && ev.target.tagName === "BUTTON") return;  // the button's own click handles it
  if (!state.batch && ev.key !== "Enter") return;
  const step = state.mode === "grid" ? columns() : 1;
  const actions = {
    ArrowRight: () => setFocus(state.focus + 1), ArrowLeft: () => setFocus(state.focus - 1),
    ArrowDown: () => setFocus(state.focus + step), ArrowUp: () => setFocus(state.focus - step),
    p: () => rate(true), "1": () => rate(true), n: () => rate(false), "0": () => rate(false),
    u: () => undo(), Backspace: () => undo(), v: () => toggleMode(),
    Enter: () => {
      if (evaluating()) showEvaluation();  // evaluation ratings train nothing: Enter shows what they measure
      else if (!state.job && state.me.role === "owner") startJob("round");
    },
  };
  const action = actions[ev.key] || actions[ev.key.toLowerCase()];
  if (action) { ev.preventDefault(); action(); }
});

start();

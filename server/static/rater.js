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
  // Keys act only on a grid that is fully shown: false while a concept or batch is being loaded.
  ready: false,
  // Bumped whenever the owner navigates (another concept, back to training): a job that finishes
  // afterwards must not swap the batch they chose for its own.
  view: 0,
  showScores: false, scores: new Map(),   // corpus id -> score with the latest version (the toggle)
  browse: { where: "top", offset: 0, limit: 30 },
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
  const form = body instanceof FormData;  // uploads: the browser writes the multipart header
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, cache: "no-store",
                                   body: body === undefined ? undefined : form ? body : JSON.stringify(body) });
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
    err.path = path;
    throw err;
  }
  if (method !== "GET") $("error").hidden = true;  // a later success means the banner's problem is past
  return { status: response.status, etag: response.headers.get("ETag"), data };
}

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}
$("error-close").onclick = () => { $("error").hidden = true; };

// A 404 about a concept no longer shown (just deleted, or the owner moved on while a request
// was in flight) is no news to the owner.
function aboutAnotherConcept(e) {
  const m = e.status === 404 && e.path && e.path.match(/^\/api\/concepts\/([^/?]+)/);
  return Boolean(m) && (!state.concept || String(state.concept.id) !== m[1]);
}

// Whether concept `id` is still the one shown: each step of loading it checks, since the owner may open
// another one, or delete this one, while a request is on its way.
const showing = (id) => Boolean(state.concept) && state.concept.id === id;

async function guarded(fn) {
  try { return await fn(); } catch (e) { if (!aboutAnotherConcept(e)) showError(e.message); }
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
  showTextModel();
  const owner = state.me.role === "owner";
  for (const id of ["create-concept", "submit", "train", "expand", "evaluate", "edit-phrases", "rename",
                    "delete-concept", "seed-files"]) $(id).disabled = !owner;
  await refreshConcepts();
  const last = Number(localStorage.getItem("agile-concept"));
  const pick = state.concepts.find((c) => c.id === last) || state.concepts[state.concepts.length - 1];
  if (pick) await selectConcept(pick.id);
}

// A corpus without a text model (embeddings from DINOv2, EfficientNet, ...): said once, phrase inputs
// hidden; concepts start from a coverage batch and grow with image seeds (M on a tile, or uploads).
function showTextModel() {
  const text = state.info.text_model !== false;
  for (const id of ["positives-label", "negatives-label", "edit-phrases"]) $(id).hidden = !text;
  $("no-text-model").hidden = text;
  $("create-concept").textContent = text ? "Create and find images" : "Create and show a coverage batch";
  $("expand").title = text ? "a new batch from the phrases and image seeds" : "a new batch near the image seeds";
}

$("login-form").onsubmit = (ev) => {
  ev.preventDefault();
  state.token = $("token").value.trim();
  localStorage.setItem("agile-token", state.token);
  start();
};

const conceptLabel = (c) => `${c.name} (${c.rated} rated${c.latest_version ? `, v${c.latest_version}` : ""})`;

// Keys go to the grid once a concept is shown, unless the owner has meanwhile moved on to a field
// (typing the next concept's name while this one loads): its Enter must not submit the batch.
function focusGrid() {
  if (!["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) $("grid").focus();
}

async function refreshConcepts() {
  state.concepts = (await api("GET", "/api/concepts")).data;
  const list = $("concepts");
  list.innerHTML = "";
  for (const c of state.concepts) {
    // A button, so Tab reaches every concept and Enter or Space opens it.
    const li = document.createElement("li");
    const button = Object.assign(document.createElement("button"), { type: "button", textContent: conceptLabel(c) });
    button.dataset.id = c.id;
    li.className = showing(c.id) ? "active" : "";
    button.onclick = () => guarded(async () => { await selectConcept(c.id); focusGrid(); });
    li.appendChild(button);
    list.appendChild(li);
  }
}

const lines = (id) => $(id).value.split("\n").map((s) => s.trim()).filter(Boolean);

$("new-concept").onsubmit = (ev) => {
  ev.preventDefault();
  guarded(async () => {
    const text = state.info.text_model !== false;  // phrases are refused where nothing can embed them
    const categories = lines("concept-categories");
    const body = categories.length
      ? { name: $("concept-name").value, none_of_these: $("concept-none").checked,
          categories: categories.map((line) => categoryOf(line, text)) }
      : { name: $("concept-name").value, positives: text ? lines("concept-positives") : [],
          negatives: text ? lines("concept-negatives") : [] };
    const concept = (await api("POST", "/api/concepts", body)).data;
    $("new-concept").reset();
    // Out of the form at once: keys pressed while the batch is being found must not type into it.
    if ($("new-concept").contains(document.activeElement)) document.activeElement.blur();
    await selectConcept(concept.id);
    focusGrid();
  });
};

// A category line of the form: "name: phrase, phrase" (the phrases only where the corpus can embed them).
function categoryOf(line, text) {
  const [name, rest] = line.split(/:(.*)/s);
  const phrases = text && rest ? rest.split(",").map((p) => p.trim()).filter(Boolean) : [];
  return { name: name.trim(), phrases };
}

// ---------------------------------------------------------------- a multi-category task
const isTask = () => Boolean(state.concept && state.concept.classes);
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                 "#bcbd22", "#7f7f7f", "#555"];
// Keys: 1-9 name the categories in order, 0 "none of these" (always a task's last class when it has one).
const keyOf = (index) => (state.concept.classes[index] === "none of these" ? "0" : String(index + 1));
const classColor = (index) => (state.concept.classes[index] === "none of these" ? PALETTE[10] : PALETTE[index]);

function classOfKey(key) {
  const classes = state.concept.classes;
  const index = classes.findIndex((_, i) => keyOf(i) === key);
  return index >= 0 ? index : null;
}

function showTaskKeys() {
  const box = $("task-keys");
  box.hidden = !isTask();
  if (!isTask()) return;
  box.replaceChildren(...state.concept.classes.map((name, i) => {
    const span = Object.assign(document.createElement("span"), { textContent: `${keyOf(i)} ${name}` });
    span.style.setProperty("--cat", classColor(i));
    return span;
  }));
}

// The old grid goes at once, and keys wait for the new one: a key pressed in between must not rate
// an image of the batch left, and a job finishing meanwhile must not bring that batch's purpose back.
function leaveBatch() {
  state.view++;
  state.ready = false;
  state.batch = null;
  render("loading the batch…");
}

async function selectConcept(id) {
  $("error").hidden = true;  // the banner was about what was shown before
  state.scores = new Map();
  state.evaluation = null;
  leaveBatch();
  state.concept = (await api("GET", `/api/concepts/${id}`)).data;
  localStorage.setItem("agile-concept", String(id));
  state.history = [];
  state.job = null;  // a job of the previous concept no longer blocks this one
  $("concept").hidden = false;
  $("concept-title").textContent = state.concept.name;
  showPhrases();
  showTaskKeys();
  closePhraseEditor();
  closeRename();
  $("browse").hidden = true;
  // a task's phrases belong to its categories (fixed when it was made); its images have no one score
  for (const id of ["edit-phrases", "open-browse", "scores-toggle"]) $(id).hidden = isTask();
  await refreshConcepts();
  const job = state.concept.job;
  // Wait for a running job (a new concept's expansion) before showing its batch: keys
  // pressed on a batch shown while the job is still followed would find it "busy".
  if (job && (job.status === "queued" || job.status === "running")) await followJob(job);
  else showJob(job);
  if (!showing(id)) return;
  await openBatch();
  if (!showing(id)) return;
  await loadVersions();
  if (!showing(id)) return;
  watchVersions(id);
  await guarded(loadEvaluation);  // its failure must not stop the page from following new versions
  await guarded(loadHistory);
  if (window.assistant && showing(id)) await assistant.show(id);
}

function showPhrases() {
  const c = state.concept;
  if (c.classes) {
    $("phrases").textContent = `a task of ${c.classes.length} classes: ` + c.categories.map((cat) =>
      cat.phrases.length > 1 ? `${cat.name} (${cat.phrases.slice(1).join(", ")})` : cat.name).join(" · ")
      + (c.classes.length > c.categories.length ? " · none of these" : "");
    return;
  }
  $("phrases").textContent = `positive: ${c.positives.join(", ")}`
    + (c.negatives.length ? ` · negative: ${c.negatives.join(", ")}` : "");
}

// ---------------------------------------------------------------- editing phrases, renaming, deleting
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

function closeRename() { $("rename-form").hidden = true; $("rename-error").hidden = true; }
$("rename").onclick = () => {
  $("rename-input").value = state.concept.name;
  $("rename-form").hidden = false;
  $("rename-input").focus();
};
$("cancel-rename").onclick = () => closeRename();
$("rename-form").onsubmit = async (ev) => {
  ev.preventDefault();
  try {
    state.concept = (await api("PATCH", `/api/concepts/${state.concept.id}`, { name: $("rename-input").value })).data;
  } catch (e) {
    $("rename-error").textContent = `not renamed: ${e.message}`;
    $("rename-error").hidden = false;
    return;
  }
  $("concept-title").textContent = state.concept.name;
  showPhrases();
  closeRename();
  await guarded(refreshConcepts);
  focusGrid();
};
$("delete-concept").onclick = () => guarded(async () => {
  const c = state.concept;
  if (!confirm(`Delete the concept "${c.name}"? It disappears from the list; its ratings and versions are `
               + "archived on the server, not erased.")) return;
  await api("DELETE", `/api/concepts/${c.id}`);
  state.view++;  // whatever was loading for it stops
  state.pollingConcept = null;
  state.concept = null;
  state.batch = null;
  $("concept").hidden = true;
  localStorage.removeItem("agile-concept");
  await refreshConcepts();
  const next = state.concepts[state.concepts.length - 1];
  if (next) await selectConcept(next.id);
});

// ---------------------------------------------------------------- the batch
// An answer: "pos", "neg" or "skip"; of a task "c<index>" (its class); null while unrated.
const answerOf = (it) => (it.skipped ? "skip" : Number.isInteger(it.category) ? `c${it.category}`
  : it.rating === true ? "pos" : it.rating === false ? "neg" : null);
const classOf = (answer) => (answer && answer[0] === "c" ? Number(answer.slice(1)) : null);

// The request body of an answer (a rating, or an undo that puts one back).
function answerBody(answer) {
  if (answer === "skip") return { skip: true };
  const index = classOf(answer);
  return index !== null ? { category: index } : { positive: answer === "pos" };
}
const unanswered = (b) => b.items.filter((it) => it.answer === null).length;

async function fetchBatch(purpose) {
  if (!state.concept) return null;
  try {
    const batch = (await api("GET", `/api/concepts/${state.concept.id}/batch?purpose=${purpose}`)).data;
    batch.items.forEach((it) => { it.answer = answerOf(it); });
    return batch;
  } catch (e) {
    if (e.status !== 404) throw e;
    return null;
  }
}

// On opening a concept: the training batch still to rate comes first; a finished one gives way to
// an evaluation batch that still has unrated images.
async function openBatch() {
  const view = state.view;
  const training = await fetchBatch("training");
  let batch = training;
  if (!training || unanswered(training) === 0) {
    const evaluation = await fetchBatch("evaluation");
    if (evaluation && (!training || unanswered(evaluation) > 0)) batch = evaluation;
  }
  await showBatch(batch, view);
}

// The newest batch of one purpose ("training" / "evaluation").
async function loadBatch(purpose = "training") {
  const view = state.view;
  await showBatch(await fetchBatch(purpose), view);
}

async function showBatch(batch, view) {
  if (view !== state.view) return;  // the owner went elsewhere meanwhile
  if (!batch) { state.batch = null; state.ready = true; render(); return; }
  if (state.batch && state.batch.id === batch.id) { state.ready = true; return; }  // shown; local state is newer
  // Prefetch every image before showing the batch, so it appears at once.
  await Promise.all(batch.items.map((it) => loadImage(it.id)));
  if (view !== state.view || (state.batch && state.batch.id === batch.id)) return;
  state.batch = batch;
  state.focus = Math.max(0, batch.items.findIndex((it) => it.answer === null));
  state.history = [];
  state.secondsSpent = [];
  state.shownAt = performance.now();
  render();
  state.ready = true;
  if (state.showScores) await guarded(loadScores);
}

const evaluating = () => Boolean(state.batch && state.batch.purpose === "evaluation");
const MARKS = { pos: "✓", neg: "✗", skip: "?" };

function render(note) {
  const grid = $("grid");
  grid.innerHTML = "";
  $("eval-banner").hidden = !evaluating();
  $("grid").setAttribute("aria-label", evaluating() ? "evaluation batch to rate" : "batch to rate");
  $("grid").dataset.batch = state.batch ? state.batch.id : "";
  if (!state.batch) {
    grid.innerHTML = `<p class="muted">${note || "No batch yet: it appears here when the job above is done."}</p>`;
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
                Object.assign(document.createElement("span"), { className: "mark" }),
                Object.assign(document.createElement("span"), { className: "score" }));
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
    const index = classOf(item.answer);
    tile.classList.toggle("pos", item.answer === "pos");
    tile.classList.toggle("neg", item.answer === "neg");
    tile.classList.toggle("skip", item.answer === "skip");
    tile.classList.toggle("cat", index !== null);
    tile.classList.toggle("focus", i === state.focus);
    if (index !== null) tile.style.setProperty("--cat", classColor(index));
    tile.dataset.answer = item.answer || "";
    tile.querySelector(".mark").textContent = index !== null
      ? `${keyOf(index)} ${state.concept.classes[index]}` : MARKS[item.answer] || "";
    const score = state.showScores ? state.scores.get(item.id) : undefined;
    tile.querySelector(".score").textContent = score === undefined ? "" : score;
  });
  const current = state.batch.items[state.focus];
  if (current) {
    const img = $("single-img");
    loadImage(current.id).then((url) => { img.src = url; });
    const index = classOf(current.answer);
    img.className = index !== null ? "cat" : current.answer || "";
    img.dataset.id = current.id;
    $("single-caption").textContent = `#${current.id} · ${state.focus + 1} of ${state.batch.items.length}`
      + (current.answer === "skip" ? " · can't tell" : "")
      + (index !== null ? ` · ${state.concept.classes[index]}` : "");
    if (state.mode === "grid") tiles[state.focus].scrollIntoView({ block: "nearest" });
    else fitSingle();
  }
  updateCounter();
}

function updateCounter() {
  const c = state.concept;
  const entry = document.querySelector("#concepts li.active button");
  if (entry && c) entry.textContent = conceptLabel(c);
  if (!state.batch) { $("counter").textContent = `total rated ${c ? c.rated : 0}`; return; }
  const rated = state.batch.items.filter((it) => it.answer !== null).length;
  const skipped = state.batch.items.filter((it) => it.answer === "skip").length;
  const skips = skipped ? ` (${skipped} can't tell)` : "";
  const mean = state.secondsSpent.length
    ? ` · ${(state.secondsSpent.reduce((a, b) => a + b, 0) / state.secondsSpent.length).toFixed(1)} s/image` : "";
  if (evaluating()) {
    $("counter").textContent = `rated ${rated} / evaluation batch ${state.batch.items.length}${skips}`
      + ` · not used for training · evaluation rated ${c.evaluation_rated}${mean}`;
    return;
  }
  $("counter").textContent = `rated ${rated} / batch ${state.batch.items.length}${skips} · total ${c.rated}`
    + ` · round ${state.batch.round} (${state.batch.source})${mean}`
    + (state.batch.note ? ` · ${state.batch.note}` : "");
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

// One at a time: the image fits below the sticky toolbar, and is scrolled there, whatever the scroll.
function fitSingle() {
  const sticky = document.querySelector(".sticky").getBoundingClientRect();
  const room = window.innerHeight - sticky.height - 56;  // the caption and a margin
  $("single-img").style.width = `${Math.max(120, Math.min(room, $("single").clientWidth || room))}px`;
  const top = $("single").getBoundingClientRect().top;
  if (top < sticky.bottom || top + room > window.innerHeight) window.scrollBy(0, top - sticky.bottom - 4);
}

// ---------------------------------------------------------------- rating, undo, submit
// answer: "pos", "neg", a task's "c<index>", or "skip" (can't tell: stored, never trained on, never offered
// again).
async function rate(answer) {
  if (!state.ready || !state.batch || state.me.role !== "owner") return;
  const batch = state.batch, concept = state.concept;  // as shown now, whatever is shown when the reply comes
  const index = state.focus;
  const item = batch.items[index];
  const previous = item.answer;
  const seconds = Math.min(3600, (performance.now() - state.shownAt) / 1000);
  item.answer = answer;
  state.history.push({ index, previous });
  state.secondsSpent.push(seconds);
  const next = batch.items.findIndex((it, j) => j > index && it.answer === null);
  setFocus(next >= 0 ? next : Math.min(index + 1, batch.items.length - 1));
  if (evaluating()) noteEvaluationProgress();
  const body = { id: item.id, ...answerBody(answer), seconds, batch_id: batch.id };
  try {
    const r = await api("POST", `/api/concepts/${concept.id}/ratings`, { ratings: [body] });
    if (state.batch !== batch) return;
    Object.assign(state.concept, { rated: r.data.rated, evaluation_rated: r.data.evaluation_rated });
    updateCounter();
    if (unanswered(batch) === 0) {
      // The last image of an evaluation batch: its metrics are what the owner waits for.
      if (evaluating()) await guarded(loadEvaluation);
      await guarded(loadHistory);
    }
  } catch (e) {
    item.answer = previous;
    if (state.batch === batch) paint();
    showError(`rating of image ${item.id} not saved: ${e.message}`);
  }
}

// Right after a rating, the evaluation panel says where the set stands (its metrics take a moment).
function noteEvaluationProgress() {
  const batch = state.batch;
  const left = unanswered(batch);
  $("evaluation-status").textContent = left === 0
    ? `all ${batch.items.length} images of this evaluation batch rated; computing the metrics…`
    : `${batch.items.length - left} of ${batch.items.length} images of this evaluation batch rated; `
      + "the metrics appear when it is done";
}

async function undo() {
  if (!state.ready) return;
  const last = state.history.pop();
  if (!last || !state.batch) return;
  const batch = state.batch;
  const item = batch.items[last.index];
  const undone = item.answer;
  item.answer = last.previous;  // at once, like a rating; the server follows
  setFocus(last.index);
  const path = `/api/concepts/${state.concept.id}/ratings/${item.id}`;
  const body = answerBody(last.previous);
  try {
    const r = last.previous === null ? await api("DELETE", path) : await api("PUT", path, body);
    if (state.batch !== batch) return;
    Object.assign(state.concept, { rated: r.data.rated, evaluation_rated: r.data.evaluation_rated });
    updateCounter();
  } catch (e) {
    item.answer = undone;
    if (state.batch === batch) paint();
    showError(`undo of image ${item.id} not saved: ${e.message}`);
  }
}

async function startJob(kind) {
  if (!state.concept) return;
  if (!state.batch && kind !== "evaluate") kind = "expand";  // no batch yet (or its expansion failed)
  const view = state.view;  // before the request: the owner may go back to training while it is on its way
  await guarded(async () => {
    const job = (await api("POST", `/api/concepts/${state.concept.id}/jobs`,
                           { kind, strategy: $("strategy").value })).data;
    followJob(job, view);
  });
}

// Enter or the Submit button: train and fetch the next batch; asks first if images are unrated.
function submitBatch() {
  if (state.job || state.me.role !== "owner") return;
  const left = state.batch ? unanswered(state.batch) : 0;
  if (left && !confirm(`${left} of the ${state.batch.items.length} images are not rated yet. Train on the `
                       + "ratings so far and fetch the next batch anyway?")) return;
  startJob("round");
}

// How many images an evaluation batch can hold: strata x per stratum for each model it stratifies over.
function evaluationSize() {
  const zeroShot = state.info.text_model !== false ? 1 : 0;  // + the zero-shot ranking, where text embeds
  const models = Math.min(state.versions.length, state.info.eval_versions) + zeroShot;
  return { models, images: models * 10 * state.info.eval_per_stratum };
}

function startEvaluation() {
  const { models, images } = evaluationSize();
  if (!confirm(`An evaluation batch holds up to ${images} images (${models} ranking${models > 1 ? "s" : ""} `
               + `x 10 score strata x ${state.info.eval_per_stratum}), fewer where they overlap. Its ratings `
               + "measure the models and are never trained on. Start it?")) return;
  startJob("evaluate");
}

// Every button gives the keyboard back to the grid, so a later Enter means "submit", never the button again.
function button(id, action) {
  $(id).addEventListener("click", () => {
    action();
    if (document.activeElement === $(id)) $(id).blur();
    if (state.batch) $(state.mode === "grid" ? "grid" : "single").focus();
  });
}
button("submit", submitBatch);
button("train", () => startJob("train"));
button("expand", () => startJob("expand"));

// "More like this" (M): the focused image becomes a seed, and a new batch is drawn near every seed.
async function moreLikeThis() {
  if (!state.concept || !state.batch || state.job || state.me.role !== "owner") return;
  const item = state.batch.items[state.focus];
  await guarded(async () => {
    followJob((await api("POST", `/api/concepts/${state.concept.id}/more-like/${item.id}`)).data);
  });
}

// Uploaded example images: embedded by the server with the corpus's image model, then a new batch near them.
$("seed-files").onchange = () => guarded(async () => {
  const files = [...$("seed-files").files];
  if (!state.concept || !files.length) return;
  const form = new FormData();
  for (const f of files) form.append("images", f);
  await api("POST", `/api/concepts/${state.concept.id}/seeds/images`, form);
  $("seed-files").value = "";
  await startJob("expand");
});
button("evaluate", startEvaluation);
button("back-to-training", () => { leaveBatch(); guarded(() => loadBatch("training")); });
button("view-toggle", () => toggleMode());
button("scores-toggle", () => toggleScores());

function toggleMode() {
  state.mode = state.mode === "grid" ? "single" : "grid";
  $("grid").hidden = state.mode !== "grid";
  $("single").hidden = state.mode !== "single";
  $("view-toggle").textContent = state.mode === "grid" ? "One at a time" : "Grid";
  state.shownAt = performance.now();
  paint();
}

// ---------------------------------------------------------------- scores on the grid
async function loadScores() {
  const latest = state.versions[state.versions.length - 1];
  if (!state.batch || !latest || isTask()) { state.scores = new Map(); paint(); return; }
  const ids = state.batch.items.map((it) => it.id);
  const r = await api("POST", `/api/concepts/${state.concept.id}/versions/${latest.version}/score`, { ids });
  state.scores = new Map(ids.map((id, i) => [id, r.data.scores[i].toFixed(2)]));
  paint();
}

async function toggleScores() {
  state.showScores = !state.showScores;
  $("scores-toggle").textContent = state.showScores ? "Hide scores" : "Show scores";
  $("scores-toggle").setAttribute("aria-pressed", String(state.showScores));
  if (state.showScores && !state.versions.length) showError("no model version yet: scores appear after training");
  await guarded(loadScores);
}

// ---------------------------------------------------------------- jobs and versions
function showJob(job) {
  const box = $("job");
  if (!job) { box.hidden = true; return; }
  box.hidden = false;
  box.classList.toggle("failed", job.status === "failed");
  $("job-bar").style.width = `${job.status === "done" ? 100 : job.percent}%`;
  $("job-text").textContent = `${job.kind} job ${job.id}: ${job.status} — ${job.message}`;
  const active = job.status === "queued" || job.status === "running";
  const cancel = $("job-cancel");
  cancel.hidden = !(active && state.me && state.me.role === "owner");
  cancel.onclick = () => guarded(async () => {
    cancel.disabled = true;
    try { showJob((await api("DELETE", `/api/jobs/${job.id}`)).data); }
    finally { cancel.disabled = false; }
  });
}

// `view`: the view the owner was in when the job was asked for; a batch is shown only if still wanted.
async function followJob(job, view = state.view) {
  state.job = job;
  const conceptId = job.concept_id;
  showJob(job);
  // Long-poll: the server answers the moment the job starts, reports progress or finishes.
  const wait = Math.min(25, state.info.max_wait_seconds);
  let etag = null;
  while (job.status === "queued" || job.status === "running") {
    let r;
    try {
      r = await api("GET", `/api/jobs/${job.id}?wait=${wait}`, undefined, etag ? { "If-None-Match": etag } : {});
    } catch (e) { if (showing(conceptId)) showError(e.message); return; }
    if (!showing(conceptId)) return;  // another concept is shown now, or this one was deleted
    etag = r.etag || etag;
    if (r.status === 304) continue;
    job = r.data;
    showJob(job);
  }
  state.job = null;
  if (job.status === "failed") { showError(`${job.kind} job failed: ${job.message}`); return; }
  if (job.status === "cancelled") return;
  await guarded(async () => {
    state.concept = (await api("GET", `/api/concepts/${conceptId}`)).data;
    // A new batch is shown unless the owner moved on meanwhile to a batch of the other purpose
    // (back to the training batch while an evaluate job ran).
    if (job.result && job.result.batch_id !== undefined) {
      const purpose = job.kind === "evaluate" ? "evaluation" : "training";
      const stillWanted = view === state.view || (state.batch && state.batch.purpose === purpose);
      if (stillWanted) await showBatch(await fetchBatch(purpose), state.view);
    }
    await loadVersions();
    await loadEvaluation();
    await refreshConcepts();
    await loadHistory();
  });
  if (window.assistant) await assistant.after(job.kind);  // at most one new tip after a batch, round or evaluation
}

async function loadVersions() {
  if (!state.concept) return;
  const conceptId = state.concept.id;
  const versions = (await api("GET", `/api/concepts/${conceptId}/versions`)).data;
  if (!showing(conceptId)) return;
  const list = $("versions");
  list.innerHTML = "";
  for (const v of versions.slice().reverse()) {
    const li = document.createElement("li");
    const m = v.metrics;
    const cv = m.cv_auc_pr === undefined ? "" : `, ${m.cv_folds}-fold cross-validated AUC-PR ${m.cv_auc_pr}`;
    const s = v.stability;
    const moved = s ? `, relabelled ${pct(s.changed)} of the fixed sample (kappa ${s.kappa.toFixed(2)})` : "";
    const held = v.labels.classes ? `by class ${v.labels.classes.join(" / ")}` : `${v.labels.positives} positive`;
    li.textContent = `version ${v.version}: ${v.labels.count} ratings (${held})${cv}${moved}; `
      + `in-sample (on its own training ratings): AUC-PR ${m.rated_auc_pr ?? "–"}, accuracy `
      + `${m.rated_accuracy ?? "–"}; ${learnerText(v.training)}`;
    list.appendChild(li);
  }
  state.versions = versions;
  $("settled").textContent = settledText(versions[versions.length - 1]);
  $("browse-version").innerHTML = versions.slice().reverse().map((v) => `<option value="${v.version}">v${v.version}</option>`).join("");
  $("open-browse").disabled = !versions.length;
  drawChart();
}

// What the version is: the paper's MLP, or the learner the adaptive recipe chose by cross-validation.
function learnerText(training) {
  const c = training.config || {};
  const what = `${c.learner || "mlp"}, hidden ${JSON.stringify(c.hidden || [])}`;
  const r = training.recipe;
  return r ? `${what} (chosen by cross-validation: ${Object.entries(r.cv_auc_pr).map(([n, v]) => `${n} ${v}`).join(", ")})`
    : what;
}

// The session's stopping signal: whether the latest version still moved the labels of a fixed sample.
function settledText(latest) {
  const s = latest && latest.stability;
  if (!s) return "";
  if (s.settled) {
    return `The model has settled: the last ${s.calm_versions} versions barely changed the labels of a fixed `
      + `sample. Another round of the same kind is unlikely to help; evaluate, or add phrases or example images.`;
  }
  if (s.calm_versions > 0) {
    return `Version ${latest.version} barely changed the labels of a fixed sample (${pct(s.changed)} relabelled): `
      + `if the next version does not either, the model has settled.`;
  }
  return `Version ${latest.version} relabelled ${pct(s.changed)} of a fixed sample: the model is still moving, `
    + `so another round is likely to help.`;
}

function pct(share) {
  return `${(100 * share).toFixed(share < 0.1 ? 1 : 0)}%`;
}

// ---------------------------------------------------------------- the chart
// With rated evaluation images: each version's evaluation AUC-PR with its 95% interval, and the zero-shot
// line. Before that: the cross-validated AUC-PR on the training ratings, said to be that.
function chartSeries() {
  const e = state.evaluation;
  if (e && e.ready) {
    const byVersion = new Map(e.models.filter((m) => m.version !== null && m.metrics).map((m) => [m.version, m.metrics]));
    const zero = e.models.find((m) => m.version === null && m.metrics);
    const metric = isTask() ? "macro_auc_pr" : "auc_pr";
    return {
      title: `${isTask() ? "macro AUC-PR" : "AUC-PR"} on ${e.rated} rated evaluation images (95% intervals)`,
      points: state.versions.map((v) => {
        const m = byVersion.get(v.version);
        return m ? { value: m[metric], low: (m.ci[metric] || [])[0], high: (m.ci[metric] || [])[1] } : null;
      }),
      zeroShot: zero ? zero.metrics.auc_pr : null,
    };
  }
  if (isTask()) return { title: "macro AUC-PR: rate an evaluation set (Evaluate) to see it", points: [], zeroShot: null };
  return {
    title: "AUC-PR, 3-fold cross-validated on the rated training images (no evaluation set rated yet)",
    points: state.versions.map((v) => (v.metrics.cv_auc_pr === undefined ? null
      : { value: v.metrics.cv_auc_pr, low: v.metrics.cv_auc_pr_low, high: v.metrics.cv_auc_pr_high })),
    zeroShot: null,
  };
}

function drawChart() {
  const versions = state.versions;
  const svg = $("chart");
  const W = 520, H = 190, L = 36, R = 40, T = 12, B = 58;  // the legend sits below the axis, clear of the lines
  const { title, points, zeroShot } = chartSeries();
  $("chart-title").textContent = title;
  const x = (i) => L + (versions.length < 2 ? (W - L - R) / 2 : i * (W - L - R) / (versions.length - 1));
  const y = (v) => T + (1 - v) * (H - T - B);
  let out = `<line x1="${L}" y1="${y(0)}" x2="${W - R}" y2="${y(0)}" stroke="#ccc"/>`
    + `<line x1="${L}" y1="${y(1)}" x2="${W - R}" y2="${y(1)}" stroke="#eee"/>`
    + `<text x="4" y="${y(1) + 4}">1.0</text><text x="4" y="${y(0) + 4}">0.0</text>`;
  if (!versions.length) out += `<text x="${L + 10}" y="${(H - B) / 2}">no model versions yet</text>`;
  versions.forEach((v, i) => {
    out += `<text class="xlabel" text-anchor="middle" x="${x(i)}" y="${H - B + 16}">v${v.version}</text>`
      + `<text class="xlabel" text-anchor="middle" x="${x(i)}" y="${H - B + 28}">${v.labels.count} rated</text>`;
  });
  const color = "#b26a00";
  const pts = points.map((p, i) => (p ? [x(i), y(p.value), p] : null)).filter(Boolean);
  if (pts.length) {
    out += `<polyline class="series" fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${p[0]},${p[1]}`).join(" ")}"/>`;
    for (const [px, py, p] of pts) {
      if (p.low !== undefined && p.high !== undefined) {
        out += `<line class="ci" x1="${px}" x2="${px}" y1="${y(p.high)}" y2="${y(p.low)}" stroke="${color}" stroke-opacity=".5" stroke-width="6"/>`;
      }
      out += `<circle cx="${px}" cy="${py}" r="3.5" fill="${color}"><title>${p.value.toFixed(3)}</title></circle>`;
    }
  }
  if (zeroShot !== null) {
    out += `<line class="zero-shot" x1="${L}" x2="${W - R}" y1="${y(zeroShot)}" y2="${y(zeroShot)}" stroke="#555" stroke-dasharray="5 4"/>`;
  }
  const legend = [[color, title.split(" (")[0].replace(/ on \d+ rated/, " on rated")]];
  if (zeroShot !== null) legend.push(["#555", `zero-shot ${zeroShot.toFixed(3)}`]);
  legend.forEach(([c, label], s) => {
    const lx = L + s * 250;
    out += `<rect x="${lx}" y="${H - 14}" width="10" height="10" fill="${c}"/>`
      + `<text class="legend" x="${lx + 14}" y="${H - 5}">${label}</text>`;
  });
  svg.innerHTML = out;
}

// ---------------------------------------------------------------- evaluation report
const fixed = (v) => Number(v).toFixed(3);

async function loadEvaluation() {
  if (!state.concept) return;
  const conceptId = state.concept.id;
  const report = (await api("GET", `/api/concepts/${conceptId}/evaluation`)).data;
  if (!showing(conceptId)) return;
  state.evaluation = report;
  $("evaluation-status").textContent = report.message;
  const table = $("evaluation");
  table.hidden = !report.ready;
  const [binaryHead, taskHead] = table.querySelectorAll("thead");
  binaryHead.hidden = isTask();
  taskHead.hidden = !isTask();
  const body = table.querySelector("tbody");
  body.innerHTML = "";
  for (const m of report.ready ? report.models : []) {
    const tr = document.createElement("tr");
    const cell = (text, className = "") => Object.assign(document.createElement("td"), { textContent: text, className });
    const withCi = (name) => {
      const ci = m.metrics.ci[name];
      return `${fixed(m.metrics[name])}${ci ? ` [${fixed(ci[0])}, ${fixed(ci[1])}]` : ""}`;
    };
    if (isTask()) {  // each class one-vs-rest, and the macro figures; an image is of its likeliest class
      const perClass = m.metrics.classes.map((name, i) =>
        `${name} ${m.metrics.auc_pr[i] === null ? "–" : fixed(m.metrics.auc_pr[i])}`).join(" · ");
      tr.append(cell(m.model), cell(withCi("macro_auc_pr")), cell(withCi("macro_f1"), "ci"),
                cell(withCi("accuracy"), "ci"), cell(perClass, "ci"), cell("likeliest class"));
    } else {
      tr.append(cell(m.model), cell(withCi("auc_pr")), cell(withCi("auc_roc"), "ci"), cell(withCi("f1"), "ci"),
                cell(withCi("accuracy"), "ci"), cell(String(m.threshold)));
    }
    body.appendChild(tr);
  }
  drawChart();
}

async function showEvaluation() {
  await guarded(loadEvaluation);
  $("evaluation-status").scrollIntoView({ block: "nearest" });
}

// Long-poll the latest version: the page learns of a new one (from any client) within a second. The
// first poll waits for the first version too; each answer's ETag is sent back to wait for the next.
async function watchVersions(conceptId) {
  if (state.pollingConcept === conceptId) return;
  state.pollingConcept = conceptId;
  let etag = null;
  const wait = Math.min(25, state.info.max_wait_seconds);
  while (state.pollingConcept === conceptId) {
    try {
      const r = await api("GET", `/api/concepts/${conceptId}/versions/latest?wait=${wait}`, undefined,
                          etag ? { "If-None-Match": etag } : {});
      if (r.status === 200 && showing(conceptId)
          && r.data.version !== (state.versions[state.versions.length - 1] || {}).version) await loadVersions();
      etag = r.etag || etag;
    } catch (e) {
      if (e.status === 404 && e.etag) { etag = e.etag; continue; }
      await new Promise((r) => setTimeout(r, 3000));
    }
  }
}

// ---------------------------------------------------------------- batch history
async function loadHistory() {
  if (!state.concept) return;
  const conceptId = state.concept.id;
  const batches = (await api("GET", `/api/concepts/${conceptId}/batches`)).data;
  if (!showing(conceptId)) return;
  const body = $("history").querySelector("tbody");
  body.innerHTML = "";
  for (const b of batches) {
    const tr = document.createElement("tr");
    for (const text of [b.id, b.round, b.purpose, b.source, b.model_version === null ? "–" : `v${b.model_version}`,
                        `${b.rated} / ${b.size}`, b.positive, b.skipped, b.created_at.slice(0, 19).replace("T", " ")]) {
      tr.appendChild(Object.assign(document.createElement("td"), { textContent: String(text) }));
    }
    body.appendChild(tr);
  }
}

// ---------------------------------------------------------------- browse the corpus by score
async function loadBrowse() {
  const version = Number($("browse-version").value);
  const { where, offset, limit } = state.browse;
  const page = (await api("GET", `/api/concepts/${state.concept.id}/versions/${version}/browse`
                          + `?where=${where}&offset=${offset}&limit=${limit}`)).data;
  const grid = $("browse-grid");
  grid.innerHTML = "";
  for (const item of page.items) {
    const tile = document.createElement("div");
    const answer = answerOf(item);
    tile.className = `tile browse-tile${answer ? ` ${answer}` : ""}`;
    tile.dataset.id = item.id;
    tile.dataset.score = item.score;
    const img = Object.assign(document.createElement("img"), { alt: `image ${item.id}` });
    loadImage(item.id).then((url) => { img.src = url; });
    tile.append(img, Object.assign(document.createElement("span"), { className: "id", textContent: `#${item.id}` }),
                Object.assign(document.createElement("span"), { className: "mark", textContent: MARKS[answer] || "" }),
                Object.assign(document.createElement("span"), { className: "score shown", textContent: item.score.toFixed(3) }));
    grid.appendChild(tile);
  }
  const names = { top: "highest scores first", threshold: "nearest the 0.5 threshold first", bottom: "lowest scores first" };
  $("browse-status").textContent = `v${version}, ${names[where]}: images ${offset + 1}–${offset + page.items.length} `
    + `of ${page.total.toLocaleString()}`;
  $("browse-prev").disabled = offset === 0;
  $("browse-next").disabled = offset + limit >= page.total;
}

const browseGuarded = () => guarded(loadBrowse);
$("open-browse").onclick = () => { $("browse").hidden = !$("browse").hidden; if (!$("browse").hidden) browseGuarded(); };
$("browse-where").onchange = () => { state.browse.where = $("browse-where").value; state.browse.offset = 0; browseGuarded(); };
$("browse-version").onchange = () => { state.browse.offset = 0; browseGuarded(); };
$("browse-prev").onclick = () => { state.browse.offset = Math.max(0, state.browse.offset - state.browse.limit); browseGuarded(); };
$("browse-next").onclick = () => { state.browse.offset += state.browse.limit; browseGuarded(); };

// ---------------------------------------------------------------- export
async function exportLabels(format) {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  const r = await fetch(`/api/concepts/${state.concept.id}/labels?format=${format}`, { headers });
  if (!r.ok) throw new ApiError(r.status, `${r.status}: labels not exported`);
  const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(await r.blob()),
                                                           download: `concept-${state.concept.id}-labels.${format}` });
  document.body.appendChild(link);
  link.click();
  link.remove();
}
for (const format of ["csv", "jsonl", "parquet"]) $(`export-${format}`).onclick = () => guarded(() => exportLabels(format));

// ---------------------------------------------------------------- keyboard
document.addEventListener("keydown", (ev) => {
  if (["INPUT", "TEXTAREA", "SELECT"].includes(ev.target.tagName) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if ((ev.key === "Enter" || ev.key === " ") && ev.target.tagName === "BUTTON") return;  // the button's own click
  if (!state.ready) { if (ev.key.length === 1 || ev.key === "Enter") ev.preventDefault(); return; }  // grid not shown yet
  if (!state.batch && ev.key !== "Enter") return;
  const step = state.mode === "grid" ? columns() : 1;
  if (isTask() && /^[0-9]$/.test(ev.key)) {  // a task's class by its key; digits rate nothing else here
    const index = classOfKey(ev.key);
    ev.preventDefault();
    if (index !== null) rate(`c${index}`);
    return;
  }
  if (isTask() && ["p", "n"].includes(ev.key.toLowerCase())) return;  // a task has no positive or negative
  const actions = {
    ArrowRight: () => setFocus(state.focus + 1), ArrowLeft: () => setFocus(state.focus - 1),
    ArrowDown: () => setFocus(state.focus + step), ArrowUp: () => setFocus(state.focus - step),
    p: () => rate("pos"), "1": () => rate("pos"), n: () => rate("neg"), "0": () => rate("neg"),
    s: () => rate("skip"), "?": () => rate("skip"),
    u: () => undo(), Backspace: () => undo(), v: () => toggleMode(), m: () => moreLikeThis(),
    Enter: () => {
      if (evaluating()) showEvaluation();  // evaluation ratings train nothing: Enter shows what they measure
      else submitBatch();
    },
  };
  const action = actions[ev.key] || actions[ev.key.toLowerCase()];
  if (action) { ev.preventDefault(); action(); }
});

start();

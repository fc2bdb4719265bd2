// The deployment panel: the concept's target and its honest status, export of a version, measured resources.
// Reads the rater's `state` and `api` (rater.js) and follows it by watching what the rater shows.
"use strict";

(() => {
  const panel = () => document.getElementById("deploy");
  let shownFor = null;
  let asked = 0;  // refreshes asked for: only the latest may write (an older GET can answer after a newer PUT)

  function statusLine(t) {
    if (t.refusal) return `cannot judge yet: ${t.refusal}`;
    if (!t.status) return "no status yet";
    return t.status.message;
  }

  async function refresh() {
    if (!state.concept || !panel()) return;
    panel().hidden = Boolean(state.concept.classes);  // targets and export read one score per image
    if (state.concept.classes) return;
    const id = state.concept.id;
    const owner = state.me && state.me.role === "owner";
    $("target-input").disabled = $("target-set").disabled = !owner;
    const latest = state.versions.length ? state.versions[state.versions.length - 1].version : null;
    $("export").disabled = latest === null;
    $("export").textContent = latest === null ? "Export (no version yet)" : `Export version ${latest}`;
    const mine = ++asked;
    try {
      const t = (await api("GET", `/api/concepts/${id}/target`)).data;
      if (!showing(id) || mine !== asked) return;  // the owner moved on, or a newer refresh is on its way
      $("target-understood").textContent = `Target: ${t.understood}`;
      $("target-status").textContent = statusLine(t);
      $("target-status").dataset.state = t.status ? t.status.state : "unknown";
      $("target-basis").textContent = t.status ? `Rests on: ${t.status.rests_on}` : "";
    } catch (e) {
      if (e.status !== 404) throw e;
      if (!showing(id) || mine !== asked) return;
      $("target-understood").textContent = "No target set.";
      $("target-status").textContent = "";
      $("target-status").dataset.state = "";
      $("target-basis").textContent = "";
    }
  }

  async function setTarget(event) {
    event.preventDefault();
    const sentence = $("target-input").value.trim();
    if (!sentence || !state.concept) return;
    await api("PUT", `/api/concepts/${state.concept.id}/target`, { sentence });
    $("target-input").value = "";
    await refresh();
  }

  async function exportLatest() {
    const latest = state.versions[state.versions.length - 1];
    if (!latest || !state.concept) return;
    const estimate = $("export-estimate").checked;
    $("export").disabled = true;
    $("export-note").textContent = estimate ? "exporting and measuring…" : "exporting…";
    try {
      const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
      const path = `/api/concepts/${state.concept.id}/versions/${latest.version}/export?estimate=${estimate}`;
      const response = await fetch(path, { headers });
      if (!response.ok) throw new Error(`${response.status}: ${(await response.json()).detail}`);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await response.blob());
      link.download = `concept-${state.concept.id}-v${latest.version}.zip`;
      link.click();
      URL.revokeObjectURL(link.href);
      $("export-note").textContent = `downloaded ${link.download} (ONNX, TorchScript, numpy scorer, model card)`;
    } finally {
      $("export").disabled = false;
    }
  }

  function watch() {
    // The rater redraws the title on a concept switch and the evaluation line after ratings and versions.
    const again = () => {
      const key = `${state.concept && state.concept.id}:${state.versions.length}:${$("evaluation-status").textContent}`;
      if (key === shownFor) return;
      shownFor = key;
      guarded(refresh);
    };
    const observer = new MutationObserver(again);
    for (const id of ["concept-title", "evaluation-status", "versions"]) {
      observer.observe($(id), { childList: true, characterData: true, subtree: true });
    }
    $("target-form").addEventListener("submit", (e) => guarded(() => setTarget(e)));
    $("export").addEventListener("click", () => guarded(exportLatest));
  }

  watch();
})();

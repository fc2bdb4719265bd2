// The assistant panel beside the grid: the current tip, the findings with their evidence and actions,
// Ask on the concept, a phrase, a version or an image (key A on the focused tile), a free question box,
// and the tips switch. It uses the rater's globals (state, api, loadImage, paint, guarded).
"use strict";

const assistant = (() => {
  const el = (tag, props = {}, ...children) => {
    const node = Object.assign(document.createElement(tag), props);
    node.append(...children.filter((c) => c !== null && c !== undefined));
    return node;
  };
  const box = () => document.getElementById("assistant-panel");
  let conceptId = null;

  function thumb(id, rating) {
    const img = el("img", { alt: `image ${id}`, title: `#${id}` });
    loadImage(id).then((url) => { img.src = url; });
    const cls = rating === true ? " pos" : rating === false ? " neg" : "";
    const fig = el("figure", { className: `thumb${cls}` }, img, el("figcaption", { textContent: `#${id}` }));
    fig.dataset.id = id;
    fig.onclick = () => guarded(() => askImage(id));
    return fig;
  }

  function thumbs(ids, ratings = {}) {
    return el("div", { className: "thumbs" }, ...ids.map((id) => thumb(id, ratings[id])));
  }

  // Follow an action: the request it names, then what it changes in the rater.
  async function follow(action, card) {
    const r = await api(action.method, action.path, action.body === null ? undefined : action.body);
    const rated = action.path.match(/\/ratings\/(\d+)$/);
    if (rated && state.batch) {
      const item = state.batch.items.find((it) => it.id === Number(rated[1]));
      if (item) { item.rating = action.body.positive; item.answer = item.rating ? "pos" : "neg"; paint(); }
    }
    if (rated && r.data) { state.concept.rated = r.data.rated; updateCounter(); }
    if (action.method === "PATCH" && r.data && r.data.positives) { state.concept = r.data; showPhrases(); }
    if (card) card.classList.add("done");
    await refresh();
  }

  function findingCard(f) {
    const card = el("div", { className: `finding ${f.severity}` });
    card.dataset.kind = f.kind;
    card.dataset.key = f.key;
    card.append(el("div", { className: "finding-title", textContent: f.title }),
                el("p", { textContent: f.message }));
    if (f.evidence.groups.length) {
      for (const g of f.evidence.groups) {
        if (g.image_ids.length) card.append(el("div", { className: "group-label", textContent: g.label }), thumbs(g.image_ids));
      }
    } else if (f.evidence.image_ids.length) {
      card.append(thumbs(f.evidence.image_ids));
    }
    if (f.actions.length) {
      const row = el("div", { className: "actions" });
      for (const a of f.actions) {
        const b = el("button", { type: "button", className: "action", textContent: a.label });
        b.onclick = () => guarded(() => follow(a, card));
        row.append(b);
      }
      card.append(row);
    }
    return card;
  }

  function skeleton() {
    const tipsOn = el("input", { type: "checkbox", id: "assistant-tips", checked: true });
    tipsOn.onchange = () => guarded(async () => {
      await api("PUT", "/api/me/assistant", { tips: tipsOn.checked });
      if (!tipsOn.checked) document.getElementById("assistant-tip").hidden = true;
    });
    const target = el("select", { id: "assistant-target", title: "what to ask about" });
    const question = el("input", { id: "assistant-question", placeholder: "ask a question (optional)", maxLength: 1000 });
    const form = el("form", { id: "assistant-ask-form", className: "ask" }, target, question,
                    el("button", { type: "submit", textContent: "Ask" }));
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const [kind, value] = target.value.split(":");
      const t = kind === "phrase" ? { kind, phrase: value } : kind === "version" ? { kind, version: Number(value) } : { kind };
      guarded(() => ask(t, question.value));
    };
    const refreshButton = el("button", { type: "button", id: "assistant-refresh", textContent: "Refresh" });
    refreshButton.onclick = () => guarded(refresh);
    box().replaceChildren(
      el("div", { className: "assistant-head" }, el("h2", { textContent: "Assistant" }),
         el("label", { className: "switch" }, tipsOn, " tips"), refreshButton),
      el("div", { id: "assistant-tip", className: "tip", hidden: true }),
      form,
      el("div", { id: "assistant-answer", className: "answer", hidden: true, "aria-live": "polite" }),
      el("h3", { textContent: "Findings" }),
      el("div", { id: "assistant-findings" }));
  }

  function fillTargets() {
    const select = document.getElementById("assistant-target");
    if (!select || !state.concept) return;
    const options = [["concept", "the concept"],
                     ...[...state.concept.positives, ...state.concept.negatives].map((p) => [`phrase:${p}`, `phrase '${p}'`]),
                     ...(state.versions || []).slice().reverse().map((v) => [`version:${v.version}`, `version ${v.version}`])];
    const keep = select.value;
    select.replaceChildren(...options.map(([value, text]) => el("option", { value, textContent: text })));
    if (options.some(([v]) => v === keep)) select.value = keep;
  }

  async function refresh() {
    if (conceptId === null) return;
    const id = conceptId;
    let advice;
    try {
      advice = (await api("GET", `/api/concepts/${id}/advice`)).data;
    } catch (e) {
      if (e.status === 404) return;  // the concept was just deleted: nothing to advise on
      throw e;
    }
    if (conceptId !== id) return;
    document.getElementById("assistant-tips").checked = advice.tips_on;
    const list = document.getElementById("assistant-findings");
    list.replaceChildren(...(advice.findings.length ? advice.findings.map(findingCard)
      : [el("p", { className: "muted", textContent: "Nothing to report yet: rate a batch." })]));
    fillTargets();
  }

  function showAnswer(answer, heading) {
    const out = document.getElementById("assistant-answer");
    out.hidden = false;
    out.replaceChildren(el("div", { className: "finding-title", textContent: heading }),
                        el("p", { className: "answer-text", textContent: answer.text }),
                        el("div", { className: "muted source", textContent: `worded by: ${answer.source}` }));
    const f = answer.facts || {};
    if (f.neighbours && f.neighbours.length) {
      const ratings = Object.fromEntries(f.neighbours.map((n) => [n.id, n.rating]));
      out.append(el("div", { className: "group-label", textContent: "nearest rated images" }),
                 thumbs(f.neighbours.map((n) => n.id), ratings));
    }
    for (const finding of answer.findings) out.append(findingCard(finding));
    out.scrollIntoView({ block: "nearest" });
  }

  async function ask(target, question) {
    if (conceptId === null) return;
    const body = { target };
    if (question && question.trim()) body.question = question.trim();
    const answer = (await api("POST", `/api/concepts/${conceptId}/ask`, body)).data;
    const what = target.kind === "image" ? `image #${target.image}` : target.kind === "phrase" ? `'${target.phrase}'`
      : target.kind === "version" ? `version ${target.version}` : "the concept";
    showAnswer(answer, `About ${what}`);
  }

  const askImage = (id) => ask({ kind: "image", image: id });

  async function show(id) {
    const task = Boolean(state.concept && state.concept.classes);  // its findings read one score per image
    conceptId = task ? null : id;
    main().classList.toggle("with-assistant", !task);
    box().hidden = task;
    if (task) return;
    skeleton();
    await guarded(refresh);
  }

  // After a batch, round or evaluation: at most one new tip (the server remembers what was shown).
  async function after(event) {
    if (conceptId === null || state.me.role !== "owner") return;
    await guarded(async () => {
      const r = (await api("POST", `/api/concepts/${conceptId}/tips`, { event })).data;
      await refresh();
      const tip = document.getElementById("assistant-tip");
      if (!r.tip) { tip.hidden = true; return; }
      const card = findingCard({ ...r.tip, message: r.text || r.tip.message });
      const dismiss = el("button", { type: "button", className: "dismiss", textContent: "Dismiss" });
      dismiss.onclick = () => guarded(async () => {
        await api("POST", `/api/concepts/${conceptId}/tips/dismiss`, { key: r.tip.key });
        tip.hidden = true;
      });
      tip.replaceChildren(el("div", { className: "tip-label", textContent: "Tip" }), card, dismiss);
      tip.hidden = false;
    });
  }

  const main = () => document.getElementById("app");

  // "What kind of classifier would you like to create?": phrases before the first batch.
  function conceptFormHelp() {
    const name = document.getElementById("concept-name");
    if (!name || document.getElementById("assistant-first")) return;
    const list = el("div", { id: "assistant-first-list", className: "first-phrases" });
    const button = el("button", { type: "button", id: "assistant-first", textContent: "Suggest phrases" });
    button.onclick = () => guarded(async () => {
      const text = name.value.trim();
      if (!text) return;
      const r = (await api("GET", `/api/assistant/phrases?text=${encodeURIComponent(text)}`)).data;
      list.replaceChildren(...(r.suggestions.length ? r.suggestions.map((s) => {
        const chip = el("button", { type: "button", className: "chip", textContent: `+ ${s.phrase}` });
        chip.onclick = () => {
          const area = document.getElementById("concept-positives");
          area.value = [...area.value.split("\n").filter((l) => l.trim()), s.phrase].join("\n");
          chip.disabled = true;
        };
        return chip;
      }) : [el("span", { className: "muted", textContent: r.source || "no suggestions" })]));
    });
    const label = name.closest("label");
    label.after(el("div", { className: "first-help" },
                   el("small", { textContent: "What kind of classifier would you like to create? Type it as the name, then " }),
                   button, list));
  }

  document.addEventListener("keydown", (ev) => {
    if (["INPUT", "TEXTAREA", "SELECT"].includes(ev.target.tagName) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key.toLowerCase() !== "a" || !state.batch || conceptId === null) return;
    const item = state.batch.items[state.focus];
    if (item) { ev.preventDefault(); guarded(() => askImage(item.id)); }
  });

  conceptFormHelp();
  return { show, after, refresh, ask, askImage };
})();
window.assistant = assistant;

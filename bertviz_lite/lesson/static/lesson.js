/* bertviz-lite: the lesson as a static page (predict, reveal, explain), offline.
 *
 * Reads window.BERTVIZ_LESSON (assets/lesson-data.js, written by `bertviz-lite lesson export`)
 * and draws one step at a time. The explanation is computed here from the exported answer:
 * compare() and plainNumber() are ports of bertviz_lite/lesson/explain.py and
 * figures/text.py (the export test checks the words against Python's, step by step).
 * Progress (the step and each revealed prediction) is kept in this browser's localStorage.
 */
(function () {
  "use strict";
  const L = window.BERTVIZ_LESSON;
  const root = document.getElementById("lesson");
  const STORE = "bertviz-lesson-" + L.id;
  const N = L.steps.length;

  // -- numbers and words, as explain.py writes them --------------------------------------------
  function grouped(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function g3(x) { // Python's format(x, ".3g")
    if (x === 0) return "0";
    const [m, e] = x.toExponential(2).split("e");
    const exp = parseInt(e, 10);
    if (exp < -4 || exp >= 3) {
      const a = Math.abs(exp);
      return m.replace(/\.?0+$/, "") + "e" + (exp < 0 ? "-" : "+") + (a < 10 ? "0" + a : a);
    }
    let s = x.toFixed(Math.max(0, 2 - exp));
    if (s.indexOf(".") >= 0) s = s.replace(/\.?0+$/, "");
    return s;
  }
  function plainNumber(x) { return x >= 100 ? grouped(Math.round(x)) : g3(x); }
  function names(items) { return items.length ? items.join(", ") : "nothing"; }
  function spearman(a, b) {
    const n = b.length;
    if (n < 2 || a.slice().sort().join("\u0000") !== b.slice().sort().join("\u0000")) return NaN;
    const rank = {}; b.forEach((g, i) => { rank[g] = i; });
    let d2 = 0; a.forEach((g, i) => { d2 += (i - rank[g]) ** 2; });
    return 1 - 6 * d2 / (n * (n * n - 1));
  }
  function compare(kind, pred, answer, tolerance) {
    const v = answer.value;
    if (kind === "layers") {
      pred = pred || [];
      const missed = v.filter(g => pred.indexOf(g) < 0), extra = pred.filter(g => v.indexOf(g) < 0);
      return [!missed.length && !extra.length, {prediction: names(pred), answer: names(v),
              missed: names(missed), extra: names(extra)}];
    }
    if (kind === "log-number") {
      const factor = Math.max(pred, v) / Math.min(pred, v), within = factor <= tolerance;
      const direction = factor < 1.05 ? "spot on" : within
        ? "close: within a factor " + plainNumber(tolerance) + ", counted as right"
        : (pred > v ? "too high" : "too low");
      return [within, {prediction: plainNumber(pred), answer: plainNumber(v),
              factor: plainNumber(factor), direction: direction, tolerance: plainNumber(tolerance)}];
    }
    if (kind === "choice") {
      const say = o => (o in answer.labels ? answer.labels[o] : o);
      return [pred === v, {prediction: say(String(pred)), answer: say(String(v))}];
    }
    if (kind === "order") {
      pred = pred || [];
      const rho = spearman(pred, v);
      const right = isFinite(rho) && rho >= 0.8 && pred.length > 0 && pred[0] === v[0];
      return [right, {prediction: pred.join(" > "), answer: v.join(" > "),
              predicted_most: pred.length ? pred[0] : "nothing",
              rho: isFinite(rho) ? rho.toFixed(2) : "n/a"}];
    }
    return [true, {}];
  }
  function fill(t, fields) { return t.replace(/\{(\w+)\}/g, (m, k) => (k in fields ? fields[k] : m)); }
  function explain(step, pred) {
    const [right, f] = compare(step.kind, pred, step.answer, step.tolerance);
    const fields = Object.assign({}, step.answer.detail, f, {score: right ? "right" : "not quite"});
    const parts = [right ? step.explain.right : step.explain.wrong, step.explain.why]
      .filter(Boolean).map(t => fill(t, fields));
    return {right: right, text: parts.join(" "), fields: fields};
  }

  // -- progress in this browser ----------------------------------------------------------------
  function load() {
    try { const s = JSON.parse(localStorage.getItem(STORE) || "{}"); return s && s.revealed ? s : {revealed: {}}; }
    catch (e) { return {revealed: {}}; }
  }
  function save() { try { localStorage.setItem(STORE, JSON.stringify(state)); } catch (e) { /* private mode */ } }
  const state = load();
  const draft = {}; // predictions made but not revealed yet

  // -- drawing -----------------------------------------------------------------------------------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "text") e.textContent = v; else if (k === "html") e.innerHTML = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    kids.forEach(k => k && e.appendChild(k));
    return e;
  }
  function stepFromHash() {
    const m = /step=(\d+)/.exec(location.hash);
    return m ? Math.min(Math.max(parseInt(m[1], 10), 1), N) : null;
  }
  let current = stepFromHash() || state.step || 1;

  function go(n) {
    current = Math.min(Math.max(n, 1), N);
    state.step = current; save();
    history.replaceState(null, "", "#step=" + current);
    draw();
    window.scrollTo(0, 0);
  }

  function widget(step, done) {
    const box = el("div", {class: "prediction", "data-kind": step.kind});
    const a = step.answer, shown = state.revealed[step.id];
    const value = shown !== undefined ? shown : draft[step.id];
    const set = v => { draft[step.id] = v; draw(); };
    if (step.kind === "layers") {
      const picked = value || [];
      a.options.forEach(o => {
        const b = el("button", {class: "pill" + (picked.indexOf(o) >= 0 ? " on" : ""), "data-option": o,
          text: o, "aria-pressed": String(picked.indexOf(o) >= 0),
          onclick: () => set(a.options.filter(g => g === o ? picked.indexOf(g) < 0 : picked.indexOf(g) >= 0))});
        b.disabled = !!done; box.appendChild(b);
      });
      return [box, picked, true];
    }
    if (step.kind === "log-number") {
      const stops = step.stops, v = value === undefined ? stops[Math.floor(stops.length / 2)] : value;
      const idx = Math.max(0, stops.indexOf(v));
      const out = el("output", {text: plainNumber(stops[idx]) + step.unit});
      const range = el("input", {type: "range", min: "0", max: String(stops.length - 1), step: "1",
        value: String(idx), "aria-label": "Your prediction (log scale)",
        oninput: e => { out.textContent = plainNumber(stops[+e.target.value]) + step.unit; },
        onchange: e => set(stops[+e.target.value])});
      if (done) range.disabled = true;
      box.append(range, out);
      return [box, v, true];
    }
    if (step.kind === "choice") {
      a.options.forEach((o, i) => {
        const id = step.id + "-opt-" + i;
        const input = el("input", {type: "radio", name: step.id, id: id, value: o,
                                   onchange: () => set(o)});
        input.checked = value === o; input.disabled = !!done;
        box.appendChild(el("label", {for: id, class: "choice"}, input,
                           el("span", {text: o in a.labels ? a.labels[o] : o})));
      });
      return [box, value === undefined ? null : value, value !== undefined && value !== null];
    }
    // order: click the groups, most changed first
    const order = value || [];
    box.appendChild(el("p", {class: "hint", text: "Click the groups in order, most changed first" +
                                                   (order.length ? ": " + order.join(" > ") : ".")}));
    a.options.forEach(o => {
      const b = el("button", {class: "pill" + (order.indexOf(o) >= 0 ? " on" : ""), "data-order-option": o,
        text: (order.indexOf(o) >= 0 ? (order.indexOf(o) + 1) + ". " : "") + o,
        onclick: () => set(order.indexOf(o) >= 0 ? order.filter(g => g !== o) : order.concat([o]))});
      b.disabled = !!done; box.appendChild(b);
    });
    return [box, order, order.length === a.options.length];
  }

  function views(step) {
    const wrap = el("div", {class: "views"});
    const tabs = el("div", {class: "tabs", role: "tablist"});
    const panel = el("div", {class: "panel"});
    const show = i => {
      [...tabs.children].forEach((t, j) => t.setAttribute("aria-selected", String(i === j)));
      panel.querySelectorAll(".bvs-root").forEach(r => r.__bvs && r.__bvs.destroy());
      panel.innerHTML = "";
      const v = step.views[i];
      if (v.html) { panel.innerHTML = v.html; return; }
      if (v.stack) {  // the animated stack: the player of assets/stack.js
        const box = el("div", {class: "bvs-root"});
        panel.appendChild(box);
        new BertvizStack(box, v.stack);
        return;
      }
      const div = el("div", {class: "figure"});
      panel.appendChild(div);
      const fig = v.figure;
      Plotly.newPlot(div, {data: fig.data, layout: Object.assign({}, fig.layout, {autosize: true}),
                           frames: fig.frames || []},
                     {responsive: true, displaylogo: false});
    };
    step.views.forEach((v, i) => tabs.appendChild(el("button", {role: "tab", text: v.label,
                                                               "data-view": v.name, onclick: () => show(i)})));
    if (step.views.length > 1) wrap.appendChild(tabs);
    wrap.appendChild(panel);
    setTimeout(() => step.views.length && show(0), 0);
    return wrap;
  }

  function summary() {
    const rows = L.steps.map((s, i) => [s, i]).filter(([s]) => s.answer && s.id in state.revealed);
    const box = el("div", {class: "summary"});
    if (!rows.length) { box.appendChild(el("p", {text: "Reveal some steps first: your predictions are compared here."})); return box; }
    const table = el("table", {}, el("thead", {}, el("tr", {}, ...["step", "you predicted", "measured", "right"].map(h => el("th", {text: h})))));
    const body = el("tbody");
    let right = 0;
    rows.forEach(([s, i]) => {
      const v = explain(s, state.revealed[s.id]);
      right += v.right ? 1 : 0;
      body.appendChild(el("tr", {}, ...[String(i + 1), v.fields.prediction || "", v.fields.answer || "",
                                        v.right ? "yes" : "no"].map(t => el("td", {text: t}))));
    });
    table.appendChild(body);
    box.append(el("p", {class: "score", text: "Your predictions: " + right + " of " + rows.length + " right"}), table);
    return box;
  }

  function startOver() {
    state.revealed = {}; Object.keys(draft).forEach(k => delete draft[k]);
    go(1);
  }

  function draw() {
    const step = L.steps[current - 1];
    const done = step.id in state.revealed;
    root.innerHTML = "";
    root.setAttribute("data-step", step.id);
    const nav = el("nav", {class: "nav"},
      el("button", {class: "back", text: "Back", onclick: () => go(current - 1)}),
      el("span", {class: "progress", text: L.title + " · step " + current + " of " + N},
         el("span", {class: "bar", style: "width:" + (100 * current / N) + "%"})),
      el("button", {class: "next primary", text: "Next", onclick: () => go(current + 1)}));
    nav.querySelector(".back").disabled = current === 1;
    nav.querySelector(".next").disabled = current === N;
    root.appendChild(nav);
    if (current === 1) root.appendChild(el("div", {class: "intro", html: L.intro}));
    root.appendChild(el("h2", {text: current + ". " + step.title}));
    const left = el("section", {class: "left"}), right = el("section", {class: "right"});
    left.appendChild(el("div", {class: "text", html: step.html}));
    if (step.kind !== "none") {
      left.appendChild(el("p", {class: "question"}, el("strong", {text: "Predict: "}), document.createTextNode(step.question)));
      const [box, pred, complete] = widget(step, done);
      left.appendChild(box);
      if (!done) {
        const b = el("button", {class: "reveal primary", text: "Reveal",
                                onclick: () => { state.revealed[step.id] = pred; save(); draw(); }});
        b.disabled = !complete; left.appendChild(b);
        right.appendChild(el("p", {class: "info", text: "Make your prediction, then press Reveal: the recorded result appears here."}));
      } else {
        const v = explain(step, state.revealed[step.id]);
        left.appendChild(el("div", {class: "explanation " + (v.right ? "right" : "wrong"), role: "status", text: v.text}));
        left.appendChild(el("p", {class: "how", text: "Measured: " + step.answer.how + "."}));
        right.appendChild(views(step));
      }
    } else {
      right.appendChild(summary());
      right.appendChild(el("button", {class: "start-over", text: "Start over", onclick: startOver}));
    }
    if (step.try_it) left.appendChild(el("p", {class: "try", text: "Run it yourself in the app: /" + step.try_it}));
    root.appendChild(el("div", {class: "columns"}, left, right));
    root.appendChild(el("footer", {text: "Recorded with bertviz-lite; runs offline from this folder. Kept in this browser: your predictions. "},
                        el("button", {class: "link start-over-all", text: "Start over", onclick: startOver})));
    root.appendChild(glossary());
  }

  function glossary() {
    const list = el("dl");
    (L.glossary || []).forEach(t => {
      list.append(el("dt", {id: "glossary-" + t.id, text: t.name}), el("dd", {text: t.text}));
      if (t.id === "gradient-norm" && L.why_grow) list.appendChild(el("dd", {class: "why", text: L.why_grow}));
    });
    return el("details", {id: "glossary"}, el("summary", {text: "Glossary"}), list);
  }
  root.addEventListener("click", e => { // a term's link opens the glossary at its entry
    const a = e.target.closest("a[href^='#glossary-']");
    if (!a) return;
    e.preventDefault();
    document.getElementById("glossary").open = true;
    const entry = document.getElementById(a.getAttribute("href").slice(1));
    if (entry) entry.scrollIntoView({block: "center"});
  });

  document.addEventListener("keydown", e => {
    if (e.key === "PageDown") { e.preventDefault(); go(current + 1); }
    if (e.key === "PageUp") { e.preventDefault(); go(current - 1); }
  });
  window.addEventListener("hashchange", () => { const n = stepFromHash(); if (n && n !== current) go(n); });
  window.bertvizLesson = {explain: explain, plainNumber: plainNumber, go: go, state: state};
  go(current);
})();

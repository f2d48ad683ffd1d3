/* bertviz-lite: the lesson's player (predict, reveal, explain), drawn in the browser.
 *
 * BertvizLesson(root, L, opts) draws the lesson L (the data of `lesson_data` in export.py) into
 * `root`, one step at a time. The explanation is computed here from the exported answer:
 * compare() and plainNumber() are ports of bertviz_lite/lesson/explain.py and
 * figures/text.py (the export test checks the words against Python's, step by step).
 *
 * Two homes:
 * - the static export (index.html): window.BERTVIZ_LESSON and <main id="lesson">, progress in
 *   this browser's localStorage and the step in the address (#step=4);
 * - a student's page in a class (bertviz_lite/ui/class_player.py): opts.klass follows the
 *   instructor's step from the class's state route, sends predictions, and reveals a step when
 *   the instructor does, with the class's answers; progress in the lesson's cookie, shared with
 *   the app's own Lesson page.
 */
function BertvizLesson(root, L, opts) {
  "use strict";
  opts = opts || {};
  const K = opts.klass || null;  // in a class: {code, stateUrl, answersUrl, send, sent, ...}
  const STORE = opts.store || localStore("bertviz-lesson-" + L.id);
  const useHash = !K;
  const N = L.steps.length;
  const idOf = {}; L.steps.forEach((s, i) => { idOf[s.id] = i + 1; });

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
    const s = STORE.load();
    return s && typeof s === "object" && s.revealed && typeof s.revealed === "object"
      ? s : {revealed: {}};
  }
  function save() { STORE.save({step: state.step || current, revealed: state.revealed}); }
  const state = load();
  const draft = {}; // predictions made but not revealed yet
  // the class: its step (1-based, null before the instructor picked one), whether this student
  // follows it, their sent predictions, the class's answers of revealed steps (figures)
  const cls = K ? {step: K.step ? idOf[K.step] || null : null, open: true, following: true,
                   sent: Object.assign({}, K.sent || {}), answers: {}, revealed: []} : null;
  if (cls) Object.keys(cls.sent).forEach(id => { if (!(id in state.revealed)) draft[id] = cls.sent[id]; });
  const inClass = () => cls !== null && cls.open;

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
  let current = (cls && cls.step) || (useHash && stepFromHash()) || state.step || 1;

  function show(n) {  // draw step n; the address and the stored progress follow
    current = Math.min(Math.max(n, 1), N);
    state.step = current; save();
    if (useHash) history.replaceState(null, "", "#step=" + current);
    draw();
  }
  function go(n) {  // the student moves: in a class, following again only at the class's step
    if (cls) cls.following = cls.step === null || Math.min(Math.max(n, 1), N) === cls.step;
    show(n);
    if (useHash) window.scrollTo(0, 0); else root.scrollIntoView({block: "nearest"});
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
      const stops = step.stops, v = value === undefined || value === null ? stops[Math.floor(stops.length / 2)] : value;
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

  function ready() { return opts.ready ? opts.ready() : Promise.resolve(); }  // Plotly loaded

  function plot(div, fig) {
    ready().then(() => {
      if (!div.isConnected) return;  // the step changed meanwhile
      Plotly.newPlot(div, {data: fig.data, layout: Object.assign({}, fig.layout, {autosize: true}),
                           frames: fig.frames || []},
                     {responsive: true, displaylogo: false});
    }, () => { div.textContent = "The figure could not be loaded: reload the page."; });
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
      plot(div, v.figure);
    };
    step.views.forEach((v, i) => tabs.appendChild(el("button", {role: "tab", text: v.label,
                                                               "data-view": v.name, onclick: () => show(i)})));
    if (step.views.length > 1) wrap.appendChild(tabs);
    wrap.appendChild(panel);
    setTimeout(() => step.views.length && show(0), 0);
    return wrap;
  }

  // -- the class ---------------------------------------------------------------------------------
  function classAnswers(step) {  // the class's predictions, drawn once the step is revealed
    const box = el("div", {class: "class-answers", "data-step": step.id},
                   el("h3", {text: "The class's predictions"}));
    const drawIt = a => {
      if (!box.isConnected && box.parentNode) return;
      if (!a.votes) { box.appendChild(el("p", {class: "hint", text: "Nobody in the class sent a prediction for this step."})); return; }
      const div = el("div", {class: "figure poll"});
      box.appendChild(div);
      plot(div, a.figure);
    };
    if (cls.answers[step.id]) drawIt(cls.answers[step.id]);
    else {
      fetch(K.answersUrl(step.id), {cache: "no-store", credentials: "same-origin"})
        .then(r => (r.ok ? r.json() : Promise.reject(r.status)))
        .then(a => { cls.answers[step.id] = a; drawIt(a); },
              () => box.appendChild(el("p", {class: "hint", text: "The class's predictions could not be read: reload the page to try again."})));
    }
    return box;
  }

  function sameValue(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  function sendBox(step, pred, complete) {  // a student in a class sends, then waits
    const sent = step.id in cls.sent;
    const b = el("button", {class: "send primary", text: "Send my prediction", onclick: () => {
      cls.sent[step.id] = pred; K.send(step.id, pred); draw(); }});
    b.disabled = !complete;
    const note = !sent ? "Your answer is anonymous; you can change it until the reveal."
      : sameValue(cls.sent[step.id], pred) ? "Sent; you can change it until the reveal."
      : "Changed but not sent: press Send to change your answer.";
    return [b, el("p", {class: "hint sent-note", text: note}),
            el("p", {class: "waiting", role: "status", text: "Waiting for your instructor to reveal this step..."})];
  }

  function apply(s) {  // the class's state from the route: follow, reveal, or end
    let redraw = false;
    if (!s.open) { cls.open = false; stop(); draw(); return; }
    const at = s.step ? idOf[s.step] || null : null;
    if (at !== cls.step) { cls.step = at; redraw = true; }
    (s.revealed || []).forEach(id => {
      const n = idOf[id];
      if (!n || id in state.revealed || L.steps[n - 1].kind === "none") return;
      state.revealed[id] = id in cls.sent ? cls.sent[id] : (id in draft ? draft[id] : null);
      save();
      if (n === current) redraw = true;
    });
    if (cls.following && cls.step && cls.step !== current) show(cls.step);
    else if (redraw) draw();
  }

  let timer = null, stopped = !K;
  async function ask() {
    timer = null;
    try {
      const r = await fetch(K.stateUrl, {cache: "no-store", credentials: "same-origin"});
      if (r.status === 404) { apply({open: false}); return; }  // the session is gone
      if (r.ok) apply(await r.json());
    } catch (e) { /* the server is busy or away: ask again */ }
    if (!stopped) timer = setTimeout(ask, document.hidden ? K.hidden_ms : K.every_ms);
  }
  function stop() { stopped = true; if (timer !== null) clearTimeout(timer); timer = null; }
  function wake() {  // back from another tab: ask now, not at the slow pace's next tick
    if (!document.hidden && timer !== null) { clearTimeout(timer); timer = setTimeout(ask, 0); }
  }

  // -- the summary -------------------------------------------------------------------------------
  function summary() {
    const rows = L.steps.map((s, i) => [s, i]).filter(([s]) => s.answer && s.id in state.revealed
                                                           && state.revealed[s.id] !== null);
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
    if (cls) cls.sent = {};  // the class keeps what was sent; this screen starts afresh
    go(1);
  }

  function verdict(step) {  // the explanation of a revealed step, or the answer alone
    const pred = state.revealed[step.id];
    if (pred === null) {
      const f = compare(step.kind, step.answer.value, step.answer, step.tolerance)[1];
      return el("div", {class: "explanation none", role: "status",
                        text: "You sent no prediction for this step. Measured: " + f.answer + "."});
    }
    const v = explain(step, pred);
    return el("div", {class: "explanation " + (v.right ? "right" : "wrong"), role: "status", text: v.text});
  }

  function draw() {
    const step = L.steps[current - 1];
    const done = step.id in state.revealed;
    const classOn = inClass();
    root.querySelectorAll(".bvs-root").forEach(r => r.__bvs && r.__bvs.destroy());
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
    if (cls && !cls.open) root.appendChild(el("p", {class: "notice", role: "status",
      text: "This class session has ended: you are working on your own (Reveal shows each result)."}));
    if (classOn && cls.step && cls.step !== current) {
      const to = cls.step;
      root.appendChild(el("button", {class: "back-to-class primary", text: "↩ Back to the class (step " + to + ")",
                                     onclick: () => { cls.following = true; show(to); }}));
    }
    if (current === 1) root.appendChild(el("div", {class: "intro", html: L.intro}));
    root.appendChild(el("h2", {text: current + ". " + step.title}));
    const left = el("section", {class: "left"}), right = el("section", {class: "right"});
    left.appendChild(el("div", {class: "text", html: step.html}));
    if (step.kind !== "none") {
      left.appendChild(el("p", {class: "question"}, el("strong", {text: "Predict: "}), document.createTextNode(step.question)));
      const [box, pred, complete] = widget(step, done);
      left.appendChild(box);
      if (!done && classOn) {
        left.append(...sendBox(step, pred, complete));
        right.appendChild(el("p", {class: "info", text: "Make your prediction and send it: the recorded result appears here when your instructor reveals it."}));
      } else if (!done) {
        const b = el("button", {class: "reveal primary", text: "Reveal",
                                onclick: () => { state.revealed[step.id] = pred; save(); draw(); }});
        b.disabled = !complete; left.appendChild(b);
        right.appendChild(el("p", {class: "info", text: "Make your prediction, then press Reveal: the recorded result appears here."}));
      } else {
        left.appendChild(verdict(step));
        left.appendChild(el("p", {class: "how", text: "Measured: " + step.answer.how + "."}));
        right.appendChild(views(step));
        if (cls) right.appendChild(classAnswers(step));
      }
    } else {
      right.appendChild(summary());
      right.appendChild(el("button", {class: "start-over", text: "Start over", onclick: startOver}));
    }
    if (step.try_it) left.appendChild(opts.tryLink  // in the app: a link to the page that runs it
      ? el("p", {class: "try"}, el("a", {href: opts.tryLink(step.try_it), text: "▶ Run it yourself"}))
      : el("p", {class: "try", text: "Run it yourself in the app: /" + step.try_it}));
    root.appendChild(el("div", {class: "columns"}, left, right));
    root.appendChild(el("footer", {text: (K ? "Your predictions are kept in this browser. "
                                            : "Recorded with bertviz-lite; runs offline from this folder. Kept in this browser: your predictions. ")},
                        el("button", {class: "link start-over-all", text: "Start over", onclick: startOver})));
    root.appendChild(glossary());
  }

  function glossary() {
    const list = el("dl");
    (L.glossary || []).forEach(t => {
      list.append(el("dt", {id: "glossary-" + t.id, text: t.name}), el("dd", {text: t.text}));
      if (t.id === "gradient-norm" && L.why_grow) list.appendChild(el("dd", {class: "why", text: L.why_grow}));
    });
    return el("details", {id: "glossary", class: "glossary"}, el("summary", {text: "Glossary"}), list);
  }
  root.addEventListener("click", e => { // a term's link opens the glossary at its entry
    const a = e.target.closest("a[href^='#glossary-']");
    if (!a) return;
    e.preventDefault();
    const g = root.querySelector(".glossary");
    g.open = true;
    const entry = g.querySelector("[id='" + a.getAttribute("href").slice(1) + "']");
    if (entry) entry.scrollIntoView({block: "center"});
  });

  const keys = e => {
    if (e.key === "PageDown") { e.preventDefault(); go(current + 1); }
    if (e.key === "PageUp") { e.preventDefault(); go(current - 1); }
  };
  const hash = () => { const n = stepFromHash(); if (n && n !== current) go(n); };
  document.addEventListener("keydown", keys);
  if (useHash) window.addEventListener("hashchange", hash);
  if (K) { document.addEventListener("visibilitychange", wake); timer = setTimeout(ask, 0); }
  show(current);
  return {
    explain: explain, plainNumber: plainNumber, go: go, state: state,
    update(k) {  // new data from the page (a class: this browser's sent predictions)
      if (!cls || sameValue(k.sent || {}, cls.sent)) return;
      cls.sent = Object.assign({}, k.sent || {});
      draw();
    },
    destroy() {
      stop();
      document.removeEventListener("keydown", keys);
      document.removeEventListener("visibilitychange", wake);
      window.removeEventListener("hashchange", hash);
      root.querySelectorAll(".bvs-root").forEach(r => r.__bvs && r.__bvs.destroy());
    },
  };
}

// -- where progress is kept ------------------------------------------------------------------------
function localStore(key) {  // the static export: this browser's localStorage
  return {
    load() { try { return JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { return null; } },
    save(v) { try { localStorage.setItem(key, JSON.stringify(v)); } catch (e) { /* private mode */ } },
  };
}

function cookieStore(name, days) {  // the app: the lesson's cookie (ui/lesson_progress.py's form)
  const b64 = s => btoa(String.fromCharCode(...new TextEncoder().encode(s)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const unb64 = s => new TextDecoder().decode(Uint8Array.from(
    atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), c => c.charCodeAt(0)));
  return {
    load() {
      const m = document.cookie.split("; ").find(c => c.startsWith(name + "="));
      try { return m ? JSON.parse(unb64(m.slice(name.length + 1))) : null; } catch (e) { return null; }
    },
    save(v) {  // a step revealed without a prediction is shown, not kept
      const revealed = {};
      Object.entries(v.revealed || {}).forEach(([k, p]) => { if (p !== null) revealed[k] = p; });
      document.cookie = name + "=" + b64(JSON.stringify({revealed: revealed, step: v.step})) +
        "; Max-Age=" + Math.round(days * 86400) + "; Path=/; SameSite=Lax";
    },
  };
}

if (typeof window !== "undefined" && window.BERTVIZ_LESSON && document.getElementById("lesson")) {
  window.bertvizLesson = BertvizLesson(document.getElementById("lesson"), window.BERTVIZ_LESSON, {});
}

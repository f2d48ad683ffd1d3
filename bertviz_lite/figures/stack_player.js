/* bertviz-lite: the stack player. BERT drawn as its layer groups (input at the bottom, the
 * loss at the top); each step the forward pass rises, then the backward pass travels down
 * from the loss and lights each group by its weight-gradient norm (log scale, the number
 * beside it). At the topmost frozen group the pulse hits a wall and stops; the groups below
 * stay dark. Panels (frozen, top-k, fine-tuned) share one step clock.
 *
 * No imports, no network: the data comes from bertviz_lite/figures/stack.py (stack_data).
 * The animation runs on requestAnimationFrame; Python only sends new data (twice a second
 * while a run trains), which `update` merges without restarting the animation. At rest (no
 * pulse travelling, nothing playing) it asks for no frames at all: an idle stack costs the
 * browser nothing, on a student's laptop or in a tab left open beside eight others.
 * Where the system asks for reduced motion (prefers-reduced-motion), nothing moves unless
 * asked: no autoplay, a live run's new step is drawn at rest; Play and "One backward pass"
 * still animate when pressed.
 */
"use strict";

const BVS_NS = "http://www.w3.org/2000/svg";
const BVS_MIN_CYCLE_S = 1.3;  // one forward + backward pulse, at least (seconds on screen)
const BVS_SWEEP_ROW_S = 0.45;  // "one backward pass": seconds per group as the gradient arrives
const BVS_FORWARD_SHARE = 0.32;  // the part of a cycle the forward pass takes

function bvsEl(tag, attrs, parent) {
  const e = document.createElementNS(BVS_NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function bvsHtml(tag, cls, parent, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function bvsFmt(v) {  // three significant digits, like the charts' fmt_num
  if (v === null || v === undefined || !isFinite(v)) return "n/a";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2).replace("e", "e");
  return String(Number(v.toPrecision(3)));
}

function bvsRgb(hex) {
  const h = hex.replace("#", "");
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
}

function bvsMix(a, b, t) {  // hex colours a -> b by t in [0, 1]
  const x = bvsRgb(a), y = bvsRgb(b);
  return "rgb(" + x.map((v, i) => Math.round(v + (y[i] - v) * t)).join(",") + ")";
}

function bvsLuma(colour) {  // relative luminance (WCAG) of "rgb(r,g,b)" or "#RRGGBB"
  const parts = colour.startsWith("#") ? bvsRgb(colour) :
    colour.replace(/[^\d,]/g, "").split(",").map(Number);
  const v = parts.map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
}

function bvsReducedMotion() {
  return typeof window !== "undefined" && !!window.matchMedia &&
    window.matchMedia("(prefers-reduced-motion: reduce)").matches;
}

function bvsEase(t) { return t < 0.5 ? 2 * t * t : 1 - Math.pow(-2 * t + 2, 2) / 2; }

class BertvizStack {
  constructor(root, data) {
    this.root = root;
    root.classList.add("bvs-root");
    root.__bvs = this;
    this.frames = 0;
    this.cycles = 0;
    this.updates = 0;  // data arrivals (a live run's: one per poll that brought a new step)
    this.ownStep = null;  // the newest step of the live or replayed run, if one is shown
    this.firstPulseAt = null;  // performance.now() of the first pulse (Train to pulse)
    this.createdAt = performance.now();
    this.t = 0;  // recorded seconds into the run (replay clock)
    this.idx = 0;  // the step index every panel shows
    this.speed = 1;
    this.playing = false;
    this.still = bvsReducedMotion();  // the system asks for reduced motion
    this.cycle = null;  // {start, len, idx, kind}
    this.shown = [];  // per panel: the norms drawn now (per group), and their step index
    this.signature = "";
    this.svg = bvsEl("svg", {class: "bvs-svg", role: "img"}, root);
    this._controls();
    this.note = bvsHtml("div", "bvs-note", root);
    this._last = performance.now();
    this._tick = this._tick.bind(this);
    this._frame = null;  // the pending requestAnimationFrame, if any
    this._onResize = () => this._layout();
    window.addEventListener("resize", this._onResize);
    // the page around the stack may move or resize it: look twice a second (costs no frames)
    this._watch = setInterval(() => this._checkPlace(), 500);
    this.update(data);
    if (data.autoplay && !data.live && !this.still) this.play();
    this._wake();
  }

  _wake() {  // something will move or change: draw frames again until the stack is at rest
    this._dirty = true;
    if (this._frame === null) this._frame = requestAnimationFrame(this._tick);
  }

  _checkPlace() {
    if (!this.root.isConnected) { this.destroy(); return; }
    if (!this.geo) return;
    const top = this._pageTop();
    if (Math.abs((this.root.clientWidth || 0) - this.geo.W) > 2 ||
        (this.data.fit && Math.abs(top - this.geo.top) > 4)) this._layout();
  }

  _controls() {
    const c = bvsHtml("div", "bvs-controls", this.root);
    this.playBtn = bvsHtml("button", "bvs-btn bvs-play", c, "Play");
    this.playBtn.type = "button";
    this.playBtn.onclick = () => (this.playing ? this.pause() : this.play());
    this.sweepBtn = bvsHtml("button", "bvs-btn bvs-sweep", c, "One backward pass");
    this.sweepBtn.type = "button";
    this.sweepBtn.title = "Play this step's backward pass slowly, group by group";
    this.sweepBtn.onclick = () => this.sweep();
    this.scrub = bvsHtml("input", "bvs-scrub", c);
    this.scrub.type = "range";
    this.scrub.min = "0";
    this.scrub.step = "1";
    this.scrub.setAttribute("aria-label", "Step");
    this.scrub.oninput = () => this.seek(Number(this.scrub.value));
    this.stepLabel = bvsHtml("span", "bvs-step", c, "");
    this.speedSel = bvsHtml("select", "bvs-speed", c);
    this.speedSel.setAttribute("aria-label", "Pace");
    for (const [v, label] of [[1, "recorded pace"], [0.25, "¼ × recorded"], [4, "4 × recorded"]]) {
      const o = bvsHtml("option", "", this.speedSel, label);
      o.value = String(v);
    }
    this.speedSel.onchange = () => { this.speed = Number(this.speedSel.value); };
  }

  // -- data -------------------------------------------------------------------------------
  update(data) {
    const first = !this.data;
    this.updates += 1;
    const wasLive = this.data && this.data.live;
    this.data = data;
    this.note.textContent = this._legend();
    const panels = data.panels || [];
    const sig = JSON.stringify([panels.map((p) => [p.title, p.groups, p.frozen, p.colour]),
                                data.theme, data.fit]);
    this.n = Math.max(0, ...panels.map((p) => p.steps.length));
    this.dur = [];
    for (let i = 0; i < this.n; i++) {
      this.dur.push(Math.max(0, ...panels.map((p) => (i < p.seconds.length ? p.seconds[i] : 0))));
    }
    this.cum = [];
    let acc = 0;
    for (const d of this.dur) { acc += d; this.cum.push(acc); }
    if (sig !== this.signature) {
      this.signature = sig;
      this.shown = panels.map((p) => ({vals: p.groups.map(() => null), idx: -1}));
      this._layout();
    } else {  // the same panels with more steps: the drawn views read the new data
      (this.views || []).forEach((v, pi) => { if (panels[pi]) v.p = panels[pi]; });
    }
    if (first) requestAnimationFrame(() => this._layout());
    this.scrub.max = String(Math.max(0, this.n - 1));
    this.root.classList.toggle("bvs-live", !!data.live);
    const own = panels.find((p) => p.source === "live" || p.source === "replay");
    this.ownStep = own && own.steps.length ? own.steps[own.steps.length - 1] : null;
    if (data.live) {  // follow the run's newest step (the recorded runs beside it show theirs)
      this.idx = Math.max(0, (own ? own.steps.length : this.n) - 1);
      this.playing = false;
      this.t = this.cum.length ? this.cum[this.cum.length - 1] : 0;
      if (!this.cycle && this.n && this.shownIdx() !== this.idx) this._liveStep();
    } else if (wasLive) {  // the run ended: stay on its last step, ready to replay
      this.idx = Math.max(0, (own ? own.steps.length : this.n) - 1);
    } else if (first && !data.autoplay) {
      this.idx = Math.max(0, this.n - 1);
    }
    if (!this.cycle && !this.playing && this.n) this._settle(this.idx);  // at rest: all lit
    this._labels();
    this._wake();
  }

  shownIdx() { return this.shown.length ? this.shown[0].idx : -1; }

  _liveStep() {  // a live run's newest step: a pulse, or at rest where motion is reduced
    if (this.still) {
      if (this.firstPulseAt === null) this.firstPulseAt = performance.now();
      this._settle(this.idx);
    } else {
      this._startCycle("live");
    }
  }

  _legend() {
    const [lo, hi] = this.data.range;
    const dec = (e) => (e >= 0 ? String(Math.pow(10, e)) : "0." + "0".repeat(-e - 1) + "1");
    // a larger gradient is a brighter colour on a dark background, a deeper one on a light
    const more = this.data.theme.dark ? "Brighter" : "Deeper colour";
    const base = more + ": a larger weight gradient ‖∂L/∂W‖ (log scale, " + dec(lo) + " to " +
      dec(hi) + "). At the hatched wall the gradient stops.";
    const still = this.still && !this.data.live ? " Motion is reduced (a system setting): " +
      "press Play or One backward pass to animate." : "";
    return (this.data.note ? this.data.note + " " : "") + base + still;
  }

  // -- geometry ---------------------------------------------------------------------------
  _fontPx() {
    const vh = window.innerHeight || 720, vw = window.innerWidth || 1280;
    if (this.data.theme.presenter) {
      return Math.max(18, Math.min(64, Math.round(Math.min(0.026 * vh, 0.0165 * vw))));
    }
    return Math.max(13, Math.min(20, Math.round(0.0175 * vh)));
  }

  _pageTop() {  // the stack's top in the page, wherever the page has been scrolled
    const main = this.root.closest("[data-testid='stMain']");
    return this.root.getBoundingClientRect().top + window.scrollY + (main ? main.scrollTop : 0);
  }

  _layout() {
    if (!this.data) return;
    const th = this.data.theme, panels = this.data.panels || [];
    const W0 = Math.max(280, this.root.clientWidth || 800);
    // as large as the screen allows, but never wider than a panel can hold (a run's column
    // needs about 8.6 characters' width)
    const fs = Math.max(this.data.theme.presenter ? 18 : 12,
      Math.min(this._fontPx(), Math.floor(W0 / Math.max(1, (this.data.panels || []).length) / 8.6)));
    this.fs = fs;
    this.root.style.setProperty("--bvs-fs", fs + "px");
    this.root.style.setProperty("--bvs-text", th.text);
    this.root.style.setProperty("--bvs-bg", th.background);
    this.root.style.setProperty("--bvs-grid", th.grid);
    this.root.style.setProperty("--bvs-accent", th.backward);
    this.root.style.fontFamily = th.font;
    const W = Math.max(280, this.root.clientWidth || 800);
    const rows = Math.max(1, ...panels.map((p) => p.groups.length)) + 2;  // + loss, + input
    const head = fs * 2.9;
    let pitch = fs * 2.4;
    if (this.data.fit) {  // the rest of the screen below the stack's top, controls included
      const top = this._pageTop();
      const below = (this.svg.nextSibling ? this.svg.nextSibling.offsetHeight : 0) +
        this.note.offsetHeight + fs * 1.2;
      const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
      const room = window.innerHeight - Math.min(top, window.innerHeight * 0.45) - below -
        (this.data.reserve_rem || 0) * rem;  // what the page draws under the stack
      pitch = Math.max(fs * 1.45, Math.min(fs * 3.2, (room - head) / rows));
    }
    const H = Math.round(head + rows * pitch + fs * 0.4);
    const topNow = this._pageTop();
    this.geo = {W, H, fs, pitch, head, rows, pw: W / Math.max(1, panels.length), top: topNow};
    this.svg.setAttribute("width", W);
    this.svg.setAttribute("height", H);
    this.svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    this._draw();
  }

  _rowY(panel, r) {  // r: 0 = the loss (top) ... groups ... input (bottom); the row's centre
    const g = this.geo;
    return g.head + (r + 0.5) * g.pitch;
  }

  _draw() {
    const th = this.data.theme, g = this.geo, panels = this.data.panels || [];
    while (this.svg.firstChild) this.svg.removeChild(this.svg.firstChild);
    const defs = bvsEl("defs", {}, this.svg);
    const pat = bvsEl("pattern", {id: this._id("hatch"), width: 10, height: 10,
      patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)"}, defs);
    bvsEl("rect", {width: 10, height: 10, fill: th.frozen_fill}, pat);
    bvsEl("line", {x1: 0, y1: 0, x2: 0, y2: 10, stroke: th.text, "stroke-width": 4}, pat);
    this.views = panels.map((p, pi) => this._drawPanel(p, pi));
    if (this._tick) this._wake();  // new elements: draw the values into them
    if (this.n !== undefined) this._labels();  // the new elements get their words
  }

  _id(name) {
    if (!this._uid) this._uid = "bvs" + Math.random().toString(36).slice(2, 8);
    return this._uid + "-" + name;
  }

  _drawPanel(p, pi) {
    const th = this.data.theme, g = this.geo, fs = g.fs;
    const narrow = g.pw < fs * 12.5;  // three runs in half a screen: shorter words
    const x0 = pi * g.pw, numW = fs * (narrow ? 3.2 : 5.4);  // "stops (here)" by the wall
    const boxW = Math.max(fs * (narrow ? 5.2 : 6.2), Math.min(fs * 11, g.pw - numW - fs * 1.2));
    const boxX = x0 + Math.max(fs * 0.4, (g.pw - boxW - numW) / 2), numX = boxX + boxW + fs * 0.45;
    // a gap of at least 8 px (or half a letter) between two boxes: the wall sits in it
    const boxH = Math.min(g.pitch * 0.72, g.pitch - Math.max(8, fs * 0.5));
    const grp = bvsEl("g", {class: "bvs-panel"}, this.svg);
    const title = bvsEl("text", {x: boxX, y: fs * 1.1, "font-size": fs * 1.15,
      "font-weight": 700, fill: p.colour, class: "bvs-title"}, grp);
    title.textContent = p.title;
    const sub = bvsEl("text", {x: boxX, y: fs * 2.35, "font-size": fs, fill: th.text,
      class: "bvs-sub"}, grp);
    const frozen = new Set(p.frozen);
    const G = p.groups.length;
    const rowOf = (gi) => 1 + (G - 1 - gi);  // head under the loss, embeddings above the input
    const rects = [], nums = [], names = [];
    const lowestLit = p.groups.findIndex((name) => !frozen.has(name));
    // the loss (top) and the input (bottom)
    const lossY = this._rowY(p, 0), inY = this._rowY(p, G + 1);
    const lossBox = bvsEl("rect", {x: boxX, y: lossY - boxH / 2, width: boxW, height: boxH,
      rx: 6, fill: "none", stroke: th.backward, "stroke-width": 3}, grp);
    const lossText = bvsEl("text", {x: boxX + boxW / 2, y: lossY, "font-size": fs,
      "text-anchor": "middle", "dominant-baseline": "central", fill: th.text}, grp);
    lossText.textContent = "loss";
    const lossNum = bvsEl("text", {x: numX, y: lossY, "font-size": fs,
      "dominant-baseline": "central", fill: th.text, class: "bvs-num"}, grp);
    bvsEl("rect", {x: boxX, y: inY - boxH / 2, width: boxW, height: boxH, rx: 6, fill: "none",
      stroke: th.forward, "stroke-width": 3}, grp);
    const inText = bvsEl("text", {x: boxX + boxW / 2, y: inY, "font-size": fs,
      "text-anchor": "middle", "dominant-baseline": "central", fill: th.text}, grp);
    inText.textContent = "word pieces";
    for (let gi = 0; gi < G; gi++) {
      const name = p.groups[gi], y = this._rowY(p, rowOf(gi)), isFrozen = frozen.has(name);
      const rect = bvsEl("rect", {x: boxX, y: y - boxH / 2, width: boxW, height: boxH, rx: 6,
        fill: isFrozen ? "none" : th.unlit, stroke: isFrozen ? th.frozen : th.text,
        "stroke-width": isFrozen ? 2 : 1.5, "stroke-dasharray": isFrozen ? "7 5" : "none"}, grp);
      const label = bvsEl("text", {x: boxX + boxW / 2, y, "font-size": fs,
        "text-anchor": "middle", "dominant-baseline": "central",
        fill: isFrozen ? th.frozen : th.text, class: "bvs-name"}, grp);
      label.textContent = name;
      const num = bvsEl("text", {x: numX, y, "font-size": fs, "dominant-baseline": "central",
        fill: th.text, class: "bvs-num"}, grp);
      rects.push(rect); names.push(label); nums.push(isFrozen ? null : num);
      if (isFrozen) num.remove();
    }
    // the wall: under the lowest group that learns, above the frozen ones
    let wallY = null, wall = null, wallLabel = null;
    const topFrozen = lowestLit > 0 ? lowestLit - 1 : (lowestLit === -1 ? G - 1 : -1);
    if (topFrozen >= 0) {
      wallY = (this._rowY(p, rowOf(topFrozen)) + this._rowY(p, rowOf(topFrozen) - 1)) / 2;
      // in the gap, never over a box: 2 px clear on each side, outside its 1 px stroke
      const wallH = Math.max(2, g.pitch - boxH - 6);
      wall = bvsEl("rect", {x: boxX - fs * 0.3, y: wallY - wallH / 2, width: boxW + fs * 0.6,
        height: wallH, fill: "url(#" + this._id("hatch") + ")", stroke: th.text,
        "stroke-width": 2, class: "bvs-wall"}, grp);
      wallLabel = bvsEl("text", {x: numX, y: this._rowY(p, rowOf(topFrozen)), "font-size": fs,
        "font-weight": 700, "dominant-baseline": "central", fill: th.text,
        class: "bvs-wall-label"}, grp);
      wallLabel.textContent = narrow ? "stops" : "stops here";
    }
    const bandH = Math.max(6, g.pitch * 0.34);
    const band = bvsEl("rect", {x: boxX - fs * 0.15, y: 0, width: boxW + fs * 0.3, height: bandH,
      rx: bandH / 2, fill: th.backward, opacity: 0, class: "bvs-pulse"}, grp);
    const flash = wall ? bvsEl("rect", {x: boxX - fs * 0.5, y: wallY - g.pitch * 0.35,
      width: boxW + fs, height: g.pitch * 0.7, rx: 8, fill: th.backward, opacity: 0}, grp) : null;
    return {p, rects, nums, names, sub, lossNum, lossY, inY, wallY, wall, flash, band, bandH,
            rowOf, frozen, boxX, boxW};
  }

  // -- the clock --------------------------------------------------------------------------
  play() {
    if (this.data.live || !this.n) return;
    if (this.idx >= this.n - 1) { this.t = 0; this.idx = 0; }
    this.playing = true;
    if (!this.cycle) this._startCycle("play");
    this._wake();
    this._labels();
  }

  pause() { this.playing = false; this._labels(); }

  seek(i) {
    this.playing = false;
    this.cycle = null;
    this.idx = Math.max(0, Math.min(this.n - 1, i));
    this.t = this.idx > 0 ? this.cum[this.idx - 1] : 0;
    this._settle(this.idx);
    this._labels();
  }

  sweep() {  // this step's backward pass, slowly, group by group
    if (!this.n) return;
    this.playing = false;
    this._startCycle("sweep");
    this._labels();
  }

  _indexAt(t) {  // the step whose recorded time span holds t
    let lo = 0, hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cum[mid] > t) hi = mid; else lo = mid + 1;
    }
    return lo;
  }

  _startCycle(kind) {
    const rows = this.geo ? this.geo.rows : 10;
    const len = kind === "sweep" ? BVS_SWEEP_ROW_S * rows :
      Math.max(BVS_MIN_CYCLE_S, kind === "play" ? (this.dur[this.idx] || 0) / this.speed : 0);
    this.cycle = {start: performance.now(), len: len * 1000, idx: this.idx, kind,
                  from: this.shown.map((s) => s.vals.slice())};
    this.cycles += 1;
    this._wake();
    if (this.firstPulseAt === null) this.firstPulseAt = this.cycle.start;
  }

  _settle(i) {  // every panel showing step i at rest
    this._wake();
    (this.views || []).forEach((v, pi) => {
      const k = Math.min(i, v.p.steps.length - 1);
      this.shown[pi] = {vals: k >= 0 ? v.p.norms[k].slice() : v.p.groups.map(() => null), idx: i};
    });
  }

  _tick(now) {
    this._frame = null;
    if (!this.root.isConnected) { this.destroy(); return; }
    this.frames += 1;
    const dt = Math.min(0.25, (now - this._last) / 1000);
    this._last = now;
    if (this.playing && this.n) {
      this.t += dt * this.speed;
      const end = this.cum[this.n - 1];
      this.idx = this.t >= end ? this.n - 1 : this._indexAt(this.t);
      if (this.t >= end && !this.cycle) { this.playing = false; this._labels(); }
    }
    if (this.cycle && now - this.cycle.start >= this.cycle.len) {
      this._settle(this.cycle.idx);
      const kind = this.cycle.kind;
      this.cycle = null;
      if (this.playing) this._startCycle("play");
      else if (this.data.live && this.shownIdx() !== this.idx) this._liveStep();
      else if (kind === "sweep") this._labels();
      if (this.playing && this.t >= this.cum[this.n - 1]) this.playing = false;
      this._labels();
    }
    this._dirty = false;
    this._render(now);
    // another frame only while something moves; _wake() starts the frames again
    if ((this.cycle || this.playing) && this._frame === null) {
      this._frame = requestAnimationFrame(this._tick);
    }
  }

  // -- drawing a frame --------------------------------------------------------------------
  _colour(v) {
    const th = this.data.theme, [lo, hi] = this.data.range;
    if (v === null || !(v > 0)) return th.unlit;
    const t = Math.max(0, Math.min(1, (Math.log10(v) - lo) / Math.max(1e-9, hi - lo)));
    return bvsMix(th.unlit, th.backward, 0.18 + 0.82 * t);
  }

  _render(now) {
    if (!this.views) return;
    const th = this.data.theme, c = this.cycle;
    const prog = c ? Math.min(1, (now - c.start) / c.len) : 1;
    const fwdShare = c && c.kind === "sweep" ? 0.18 : BVS_FORWARD_SHARE;
    this.views.forEach((v, pi) => {
      const p = v.p, k = c ? Math.min(c.idx, p.steps.length - 1) : -1;
      const newVals = k >= 0 ? p.norms[k] : null;
      let bandY = null, bandColour = th.backward, reached = -Infinity, flash = 0;
      if (c && k >= 0) {
        const top = v.lossY, bottom = v.inY;
        if (prog < fwdShare) {  // the forward pass rises from the word pieces to the loss
          bandY = bottom + (top - bottom) * bvsEase(prog / fwdShare);
          bandColour = th.forward;
        } else {  // the backward pass travels down from the loss, to the wall or the input
          const q = (prog - fwdShare) / (1 - fwdShare);
          const stop = v.wallY !== null ? v.wallY : this._rowY(p, p.groups.length);
          const travel = Math.min(1, q / 0.85);
          bandY = top + (stop - top) * (c.kind === "sweep" ? travel : bvsEase(travel));
          reached = bandY;
          if (v.wallY !== null && travel >= 1) flash = Math.max(0, 1 - (q - 0.85) / 0.15);
          if (travel >= 1 && v.wallY === null) bandY = null;
        }
      }
      v.band.setAttribute("opacity", bandY === null ? 0 : 0.85);
      if (bandY !== null) {
        v.band.setAttribute("y", bandY - v.bandH / 2);
        v.band.setAttribute("fill", bandColour);
      }
      if (v.flash) v.flash.setAttribute("opacity", (flash * 0.55).toFixed(3));
      const shown = this.shown[pi] || {vals: []};
      for (let gi = 0; gi < p.groups.length; gi++) {
        if (v.frozen.has(p.groups[gi])) continue;
        const y = this._rowY(p, v.rowOf(gi));
        const val = c && newVals && reached >= y ? newVals[gi] :
          (c ? c.from[pi][gi] : shown.vals[gi]);
        const key = val === null || val === undefined ? "none" : val;
        if (v.rects[gi].__val !== key) {
          v.rects[gi].__val = key;
          const fill = this._colour(val);
          v.rects[gi].setAttribute("fill", fill);
          v.names[gi].setAttribute("fill", bvsLuma(fill) < 0.25 ? "#FFFFFF" : "#111111");
          v.nums[gi].textContent = val === null || val === undefined ? "" : bvsFmt(val);
        }
      }
    });
  }

  _labels() {
    const panels = (this.data && this.data.panels) || [];
    const i = this.cycle ? this.cycle.idx : this.idx;
    this.scrub.value = String(i);
    this.scrub.disabled = !this.n;
    this.sweepBtn.disabled = !this.n;
    this.playBtn.disabled = !!this.data.live || !this.n;
    this.playBtn.textContent = this.playing ? "Pause" : "Play";
    const p0 = panels.find((p) => p.steps.length > i) || panels[0];
    const stepNo = p0 && p0.steps.length ? p0.steps[Math.min(i, p0.steps.length - 1)] : 0;
    const total = p0 && p0.steps.length ? p0.steps[p0.steps.length - 1] : 0;
    this.stepLabel.textContent = this.n ? "step " + stepNo + (this.data.live ? "" : " of " + total)
      : "no step yet";
    (this.views || []).forEach((v) => {
      const p = v.p, k = Math.min(i, p.steps.length - 1);
      let secs = 0;
      for (let j = 0; j <= k; j++) secs += p.seconds[j] || 0;
      const source = p.source === "live" ? "live" : p.source === "replay" ? "replay" : "recorded";
      const done = p.steps.length && i > p.steps.length - 1 ? ", done at step " +
        p.steps[p.steps.length - 1] : "";
      v.sub.textContent = k >= 0 ? source + " · " + (secs < 10 ? secs.toFixed(2) : secs.toFixed(1))
        + " s" + done : source + " · waiting";
      v.lossNum.textContent = k >= 0 && p.loss[k] !== null ? bvsFmt(p.loss[k]) : "";
    });
    this.svg.setAttribute("aria-label", this._words(i));
  }

  _words(i) {
    return ((this.data && this.data.panels) || []).map((p) => {
      const k = Math.min(i, p.steps.length - 1);
      if (k < 0) return p.title + ": no step yet";
      const frozen = new Set(p.frozen);
      const lit = p.groups.map((g, gi) => [g, p.norms[k][gi]]).filter(([g]) => !frozen.has(g))
        .reverse().map(([g, v]) => g + " " + bvsFmt(v));
      return p.title + ", step " + p.steps[k] + ": " + lit.join(", ") +
        (frozen.size ? "; stops above " + p.frozen[p.frozen.length - 1] : "");
    }).join(". ");
  }

  stats() {
    return {frames: this.frames, cycles: this.cycles, updates: this.updates, idx: this.idx,
            n: this.n, step: this.ownStep,
            playing: this.playing, live: !!(this.data && this.data.live),
            firstPulseMs: this.firstPulseAt === null ? null : this.firstPulseAt - this.createdAt,
            fontPx: this.fs};
  }

  destroy() {
    window.removeEventListener("resize", this._onResize);
    clearInterval(this._watch);
    if (this._frame !== null) cancelAnimationFrame(this._frame);
    this._frame = null;
    this.root.__bvs = null;
  }
}

if (typeof window !== "undefined") window.BertvizStack = BertvizStack;

"""The stage audit in a real browser: what a lecture hall's back row would notice on a page.

Over every chart on the page (plotly figures and the animated stack): each text inside its
figure, no two texts overlapping, each text at least `floor_px` high on screen, no chart
narrower than a third of the window; and, on the stage, the page no taller than the window
(a normal page scrolls, and is audited without that last check). Findings are
plain sentences ("chart 2: 'Accuracy: training vs vali' sticks out of its figure"), none
when the page is fine. The animation's frame rate is counted with requestAnimationFrame.
"""

from __future__ import annotations

from typing import Any

# Charts: plotly figures (their svg text) and the stack player (its svg text). Text of a
# hidden element (a folded expander, a closed menu) has no box and is not seen.
_AUDIT_JS = """([floor, fit]) => {
  const found = [];
  // seen: laid out and not inside a closed expander (its content keeps a layout box but is
  // not drawn: content-visibility), nor hidden
  const seen = (e) => { const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && (!e.checkVisibility || e.checkVisibility(
      {contentVisibilityAuto: true, visibilityProperty: true, opacityProperty: true})); };
  // a text's glyph box on screen, as drawn (rotation included): 4 corners, its height
  const quad = (t) => {
    const bb = t.getBBox(), m = t.getScreenCTM();
    const pt = (x, y) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f];
    return {c: [pt(bb.x, bb.y), pt(bb.x + bb.width, bb.y), pt(bb.x + bb.width, bb.y + bb.height),
                pt(bb.x, bb.y + bb.height)], h: bb.height * Math.hypot(m.c, m.d)};
  };
  const axes = (q) => {  // unit vectors along and across the text
    const [p0, p1, , p3] = q.c, n = (v) => { const l = Math.hypot(v[0], v[1]) || 1;
      return [v[0] / l, v[1] / l]; };
    return [n([p1[0] - p0[0], p1[1] - p0[1]]), n([p3[0] - p0[0], p3[1] - p0[1]])];
  };
  const overlap = (qa, qb, ax) => {  // how far the two quads' projections on ax overlap
    const pa = qa.c.map((p) => p[0] * ax[0] + p[1] * ax[1]);
    const pb = qb.c.map((p) => p[0] * ax[0] + p[1] * ax[1]);
    return Math.min(Math.max(...pa), Math.max(...pb)) - Math.max(Math.min(...pa), Math.min(...pb));
  };
  const collide = (qa, qb) => {  // separating axes, each text's along/across pair
    const across = 0.3 * Math.min(qa.h, qb.h);
    return [axes(qa), axes(qb)].every(([along, acr]) =>
      overlap(qa, qb, along) > 2 && overlap(qa, qb, acr) > across);
  };
  const charts = [...document.querySelectorAll('.js-plotly-plot, .bvs-svg')].filter(seen);
  const W = window.innerWidth, H = window.innerHeight;
  const name = (c, i) => (c.classList.contains('bvs-svg') ? 'stack ' : 'chart ') + (i + 1);
  charts.forEach((c, i) => {
    const box = c.getBoundingClientRect();
    if (box.width < W / 3 - 1) found.push(`${name(c, i)} is ${Math.round(box.width)} px wide, ` +
      `under a third of the ${W}-px screen`);
    const texts = [...c.querySelectorAll('text')].filter((t) =>
      t.textContent.trim() && !t.closest('.hoverlayer') && seen(t));
    const boxes = texts.map((t) => [t, t.getBoundingClientRect(), quad(t)]);
    for (const [t, r] of boxes) {
      const label = t.textContent.trim().slice(0, 40);
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 ||
          r.bottom > box.bottom + 1) found.push(`${name(c, i)}: '${label}' sticks out of its figure`);
      const px = parseFloat(getComputedStyle(t).fontSize) * (t.currentCSSZoom || 1);
      if (px < floor - 0.5) found.push(`${name(c, i)}: '${label}' is ${px.toFixed(1)} px, ` +
        `under ${floor} px`);
    }
    for (let a = 0; a < boxes.length; a++) {
      for (let b = a + 1; b < boxes.length; b++) {
        const [ta, ra, qa] = boxes[a], [tb, rb, qb] = boxes[b];
        if (ta.contains(tb) || tb.contains(ta)) continue;
        if (ra.right < rb.left || rb.right < ra.left || ra.bottom < rb.top ||
            rb.bottom < ra.top) continue;  // not even their screen boxes meet
        // in each text's own direction (rotated tick labels included): along the text, more
        // than 2 px; across it, a good part of the lower text (glyph boxes include line
        // spacing, so boxes that only touch are no collision)
        if (collide(qa, qb)) {
          found.push(`${name(c, i)}: '${ta.textContent.trim().slice(0, 30)}' overlaps ` +
                     `'${tb.textContent.trim().slice(0, 30)}'`);
        }
      }
    }
  });
  const main = document.querySelector('[data-testid="stMain"]');
  const tall = Math.max(main ? main.scrollHeight : 0, document.documentElement.scrollHeight);
  if (fit && tall > H + 1) found.push(`the page is ${tall} px tall on a ${H}-px screen`);
  return {findings: found, charts: charts.length};
}"""

_FPS_JS = """(ms) => new Promise((done) => {
  let n = 0; const t0 = performance.now();
  const tick = (t) => { n += 1; if (t - t0 < ms) requestAnimationFrame(tick);
                        else done(n * 1000 / (t - t0)); };
  requestAnimationFrame(tick);
})"""


def audit(page: Any, floor_px: float, fit_screen: bool = True) -> tuple[list[str], int]:
    """(findings, number of charts seen) for the page as it is drawn now; `fit_screen`: the
    page must fit the window (the stage), else it may scroll (a normal page)."""
    out = page.evaluate(_AUDIT_JS, [floor_px, fit_screen])
    return list(out["findings"]), int(out["charts"])


def frames_per_second(page: Any, ms: int = 2000) -> float:
    """requestAnimationFrame callbacks per second over `ms` milliseconds (what the browser
    managed to draw while the page did its work)."""
    return round(float(page.evaluate(_FPS_JS, ms)), 1)


NORMAL_FLOOR_PX = 11.0  # off the stage (a laptop at arm's length): plotly's ticks are 12 px


def floor_for(width: int, height: int) -> float:
    """The smallest chart text readable from the back row on this screen: 18 px at
    1280x720, 24 px at 1920x1080 (linear in between, and beyond)."""
    scale = min(width / 1280, height / 720)
    return 18.0 + (scale - 1.0) * 12.0 if scale >= 1 else 18.0 * scale

"""Every page in real Chromium against `streamlit run`: rendered, audited for readable charts
at 1400x900 and by axe-core, in one walk; and the main flow of the Backprop page driven by the
keyboard alone.

axe findings on what this project renders must have no critical or serious violation; those
in Streamlit's own frame (header, toolbar, page navigation) are listed in the output and in
test-artifacts/axe.json with their rule ids, not hidden and not failed on.
"""

from __future__ import annotations

import json
import logging

import pytest

from bertviz_lite.bench.a11y import Audit, audit_page
from bertviz_lite.bench.browser import FLOW_STEP, settle
from tests.test_e2e import (  # noqa: F401
    ARTIFACTS,
    PAGES,
    audited,
    browser,
    no_exceptions,
    page,
    server,
    shot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
log = logging.getLogger(__name__)
pytest.importorskip("axe_playwright_python")

# The active element, described: tag, accessible text, and the widget key it belongs to.
ACTIVE = """() => { const e = document.activeElement; if (!e) return {};
  const box = e.closest('[class*="st-key-"]');
  const key = box ? (box.className.match(/st-key-([\\w-]+)/) || [])[1] : null;
  return {tag: e.tagName, text: (e.getAttribute('aria-label') || e.innerText || '').trim(),
          key: key, role: e.getAttribute('role')}; }"""


def test_every_page_renders_fits_and_passes_axe(server, page):  # noqa: F811
    """Every page in the navigation at 1400x900, in one walk: it renders (a title, no
    exception, no page error), its screenshot is kept, the normal-mode audit finds nothing
    (chart text inside its figure, not overlapping, readable), and axe-core finds no
    critical or serious violation in what this project renders."""
    page.goto(server)
    settle(page, timeout_ms=120_000)
    audits: dict[str, Audit] = {}
    findings: list[str] = []
    for name, title in PAGES.items():
        page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
        page.wait_for_timeout(500)
        settle(page, timeout_ms=120_000)
        page.wait_for_timeout(1500)  # plotly draws after the script run
        no_exceptions(page)
        assert page.locator("h1").first.inner_text().strip(), name
        shot(page, f"page-{name}")
        findings += audited(page, f"{name} at 1400x900")
        audits[name] = audit_page(page, name)
    assert not page.errors, page.errors  # type: ignore[attr-defined]
    assert not findings, "\n".join(findings)
    report = {name: {"counts": a.counts(), "ours": a.rules("ours"),
                     "streamlit_frame": a.rules("streamlit"), "unknown": a.rules("unknown")}
              for name, a in audits.items()}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "axe.json").write_text(json.dumps(report, indent=1))
    for name, r in report.items():
        log.warning("axe %s: %s; Streamlit's frame: %s", name, r["counts"],
                    r["streamlit_frame"] or "none")
    severe = {name: [(f.rule, f.impact, f.target) for f in a.of("ours") + a.of("unknown")]
              for name, a in audits.items() if a.of("ours") or a.of("unknown")}
    assert not severe, severe


def _tab_to(pg, want, limit: int = 80, back: bool = False) -> dict:
    """Press Tab (or Shift+Tab) until the focused element satisfies `want`; returns it."""
    for _ in range(limit):
        pg.keyboard.press("Shift+Tab" if back else "Tab")
        el = pg.evaluate(ACTIVE)
        if want(el):
            return el
    raise AssertionError("never reached by Tab: the control is not keyboard-reachable")


def test_keyboard_only_main_flow(server, page):  # noqa: F811
    """Backprop page, keyboard only: choose fine-tuned, Train, Stop, open the replay; each
    chart has its text alternative next to it."""
    page.goto(f"{server}/backprop?epochs=1&seed=4")
    settle(page, timeout_ms=120_000)
    page.wait_for_timeout(3000)  # the workers warm up
    # choose a mode: the segmented control is one tab stop, arrows move inside it
    _tab_to(page, lambda e: e.get("key") == "mode")
    for _ in range(4):
        if page.evaluate(ACTIVE).get("text") == "finetune":
            break
        page.keyboard.press("ArrowRight")
    assert page.evaluate(ACTIVE).get("text") == "finetune", page.evaluate(ACTIVE)
    page.keyboard.press("Enter")
    settle(page)
    assert page.locator(".st-key-mode button[data-selected='true']").inner_text() == "finetune"
    _tab_to(page, lambda e: e.get("key") == "bp_train")
    page.keyboard.press("Enter")
    stop = page.locator(".st-key-bp_stop button")
    stop.wait_for(state="visible")
    page.wait_for_function("() => !document.querySelector('.st-key-bp_stop button').disabled",
                           timeout=60_000)
    page.wait_for_selector(".st-key-bp_job_flow .js-plotly-plot", timeout=120_000)
    # a step first: a stop before it leaves no run to replay (a loaded machine prepares slowly)
    page.wait_for_function(f"() => ({FLOW_STEP})() !== null", timeout=180_000)
    alt = page.get_by_text("Chart in words: gradient norms", exact=False)
    assert alt.count() > 0, "the live chart has its text alternative"
    _tab_to(page, lambda e: e.get("key") == "bp_stop")
    page.keyboard.press("Enter")
    page.get_by_text("Stopped by the user").first.wait_for(timeout=60_000)
    settle(page)
    no_exceptions(page)
    # "The whole run": its views are buttons reached by keyboard (the replay first); on a
    # loaded machine the section is drawn by the rerun after the stop, so wait for it first
    page.wait_for_selector(".st-key-bp_result_view", timeout=60_000)
    settle(page)
    view = _tab_to(page, lambda e: e.get("key") == "bp_result_view")
    assert view
    if view.get("text") != "Replay":  # arrows move inside the control, Enter chooses
        for _ in range(5):
            page.keyboard.press("ArrowLeft")
            if page.evaluate(ACTIVE).get("text") == "Replay":
                break
        page.keyboard.press("Enter")
        settle(page)
    replay = page.locator(".st-key-bp_result_replay .js-plotly-plot")
    replay.wait_for(timeout=30_000)
    assert page.get_by_text("recorded steps; median gradient norm").count() > 0
    frames = page.evaluate("() => document.querySelector("
                           "'.st-key-bp_result_replay .js-plotly-plot')._transitionData._frames"
                           ".length")
    assert frames >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "keyboard-flow.png"), full_page=True)
    assert not page.errors  # type: ignore[attr-defined]

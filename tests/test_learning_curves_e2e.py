"""The Compare page's "Against training-set size" section in real Chromium against
`streamlit run`: a recorded sweep is drawn at once, and a live sweep (tiny model) fills the
figure point by point. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bertviz_lite.bench.browser import CHROMIUM_ARGS, AppServer, chromium_path, settle
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"
POINTS = """() => { for (const e of document.querySelectorAll('.js-plotly-plot')) {
  const t = (e.layout && e.layout.title && e.layout.title.text) || '';
  if (!t.includes('Against training-set size')) continue;
  if (!e.closest(KEY)) continue;
  return e.data.filter(d => d.mode === 'markers' && (d.yaxis || 'y') === 'y')
               .reduce((n, d) => n + d.x.length, 0); }
  return null; }"""


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_dir):
    """`streamlit run app.py` with the tiny model first (the live sweep trains it)."""
    if not Path(chromium_path()).exists():
        pytest.skip(f"Chromium not found at {chromium_path()} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    home = tmp_path_factory.mktemp("lc-e2e")
    server = AppServer(dict(BERTVIZ_HOME=str(home), HF_HUB_OFFLINE="1",
               BERTVIZ_MODELS=f"tiny={tiny_model_dir},bundled=bundled"), log=home / "server.log")
    try:
        server.start(timeout=90)
    except (RuntimeError, TimeoutError) as err:
        pytest.fail(f"streamlit did not start: {err}")
    yield server.url
    server.stop()


def points(pg, key: str) -> int | None:
    return pg.evaluate(POINTS.replace("KEY", repr(f".st-key-{key}")))


def test_learning_curves_recorded_then_live(server, tiny_model_dir):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1500, "height": 1100})
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f"{server}/compare?task=sentiment")
        settle(pg)
        pg.wait_for_function(f"() => ({POINTS.replace('KEY', repr('.st-key-cmp_lc_recorded_fig'))})()"
                             " > 0", timeout=60_000)
        assert points(pg, "cmp_lc_recorded_fig") == 18  # 3 sizes x 3 seeds x 2 modes
        section = pg.locator(".st-key-cmp_lc_recorded_fig")
        section.scroll_into_view_if_needed()
        pg.wait_for_timeout(1000)
        ARTIFACTS.mkdir(exist_ok=True)
        section.screenshot(path=str(ARTIFACTS / "learning-curves.png"))

        pg.get_by_test_id("stButtonGroup").get_by_text("Run a small sweep now").click()
        settle(pg)
        pg.locator(".st-key-cmp_lc_run button").click()
        seen = set()
        deadline = time.time() + 300
        while time.time() < deadline:
            n = points(pg, "cmp_lc_live_fig")
            if n is not None:
                seen.add(n)
            if n == 12:  # 3 sizes x 2 seeds x 2 modes
                break
            pg.wait_for_timeout(250)
        assert 12 in seen, seen
        assert seen & set(range(1, 12)), f"the figure filled point by point: {seen}"
        settle(pg)
        assert not pg.locator("[data-testid='stException']").all_inner_texts()
        pg.locator(".st-key-cmp_lc_live_fig").screenshot(path=str(ARTIFACTS /
                                                                 "learning-curves-live.png"))
        assert not errors, errors
        browser.close()

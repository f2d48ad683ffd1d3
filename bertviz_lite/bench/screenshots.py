"""The screenshots the README and docs/ show, taken from the current app: `streamlit run` on a
loopback port (AppServer), Chromium driven by Playwright, one PNG per shot and a manifest
(docs/screenshots/manifest.json) saying which commit and app version made each, at which
viewport and address. Nothing is drawn by hand, so a screenshot cannot go stale silently:
run it again after changing a page.

    bash scripts/screenshots.sh                    # every shot into docs/screenshots/
    python -m bertviz_lite.bench.screenshots --only home,compare --out /tmp/shots

Needs Playwright and a Chromium at $BERTVIZ_CHROMIUM or /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertviz_lite.bench.browser import CHROMIUM_ARGS, AppServer, chromium_path, settle
from bertviz_lite.paths import PACKAGE_DIR

log = logging.getLogger(__name__)

SCREENSHOTS = PACKAGE_DIR.parent / "docs" / "screenshots"
MANIFEST = "manifest.json"
TO_TOP = """() => { const m = document.querySelector('[data-testid="stMain"]');
  if (m) m.scrollTop = 0; window.scrollTo(0, 0); }"""


@dataclass(frozen=True)
class Shot:
    """One screenshot: its file stem, the app address (path and query), the viewport, what it
    shows (the manifest's words) and what to do before taking it."""

    name: str
    path: str
    viewport: tuple[int, int]
    shows: str
    prepare: Callable[[Any], None] | None = None
    selector: str | None = None  # an element to shoot instead of the viewport


def _no_exception(pg: Any, name: str) -> None:
    errors = pg.locator("[data-testid='stException']").all_inner_texts()
    if errors:
        raise RuntimeError(f"{name}: the page shows an exception: {errors[0][:200]}")


def _lesson_step_two(pg: Any) -> None:
    """Step 2 (the frozen backward pass): predict "head", Reveal, wait for the figure."""
    pg.get_by_role("heading", name="2. ").first.wait_for(timeout=60_000)
    pg.locator(".st-key-lesson_pred_frozen-backward button").filter(has_text="head").click()
    settle(pg, 300)
    pg.locator(".st-key-lesson_reveal_frozen-backward button").filter(has_text="Reveal").click()
    pg.locator("[data-testid='stAlert']").first.wait_for(timeout=60_000)
    settle(pg, 300)
    pg.locator(".js-plotly-plot:visible, .bvs-root").first.wait_for(timeout=60_000)


def _train(pg: Any) -> None:
    """Click Train and wait until the run is over (its whole-run section is drawn)."""
    pg.wait_for_timeout(3000)  # the workers warm up when the app is first opened
    pg.locator(".st-key-bp_train button").click()
    pg.get_by_role("heading", name="The whole run").wait_for(timeout=300_000)
    settle(pg, 1000)
    pg.locator(".st-key-bp_job_flow .js-plotly-plot").first.wait_for(timeout=60_000)


def _stack_at_the_end(pg: Any) -> None:
    """The recorded stacks side by side, stopped at the runs' last step (the replay is
    scrubbed to its end: a still picture of the whole contrast)."""
    sel = ".st-key-bp_recorded_stack .bvs-root"
    pg.wait_for_function(f"() => {{ const r = document.querySelector('{sel}'); "
                         "return r && r.__bvs && r.__bvs.n > 0; }", timeout=60_000)
    pg.evaluate(f"() => {{ const p = document.querySelector('{sel}').__bvs; p.seek(p.n - 1); }}")


def _learning_curves(pg: Any) -> None:
    pg.wait_for_function(
        "() => { const e = document.querySelector('.st-key-cmp_lc_recorded_fig .js-plotly-plot');"
        " return e && e.data && e.data.length > 0; }", timeout=120_000)
    pg.locator(".st-key-cmp_lc_recorded_fig").scroll_into_view_if_needed()


def _changes(pg: Any) -> None:
    pg.locator(".st-key-chg_rec_sentiment_bars .js-plotly-plot").wait_for(timeout=180_000)


SHOTS: tuple[Shot, ...] = (
    Shot("home", "/", (1400, 1000),
         "the start page: frozen beside fine-tuned, the paper's table, the Lesson in the "
         "navigation"),
    Shot("lesson-stage-1280x720", "/lesson?step=2&present=1", (1280, 720),
         "lesson step 2 of the lecture in presenter mode at 1280x720: prediction, the "
         "recorded gradient, the explanation", _lesson_step_two),
    Shot("stack-1280x720", "/backprop?present=1&task=sentiment", (1280, 720),
         "the Backprop stage in presenter mode at 1280x720: the recorded frozen, top-2 and "
         "fine-tuned runs as animated stacks side by side, at their last step",
         _stack_at_the_end),
    Shot("backprop-frozen", "/backprop?task=sentiment&mode=frozen&epochs=1", (1400, 1000),
         "Backprop after a frozen run: the gradient stops at the head", _train),
    Shot("backprop-finetune", "/backprop?task=sentiment&mode=finetune&epochs=1", (1400, 1000),
         "Backprop after a fine-tuned run: the gradient reaches every layer", _train),
    Shot("compare", "/compare?task=sentiment", (1400, 1000),
         "Compare: ours beside the paper's, and what each mode costs"),
    Shot("learning-curves", "/compare?task=sentiment", (1400, 1100),
         "the recorded learning-curve sweep of the bundled sentiment data",
         _learning_curves, ".st-key-cmp_lc_recorded_fig"),
    Shot("changes", "/changes?task=sentiment", (1400, 1000),
         "What changed inside BERT: CKA and weight change per layer, sentiment fine-tuned",
         _changes),
)


def take(browser: Any, url: str, shot: Shot, out: Path) -> Path:
    """Open `shot.path` in a new browser context, prepare it, and write out/<name>.png."""
    ctx = browser.new_context(viewport={"width": shot.viewport[0], "height": shot.viewport[1]})
    try:
        pg = ctx.new_page()
        pg.goto(url + shot.path)
        settle(pg, 800, timeout_ms=180_000)
        if shot.prepare is not None:
            shot.prepare(pg)
        pg.wait_for_timeout(1500)  # let plotly finish drawing
        _no_exception(pg, shot.name)
        path = out / f"{shot.name}.png"
        if shot.selector:
            pg.locator(shot.selector).screenshot(path=str(path))
        else:
            pg.evaluate(TO_TOP)
            pg.wait_for_timeout(300)
            pg.screenshot(path=str(path))
        return path
    finally:
        ctx.close()


APP_PATHS = ("app.py", "pages", "bertviz_lite", "assets", ".streamlit")  # what the app runs


def provenance() -> dict[str, Any]:
    """The commit and app version the screenshots are taken from, and whether the app's own
    files (APP_PATHS) differed from that commit."""
    import subprocess

    from bertviz_lite.record.provenance import engine_version, git_commit

    status = subprocess.run(["git", "-C", str(PACKAGE_DIR.parent), "status", "--porcelain",
                             "--", *APP_PATHS], capture_output=True, text=True, check=False)
    return {"commit": git_commit(), "app_changed_since_commit": bool(status.stdout.strip()),
            "app_version": engine_version()}


def update_manifest(out: Path, shots: list[Shot], made: dict[str, Any]) -> dict[str, Any]:
    """Write (merge into) out/manifest.json: one entry per screenshot taken now."""
    path = out / MANIFEST
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    entries = dict(old.get("screenshots", {}))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for s in shots:
        entries[f"{s.name}.png"] = {"path": s.path, "viewport": list(s.viewport),
                                    "shows": s.shows, "element": s.selector, "taken": when,
                                    **made}
    manifest = {"made_by": "scripts/screenshots.sh (python -m bertviz_lite.bench.screenshots)",
                "screenshots": dict(sorted(entries.items()))}
    path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def run(out: Path = SCREENSHOTS, only: list[str] | None = None) -> list[Path]:
    """Start the app, take every shot (or those named in `only`), update the manifest."""
    from playwright.sync_api import sync_playwright

    chosen = [s for s in SHOTS if not only or s.name in only]
    unknown = set(only or []) - {s.name for s in SHOTS}
    if unknown:
        raise ValueError(f"no such screenshot: {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(s.name for s in SHOTS)})")
    out.mkdir(parents=True, exist_ok=True)
    made = provenance()
    written = []
    with tempfile.TemporaryDirectory(prefix="bertviz-shots-") as home:
        env = {"BERTVIZ_HOME": home, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        with AppServer(env, log=Path(home) / "server.log") as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            try:
                for shot in chosen:
                    t0 = time.perf_counter()
                    written.append(take(browser, server.url, shot, out))
                    log.info("%s.png in %.1f s", shot.name, time.perf_counter() - t0)
            finally:
                browser.close()
    update_manifest(out, chosen, made)
    return written


def main(argv: list[str] | None = None) -> int:
    """Take the screenshots; exit 2 on an unknown name or a missing Chromium."""
    ap = argparse.ArgumentParser(prog="python -m bertviz_lite.bench.screenshots")
    ap.add_argument("--out", type=Path, default=SCREENSHOTS, help="folder for the PNGs")
    ap.add_argument("--only", default="", help="comma-separated names (default: all)")
    ap.add_argument("--list", action="store_true", help="print the shots and exit")
    a = ap.parse_args(argv)
    if a.list:
        for s in SHOTS:
            print(f"{s.name}: {s.path} at {s.viewport[0]}x{s.viewport[1]}: {s.shows}")
        return 0
    if not Path(chromium_path()).exists():
        log.error("no Chromium at %s (apt-get install chromium, or set BERTVIZ_CHROMIUM)",
                  chromium_path())
        return 2
    only = [n.strip() for n in a.only.split(",") if n.strip()] or None
    try:
        run(a.out, only)
    except ValueError as err:
        log.error("%s", err)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(main())

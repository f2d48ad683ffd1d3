"""The stage audited in real Chromium against `streamlit run` (one server, one browser).

What the back row of a lecture hall would notice, checked by `bertviz_lite.bench.audit` on
every lesson step (prediction made, revealed, every view) and on the Backprop stage (the
recorded stacks before Train, the live run, the run after Train), at 1280x720 and 1920x1080,
light and dark: chart text inside its figure, no two texts overlapping, chart text at least
18 px (720) / 24 px (1080), no chart narrower than a third of the screen, the page no taller
than the screen. Screenshots of each view, a frame strip of one backward sweep and the
measured frame rates go to $BERTVIZ_ARTEFACTS (default: this test's temporary folder).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from bertviz_lite.bench.audit import audit, floor_for, frames_per_second
from bertviz_lite.bench.browser import CHROMIUM_ARGS, AppServer, chromium_path, in_viewport, settle
from bertviz_lite.lesson import ArtefactStore, check_lesson, lessons_dir, load_lesson
from bertviz_lite.serve.settings import Settings
from tests.lesson_browser import predict_by_mouse, rerun

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LESSON = load_lesson(lessons_dir() / "9.3-fine-tuning.toml")
STEPS = [s for s in LESSON.steps if s.id in check_lesson(LESSON, ArtefactStore())]
PLAYER = ".st-key-{key} .bvs-root"
# Counts the page's finished script runs (a fragment's poll is one) from now on.
COUNT_RUNS = """() => { window.__scriptRuns = 0;
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') === 'notRunning') window.__scriptRuns += 1;
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']}); }"""
TRAIN_PARTS = (".st-key-bp_train button", ".st-key-bp_stop button", ".st-key-bp_job_stack .bvs-svg")
STATS = "(sel) => { const r = document.querySelector(sel); return r && r.__bvs ? r.__bvs.stats() : null; }"


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    folder = os.environ.get("BERTVIZ_ARTEFACTS")
    path = Path(folder) / "stage" if folder else tmp_path_factory.mktemp("stage-artefacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """One server and one Chromium page for the whole module (a student, not an instructor)."""
    if not Path(chromium_path()).exists():
        pytest.skip(f"Chromium not found at {chromium_path()}")
    sync_api = pytest.importorskip("playwright.sync_api")
    home = tmp_path_factory.mktemp("stage-e2e")
    # the live view at the app's own pace (the other tests' servers poll slower: conftest.py)
    server = AppServer(dict(BERTVIZ_HOME=str(home), HF_HUB_OFFLINE="1",
                            BERTVIZ_INSTRUCTORS="lecturer@example.org",
                            BERTVIZ_LIVE_REFRESH_S=str(Settings().live_refresh_s)),
                       log=home / "server.log")
    try:
        server.start(timeout=90)
    except (RuntimeError, TimeoutError) as err:
        pytest.fail(f"streamlit did not start: {err}")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 720})
        pg = ctx.new_page()
        pg.app_url = server.url  # type: ignore[attr-defined]
        yield pg
        browser.close()
    server.stop()


def screen(pg, width: int, height: int, scheme: str) -> None:
    """Resize the window and switch the colour scheme; wait for the page to follow."""
    size = pg.viewport_size or {}
    if (size.get("width"), size.get("height"), getattr(pg, "scheme", "light")) == \
            (width, height, scheme):
        return
    pg.set_viewport_size({"width": width, "height": height})
    pg.emulate_media(color_scheme=scheme)
    pg.scheme = scheme
    pg.wait_for_timeout(700)  # the screen reporter waits 250 ms, then the page reruns
    settle(pg, 400)


def top(pg) -> None:
    pg.evaluate("""() => { const m = document.querySelector('[data-testid="stMain"]');
                           if (m) m.scrollTop = 0; window.scrollTo(0, 0); }""")


def check(pg, where: str, findings: list[str], folder: Path, shot: str,
          chart: bool = True, on_screen: tuple[str, ...] = ()) -> None:
    """Audit the page as drawn now (with a chart unless chart=False); keep its screenshot.
    `on_screen`: selectors that must lie wholly on the screen without scrolling."""
    if chart:  # plotly draws after the script run; the stack once its data arrived
        pg.locator(".js-plotly-plot .main-svg, .bvs-svg .bvs-panel").first.wait_for(
            timeout=20_000)
        pg.wait_for_timeout(250)
    top(pg)
    size = pg.viewport_size
    pg.screenshot(path=str(folder / f"{shot}.png"))
    found, charts = audit(pg, floor_for(size["width"], size["height"]))
    assert charts or not chart, f"{where}: no chart drawn"
    findings += [f"{where}: {f}" for f in found]
    findings += [f"{where}: {sel} is off the screen" for sel in on_screen
                 if not eventually(lambda s=sel: in_viewport(pg, s))]
    exc = pg.locator("[data-testid='stException']").all_inner_texts()
    assert not exc, (where, exc)


def eventually(check, seconds: float = 5.0) -> bool:
    """True once `check()` is (a live stack is redrawn several times a second: an element
    can be between two frames at the moment it is measured)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return bool(check())


def lesson_parts(step) -> tuple[str, ...]:
    """What a lesson step shows on the stage without scrolling: Next, and once revealed the
    figure and the explanation."""
    if step.answer is None:
        return (".st-key-lesson_next button",)
    return (".st-key-lesson_next button", ".js-plotly-plot:visible, .bvs-root",
            "[data-testid='stAlert']")


def frame_strip(frames: list[Path], out: Path) -> None:
    """The frames side by side in one image, in order (a backward sweep at a glance)."""
    from PIL import Image

    images = [Image.open(f).convert("RGB") for f in frames]
    strip = Image.new("RGB", (sum(i.width for i in images) + 8 * (len(images) - 1),
                              max(i.height for i in images)), "white")
    x = 0
    for image in images:
        strip.paste(image, (x, 0))
        x += image.width + 8
    strip.save(out)


def views(pg, step) -> int:
    return pg.locator(f".st-key-lesson_view_{step.id} button").count()


def test_every_lesson_step_on_the_stage(page, artefacts) -> None:
    """A student completes the lesson by mouse in presenter mode: forward at 1280x720 light
    (each step predicted, revealed, every view; the reveals timed; the summary at the end),
    then back at 1920x1080 dark (the view left on each step, the stack again where a step
    has it). Every view is audited, with Next, the figure and the explanation on screen."""
    pg, findings, reveal_s = page, [], {}
    screen(pg, 1280, 720, "light")
    t0 = time.perf_counter()
    pg.goto(f"{pg.app_url}/lesson?step=1&present=1")
    settle(pg, 600)
    for n, step in enumerate(STEPS, 1):
        assert f"step={n}" in pg.url, pg.url
        pg.get_by_role("heading", name=f"{n}. {step.title}").wait_for(timeout=30_000)
        settle(pg, 200)
        if step.answer is not None:
            predict_by_mouse(pg, step)
            check(pg, f"step {n} predicted", findings, artefacts, f"lesson-1280-light-{n:02d}-a",
                  chart=False)
            t1 = time.perf_counter()
            pg.locator(f".st-key-lesson_reveal_{step.id} button").filter(has_text="Reveal").click()
            pg.locator("[data-testid='stAlertContentSuccess'], "
                       "[data-testid='stAlertContentWarning']").filter(
                has_text="You ").first.wait_for(timeout=30_000)  # the explanation: revealed
            settle(pg, 300)
            pg.locator(".js-plotly-plot, .bvs-root").first.wait_for(timeout=30_000)
            reveal_s[step.id] = round(time.perf_counter() - t1, 2)
        for v in range(max(1, views(pg, step))):
            if v:
                pg.locator(f".st-key-lesson_view_{step.id} button").nth(v).click()
                rerun(pg, 400)
            check(pg, f"step {n} view {v + 1} at 1280x720 light", findings, artefacts,
                  f"lesson-1280-light-{n:02d}-view{v + 1}", chart=step.answer is not None,
                  on_screen=lesson_parts(step))
        if n < len(STEPS):
            pg.locator(".st-key-lesson_next button").click()
            # the step is in the URL once the rerun the click started has run; under load
            # that can come after settle() saw an idle page
            pg.wait_for_url(re.compile(rf"[?&]step={n + 1}(&|$)"), timeout=30_000)
            rerun(pg)
    # the end: the summary of the student's predictions, no stale step left over
    assert pg.get_by_text("right", exact=False).first.is_visible()
    pg.locator("[data-testid='stDataFrame']").wait_for(timeout=20_000)
    assert not pg.locator(".st-key-lesson_pred_inside-bert").count(), "no stale step"
    slowest = max(reveal_s, key=reveal_s.get)
    (artefacts / "lesson-timings.json").write_text(json.dumps(
        {"mouse_1280x720_presenter": {"total_s": round(time.perf_counter() - t0, 1),
                                      "reveal_s": reveal_s},
         "slowest_step": slowest,
         "setup": "recorded artefacts only, one Chromium page, every view audited"}, indent=1))
    screen(pg, 1920, 1080, "dark")
    for n in range(len(STEPS), 0, -1):
        step = STEPS[n - 1]
        pg.get_by_role("heading", name=f"{n}. {step.title}").wait_for(timeout=30_000)
        if views(pg, step):  # back to the first view (the stack where the step has one)
            pg.locator(f".st-key-lesson_view_{step.id} button").first.click()
            rerun(pg, 400)
        check(pg, f"step {n} at 1920x1080 dark", findings, artefacts,
              f"lesson-1920-dark-{n:02d}", chart=step.answer is not None,
              on_screen=lesson_parts(step))
        if n > 1:
            pg.locator(".st-key-lesson_back button").click()
            rerun(pg)
    (artefacts / "findings-lesson.txt").write_text("\n".join(findings) + "\n")
    assert not findings, "\n".join(findings)


def test_backprop_stage_replays_trains_and_fits(page, artefacts) -> None:
    """The Backprop stage: the recorded stacks replay (frames counted), Train gives the first
    pulse (timed) and live updates, Train, Stop and the live stack share the screen while it
    trains and after, and every size and scheme passes the audit."""
    pg, findings, measured = page, [], {}
    screen(pg, 1280, 720, "light")
    pg.goto(f"{pg.app_url}/backprop?present=1&task=sentiment&mode=frozen&epochs=1")
    settle(pg, 800)
    player = PLAYER.format(key="bp_recorded_stack")
    pg.wait_for_function(f"() => {{ const r = document.querySelector('{player}'); "
                         "return r && r.__bvs && r.__bvs.stats().playing; }", timeout=20_000)
    measured["replay_fps"] = frames_per_second(pg, 2000)
    stats = pg.evaluate(STATS, player)
    assert stats["n"] == 90 and stats["cycles"] >= 1 and stats["fontPx"] >= 18, stats
    # one backward sweep, group by group: a frame strip
    pg.locator(f"{player} .bvs-sweep").click()
    for k in range(6):
        pg.wait_for_timeout(650)
        pg.locator(".st-key-bp_recorded_stack").screenshot(
            path=str(artefacts / f"sweep-frame-{k}.png"))
    frame_strip([artefacts / f"sweep-frame-{k}.png" for k in range(6)],
                artefacts / "sweep-strip.png")
    check(pg, "Backprop before Train at 1280x720 light", findings, artefacts,
          "backprop-1280-light-recorded")
    # Train: the live run beside the recorded frozen and fine-tuned runs
    pg.evaluate(COUNT_RUNS)
    t0 = pg.evaluate("() => performance.now()")
    pg.locator(".st-key-bp_train button").click()
    live = PLAYER.format(key="bp_job_stack")
    pg.wait_for_function(f"() => {{ const r = document.querySelector('{live}'); "
                         "return r && r.__bvs && r.__bvs.stats().cycles > 0; }",
                         timeout=120_000, polling=50)
    first = pg.evaluate(STATS, live)
    measured["train_to_first_pulse_s"] = round(
        (pg.evaluate(f"() => document.querySelector('{live}').__bvs.firstPulseAt") - t0) / 1000, 2)
    u0, w0 = pg.evaluate(f"() => document.querySelector('{live}').__bvs.updates"), time.time()
    r0 = pg.evaluate("() => window.__scriptRuns")
    measured["live_fps"] = frames_per_second(pg, 2000)
    still = pg.evaluate(STATS, live)
    if still and still["live"]:
        dt = time.time() - w0
        # polls: the live view's runs that asked the job for news (each redraws the stack
        # when a step arrived); updates: the runs that brought the stack new data
        measured["live_polls_per_s"] = round((pg.evaluate("() => window.__scriptRuns") - r0)
                                             / dt, 1)
        measured["live_updates_per_s"] = round(
            (pg.evaluate(f"() => document.querySelector('{live}').__bvs.updates") - u0) / dt, 1)
    measured["live_steps_seen"] = [first["n"], still["n"] if still else None]
    # while it trains, Train, Stop and the live stack share the stage, no scrolling
    top(pg)
    findings += [f"Backprop while training at 1280x720: {sel} is off the screen"
                 for sel in TRAIN_PARTS if not eventually(lambda s=sel: in_viewport(pg, s))]
    pg.locator(".st-key-bp_train button:not([disabled])").wait_for(timeout=180_000)
    settle(pg, 800)
    for w, h, scheme in [(1280, 720, "light"), (1280, 720, "dark"), (1920, 1080, "dark"),
                         (1920, 1080, "light")]:
        screen(pg, w, h, scheme)
        check(pg, f"Backprop after Train at {w}x{h} {scheme}", findings, artefacts,
              f"backprop-{w}-{scheme}-trained", on_screen=TRAIN_PARTS)
    (artefacts / "stage-measured.json").write_text(json.dumps(measured, indent=1))
    print("stage measured:", measured)
    (artefacts / "findings-backprop.txt").write_text("\n".join(findings) + "\n")
    # 57-58 frames/s on this 2-core machine at rest; the floor leaves room for the load of a
    # whole suite around it (29 measured at a load average of 41)
    assert measured["replay_fps"] >= 24, measured
    # about 1.8 polls a second on idle cores (live_refresh_s 0.5: the pause between runs, plus
    # the run); the floor, 0.3 of the pace asked for, leaves room for the suite's load
    floor = 0.3 / Settings().live_refresh_s
    assert measured.get("live_polls_per_s") is None or measured["live_polls_per_s"] >= floor, \
        measured
    assert not findings, "\n".join(findings)

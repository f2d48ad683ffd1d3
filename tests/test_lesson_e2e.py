"""The lesson in real Chromium against `streamlit run`: a student completes it by mouse and by
keyboard; every step at 1280x720 in presenter mode is screenshotted into test-artifacts/ and
checked for clipped figure text; Train and the gradient chart share the 1280x720 stage.

Timings (whole lesson clicked through, slowest step's reveal-to-drawn time) are written to
test-artifacts/lesson-timings.json.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from bertviz_lite.bench.browser import (
    CHROMIUM_ARGS,
    SCROLL_TOP,
    AppServer,
    chromium_path,
    clipped_texts,
    in_viewport,
    settle,
)
from bertviz_lite.lesson import ArtefactStore, check_lesson, lessons_dir, load_lesson
from tests.conftest import REPO
from tests.lesson_browser import predict_by_mouse

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"
LESSON = load_lesson(lessons_dir() / "9.3-fine-tuning.toml")
STEPS = [s for s in LESSON.steps if s.id in check_lesson(LESSON, ArtefactStore())]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`streamlit run app.py` with an instructors list, so the browser is a student."""
    if not Path(chromium_path()).exists():
        pytest.skip(f"Chromium not found at {chromium_path()}")
    pytest.importorskip("playwright.sync_api")
    home = tmp_path_factory.mktemp("lesson-e2e")
    server = AppServer(dict(BERTVIZ_HOME=str(home), HF_HUB_OFFLINE="1",
               BERTVIZ_INSTRUCTORS="lecturer@example.org"), log=home / "server.log")
    try:
        server.start(timeout=90)
    except (RuntimeError, TimeoutError) as err:
        pytest.fail(f"streamlit did not start: {err}")
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_page(browser, width=1280, height=720):
    ctx = browser.new_context(viewport={"width": width, "height": height})
    return ctx, ctx.new_page()


def no_exceptions(pg) -> None:
    exc = pg.locator("[data-testid='stException']").all_inner_texts()
    assert not exc, exc


def explanation(pg):
    return pg.locator("[data-testid='stAlertContentSuccess'], "
                      "[data-testid='stAlertContentWarning']").filter(has_text="You ")


def predict_by_keyboard(pg, step) -> None:
    key = f".st-key-lesson_pred_{step.id}"
    kind = step.prediction.kind
    if kind == "layers":
        pg.locator(f"{key} button").filter(has_text="head").focus()
        pg.keyboard.press("Enter")
    elif kind == "log-number":
        pg.locator(f"{key} input[type='range']").focus()
        pg.keyboard.press("ArrowRight")
        pg.keyboard.press("ArrowRight")
    elif kind == "choice":
        pg.locator(f"{key} input[type='radio']").first.focus()
        pg.keyboard.press("Space")
    elif kind == "order":  # Tab to each group's button in turn, Enter picks it
        n = pg.locator(f"{key} button").count() - 1  # the last one is Undo
        for k in range(n):
            pg.locator(f".st-key-lesson_pred_{step.id}_pick_{k} button").focus()
            pg.keyboard.press("Enter")
            settle(pg, 100)
    settle(pg, 300)


def walk(pg, url: str, predict, by_keyboard: bool, shots: str | None = None) -> dict:
    """Every step: predict, Reveal, check the explanation, Next. Returns the timings."""
    t0 = time.perf_counter()
    pg.goto(f"{url}/lesson?step=1" + ("&present=1" if shots else ""))
    settle(pg, 800)
    reveal_s: dict[str, float] = {}
    for n, step in enumerate(STEPS, 1):
        assert f"step={n}" in pg.url, pg.url
        heading = pg.get_by_role("heading", name=f"{n}. {step.title}")
        heading.wait_for(timeout=30_000)
        settle(pg, 300)  # the new step's run has started: wait for it to finish
        if step.answer is not None:
            predict(pg, step)
            reveal = pg.locator(f".st-key-lesson_reveal_{step.id} button").filter(
                has_text="Reveal")
            t1 = time.perf_counter()
            if by_keyboard:
                reveal.focus()
                pg.keyboard.press("Enter")
            else:
                reveal.click()
            explanation(pg).first.wait_for(timeout=30_000)
            settle(pg, 200)
            pg.locator(".js-plotly-plot, .bvs-root").first.wait_for(timeout=30_000)
            reveal_s[step.id] = round(time.perf_counter() - t1, 2)
        no_exceptions(pg)
        if shots:
            check_stage(pg, step, n, shots)
        if n < len(STEPS):
            if by_keyboard:
                pg.keyboard.press("PageDown")
            else:
                pg.locator(".st-key-lesson_next button").click()
            # the step is in the URL once the rerun the click started has run; under load
            # that can come after settle() saw an idle page
            pg.wait_for_url(re.compile(rf"[?&]step={n + 1}(&|$)"), timeout=30_000)
            settle(pg, 300)
    assert pg.get_by_text("right", exact=False).first.is_visible()
    pg.locator("[data-testid='stDataFrame']").wait_for(timeout=20_000)  # the summary table
    assert not pg.locator(".st-key-lesson_pred_inside-bert").count(), "no stale step"
    return {"total_s": round(time.perf_counter() - t0, 1), "reveal_s": reveal_s}


def check_stage(pg, step, n: int, prefix: str) -> None:
    """The stage at this size: screenshot, nothing clipped, the essentials without scrolling."""
    pg.evaluate("""() => { const m = document.querySelector('[data-testid="stMain"]');
                           if (m) m.scrollTop = 0; window.scrollTo(0, 0); }""")
    pg.wait_for_timeout(300)
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{prefix}-step{n:02d}-{step.id}.png"))
    assert pg.evaluate(SCROLL_TOP) == 0
    assert not clipped_texts(pg), (step.id, clipped_texts(pg))
    assert in_viewport(pg, ".st-key-lesson_next button"), step.id
    if step.answer is not None:
        assert in_viewport(pg, ".js-plotly-plot:visible, .bvs-root"), \
            f"{step.id}: the figure needs scrolling"
        assert in_viewport(pg, "[data-testid='stAlert']"), f"{step.id}: the explanation"


def test_student_completes_the_lesson_by_mouse_on_the_stage(server, browser):
    ctx, pg = new_page(browser, 1280, 720)
    timings = walk(pg, server, predict_by_mouse, by_keyboard=False, shots="lesson-1280x720")
    assert "present=1" in pg.url
    ctx.close()
    ARTIFACTS.mkdir(exist_ok=True)
    slowest = max(timings["reveal_s"], key=timings["reveal_s"].get)
    out = {"mouse_1280x720_presenter": timings, "slowest_step": slowest,
           "setup": "recorded artefacts only, one Chromium page, this machine"}
    path = ARTIFACTS / "lesson-timings.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**old, **out}, indent=1))


def test_student_completes_the_lesson_by_keyboard(server, browser):
    ctx, pg = new_page(browser, 1500, 1000)
    timings = walk(pg, server, predict_by_keyboard, by_keyboard=True)
    ctx.close()
    path = ARTIFACTS / "lesson-timings.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**old, "keyboard_1500x1000": timings}, indent=1))


def test_lesson_stage_at_1920x1080(server, browser):
    ctx, pg = new_page(browser, 1920, 1080)
    walk(pg, server, predict_by_mouse, by_keyboard=False, shots="lesson-1920x1080")
    ctx.close()


def eventually(check, seconds: float = 5.0) -> bool:
    """True once `check()` is (the live chart is redrawn four times a second: an element
    can be between two frames at the moment it is measured)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return bool(check())


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_train_and_gradient_chart_share_the_stage(server, browser, size):
    ctx, pg = new_page(browser, *size)
    pg.goto(f"{server}/backprop?present=1&mode=frozen&epochs=1")
    settle(pg, 800)
    assert in_viewport(pg, ".st-key-bp_train button")
    pg.locator(".st-key-bp_train button").click()
    chart = ".st-key-bp_job_stack .bvs-svg"  # the animated stack is the stage's figure
    pg.locator(chart).wait_for(timeout=120_000)
    pg.wait_for_timeout(1000)
    for when in ("live", "done"):  # while it trains, and after the run
        if when == "done":
            pg.locator(".st-key-bp_train button:not([disabled])").wait_for(timeout=180_000)
            settle(pg, 1000)
        assert pg.evaluate(SCROLL_TOP) == 0
        for name, sel in [("Train", ".st-key-bp_train button"), ("Stop", ".st-key-bp_stop button"),
                          ("the stack", chart)]:
            assert eventually(lambda s=sel: in_viewport(pg, s)), f"{when}: {name} is off the stage"
        assert not clipped_texts(pg), (when, clipped_texts(pg))
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"backprop-stage-{size[0]}x{size[1]}.png"))
    no_exceptions(pg)
    ctx.close()

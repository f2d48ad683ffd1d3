"""The lesson in real Chromium against `streamlit run`, by keyboard alone: a student at
1500x1000 (not presenter mode) predicts, reveals and moves on with Tab, Enter, Space, the
arrow keys and PageDown, to the summary. Its timings go to test-artifacts/lesson-timings-keyboard.json.

The same lesson by mouse in presenter mode, every step audited at 1280x720 and 1920x1080,
and the Backprop stage (Train, Stop and the live stack on one screen) are in
tests/test_stage_e2e.py.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from bertviz_lite.bench.browser import CHROMIUM_ARGS, AppServer, chromium_path, settle
from bertviz_lite.lesson import ArtefactStore, check_lesson, lessons_dir, load_lesson
from tests.conftest import REPO

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
    # reduced motion: the lesson's stacks do not replay by themselves (the animation is
    # measured in tests/test_stage_e2e.py); keys and focus are what this module tests
    ctx = browser.new_context(viewport={"width": width, "height": height},
                              reduced_motion="reduce")
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


def walk(pg, url: str) -> dict:
    """Every step by keyboard: predict, Reveal, check the explanation, PageDown. Returns the
    timings."""
    t0 = time.perf_counter()
    pg.goto(f"{url}/lesson?step=1")
    settle(pg, 800)
    reveal_s: dict[str, float] = {}
    for n, step in enumerate(STEPS, 1):
        assert f"step={n}" in pg.url, pg.url
        heading = pg.get_by_role("heading", name=f"{n}. {step.title}")
        heading.wait_for(timeout=30_000)
        settle(pg, 300)  # the new step's run has started: wait for it to finish
        if step.answer is not None:
            predict_by_keyboard(pg, step)
            t1 = time.perf_counter()
            pg.locator(f".st-key-lesson_reveal_{step.id} button").filter(
                has_text="Reveal").focus()
            pg.keyboard.press("Enter")
            explanation(pg).first.wait_for(timeout=30_000)
            settle(pg, 200)
            pg.locator(".js-plotly-plot, .bvs-root").first.wait_for(timeout=30_000)
            reveal_s[step.id] = round(time.perf_counter() - t1, 2)
        no_exceptions(pg)
        if n < len(STEPS):
            pg.keyboard.press("PageDown")
            # the step is in the URL once the rerun the click started has run; under load
            # that can come after settle() saw an idle page
            pg.wait_for_url(re.compile(rf"[?&]step={n + 1}(&|$)"), timeout=30_000)
            settle(pg, 300)
    assert pg.get_by_text("right", exact=False).first.is_visible()
    pg.locator("[data-testid='stDataFrame']").wait_for(timeout=20_000)  # the summary table
    assert not pg.locator(".st-key-lesson_pred_inside-bert").count(), "no stale step"
    return {"total_s": round(time.perf_counter() - t0, 1), "reveal_s": reveal_s}


def test_student_completes_the_lesson_by_keyboard(server, browser):
    ctx, pg = new_page(browser, 1500, 1000)
    timings = walk(pg, server)
    ctx.close()
    # its own file: the mouse walk's timings are the stage audit's (tests/test_stage_e2e.py),
    # and merging into an older file kept figures of walks that no longer run
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "lesson-timings-keyboard.json").write_text(
        json.dumps({"keyboard_1500x1000": timings}, indent=1))

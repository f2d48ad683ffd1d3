"""`bertviz-lite lesson export`: the lesson as a static folder. Without a browser: what is
written (plotly.js once, from the installed package; nothing that names a web address to
load). In Chromium from file:// with every request that is not file:// aborted: every step
reachable, a prediction and a reveal on each, the explanation in the same words as the app's
(Python's `explain`), interactive figures, the predictions kept over a reload, Start over,
no page error and no network request. The export's size and its open time go to
test-artifacts/lesson-export.json.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from bertviz_lite.lesson import ArtefactStore, answer_for, explain, read_lessons
from bertviz_lite.lesson.export import export_lesson, plotly_js
from tests.conftest import REPO

ARTIFACTS = REPO / "test-artifacts"
STORE = ArtefactStore()
LESSON = next(f.lesson for f in read_lessons(store=STORE) if f.lesson is not None)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_lesson(tmp_path_factory.mktemp("export") / "lesson", store=STORE)


def words(text: str) -> str:
    return " ".join(text.split())


def test_the_export_is_one_folder_with_plotly_once_and_no_web_address(exported):
    out = exported.out
    assert (out / "index.html").is_file()
    assert [p.name for p in exported.files].count("plotly.min.js") == 1
    assert (out / "assets" / "plotly.min.js").read_bytes() == plotly_js().read_bytes()
    page = (out / "index.html").read_text()
    assert re.findall(r'(?:src|href)="([^"]+)"', page) == [
        "assets/lesson.css", "assets/plotly.min.js", "assets/lesson-data.js", "assets/lesson.js"]
    for name in ("index.html", "assets/lesson.js", "assets/lesson.css", "assets/lesson-data.js"):
        text = (out / name).read_text()
        assert not re.search(r"(?:src|href|url)\s*[=(]\s*[\"']?(?:https?:)?//", text), name
    data = json.loads((out / "assets" / "lesson-data.js").read_text()
                      .removeprefix("window.BERTVIZ_LESSON = ").rstrip().rstrip(";"))
    assert [s["id"] for s in data["steps"]] == [s.id for s in LESSON.steps]
    with pytest.raises(ValueError, match="not empty"):
        export_lesson(out / "assets")  # never writes into a folder that is not an export


def prediction(step, answer):
    """What the browser test predicts on each step, as the app would record it."""
    kind = step.prediction.kind
    if kind == "layers":
        return ["head"]
    if kind == "log-number":
        from bertviz_lite.lesson.format import log_values

        stops = log_values(step.prediction.low, step.prediction.high)
        return stops[len(stops) // 2]  # the slider's starting value
    if kind == "choice":
        return answer.options[0]
    return list(answer.options)  # order: as offered


def predict(pg, step, answer) -> None:
    kind = step.prediction.kind
    if kind == "layers":
        pg.locator("button[data-option='head']").click()
    elif kind == "choice":
        pg.locator(".prediction label").first.click()
    elif kind == "order":
        for option in answer.options:
            pg.locator(f"button[data-order-option='{option}']").click()


@pytest.mark.browser
def test_the_export_runs_from_file_with_the_network_blocked(exported):
    from bertviz_lite.bench.browser import CHROMIUM_ARGS, chromium_path

    if not Path(chromium_path()).exists():
        pytest.skip(f"Chromium not found at {chromium_path()}")
    sync_api = pytest.importorskip("playwright.sync_api")
    url = (exported.out / "index.html").resolve().as_uri()
    requests: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 720})
        ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
            "file://") else route.abort())
        pg = ctx.new_page()
        pg.on("request", lambda r: requests.append(r.url))
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        t0 = time.perf_counter()
        pg.goto(url)
        pg.get_by_role("heading", name=f"1. {LESSON.steps[0].title}").wait_for()
        open_s = time.perf_counter() - t0
        right = 0
        for n, step in enumerate(LESSON.steps, 1):
            pg.get_by_role("heading", name=f"{n}. {step.title}").wait_for()
            answer = answer_for(step, STORE)
            if answer is not None:
                predict(pg, step, answer)
                pg.locator("button.reveal").click()
                shown = pg.locator(".explanation").inner_text()
                verdict = explain(step, prediction(step, answer), answer)
                assert words(shown) == words(verdict.text), step.id
                right += verdict.right
                figure = pg.locator(".js-plotly-plot").first
                figure.wait_for()
                figure.hover()  # interactive: plotly answers the mouse
                if pg.locator(".tabs button").count() > 1:
                    pg.locator(".tabs button").nth(1).click()
                    pg.locator(".js-plotly-plot").first.wait_for()
            if n < len(LESSON.steps):
                pg.keyboard.press("PageDown")  # what a presenter's clicker sends
        revealed = sum(s.answer is not None for s in LESSON.steps)
        assert pg.locator(".score").inner_text() == \
            f"Your predictions: {right} of {revealed} right"
        pg.reload()  # kept in this browser
        pg.locator(".score").wait_for()
        assert pg.locator(".summary tbody tr").count() == revealed
        pg.locator("button.start-over").click()
        assert "step=1" in pg.url and not pg.locator(".explanation").count()
        browser.close()
    assert not errors, errors
    assert requests and all(u.startswith("file://") for u in requests), \
        [u for u in requests if not u.startswith("file://")]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "lesson-export.json").write_text(json.dumps({
        "bytes": exported.bytes, "files": exported.sizes, "export_s": round(exported.seconds, 2),
        "open_s": round(open_s, 3), "steps": exported.steps}, indent=2))


def test_the_command_refuses_a_folder_that_is_not_an_export(tmp_path, capsys):
    from bertviz_lite.cli.main import main

    (tmp_path / "notes.txt").write_text("mine")
    assert main(["lesson", "export", "--out", str(tmp_path)]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "is not empty" in out[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]

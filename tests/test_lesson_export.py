"""`bertviz-lite lesson export`: the lesson as a static folder. Without a browser: what is
written (plotly.js once, from the installed package; nothing that names a web address to
load); the player's explain() (run by Node) in Python's words for every step and many
predictions. In Chromium from file:// with every request that is not file:// aborted: every step
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
from bertviz_lite.record.runs import RunRecord
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
        "assets/lesson.css", "assets/stack.css", "assets/plotly.min.js", "assets/stack.js",
        "assets/lesson-data.js", "assets/lesson.js"]
    for name in ("index.html", "assets/lesson.js", "assets/lesson.css", "assets/lesson-data.js",
                 "assets/stack.js", "assets/stack.css"):
        text = (out / name).read_text()
        assert not re.search(r"(?:src|href|url)\s*[=(]\s*[\"']?(?:https?:)?//", text), name
    data = json.loads((out / "assets" / "lesson-data.js").read_text()
                      .removeprefix("window.BERTVIZ_LESSON = ").rstrip().rstrip(";"))
    assert [s["id"] for s in data["steps"]] == [s.id for s in LESSON.steps]
    # the animated stack first wherever a step shows the gradient per group, as in the app:
    # the step's recorded runs, with their recorded norms
    stacked = [s for s, d in zip(LESSON.steps, data["steps"]) if d["views"]
               and d["views"][0]["name"] == "stack"]
    assert stacked and all("grad-flow" in s.figures for s in stacked)
    for step, d in zip(LESSON.steps, data["steps"]):
        if "grad-flow" in step.figures and d["views"]:
            panels = d["views"][0]["stack"]["panels"]
            runs = [STORE.load(r) for r in step.answer.artefacts]
            assert sorted(p["mode"] for p in panels) == sorted(r.mode for r in runs
                                                             if isinstance(r, RunRecord))
    with pytest.raises(ValueError, match="not empty"):
        export_lesson(out / "assets")  # never writes into a folder that is not an export


# Runs lesson.js in Node on a stand-in DOM, then its explain() on each case: [step, prediction].
NODE_HARNESS = r"""
// usage: node run.js lesson-data.js lesson.js cases.json -> prints JSON of explanations
const fs = require("fs");
const fake = () => new Proxy(function () {}, {
  get: (t, k) => (k === Symbol.toPrimitive ? () => "" : k === "children" ? [] : fake()),
  set: () => true, apply: () => fake()});
const store = {}; global.window = new Proxy(store, {get: (t, k) => (k in t ? t[k] : fake()), set: (t, k, v) => { t[k] = v; return true; }}); global.document = fake(); global.location = {hash: ""};
global.history = {replaceState() {}}; global.localStorage = {getItem: () => null, setItem() {}};
global.setTimeout = () => 0; global.Plotly = fake();
eval(fs.readFileSync(process.argv[2], "utf8").replace("window.BERTVIZ_LESSON", "store.BERTVIZ_LESSON"));
eval(fs.readFileSync(process.argv[3], "utf8"));
const L = window.BERTVIZ_LESSON, cases = JSON.parse(fs.readFileSync(process.argv[4], "utf8"));
const out = cases.map(([i, pred]) => window.bertvizLesson.explain(L.steps[i], pred).text);
process.stdout.write(JSON.stringify(out));
"""


def cases(step, answer) -> list:
    """Many predictions for a step: every slider stop, option, a few sets and orders."""
    kind = step.prediction.kind
    opts = list(answer.options)
    if kind == "layers":
        return [[], opts, ["head"], opts[:1], opts[::2], [o for o in opts if o != "head"]]
    if kind == "log-number":
        from bertviz_lite.lesson.format import log_values

        return log_values(step.prediction.low, step.prediction.high)
    if kind == "choice":
        return opts
    return [opts, opts[::-1], opts[1:] + opts[:1], list(answer.value)]


def test_the_browser_explains_in_the_words_of_python(exported, tmp_path):
    """lesson.js's explain() (the port) against `lesson.explain`, for every step and many
    predictions; Node runs it (skipped without node)."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found: the browser test checks one prediction per step instead")
    todo, want = [], []
    for i, step in enumerate(LESSON.steps):
        answer = answer_for(step, STORE)
        for pred in (cases(step, answer) if answer is not None else []):
            todo.append([i, pred])
            want.append(words(explain(step, pred, answer).text))
    (tmp_path / "run.js").write_text(NODE_HARNESS)
    (tmp_path / "cases.json").write_text(json.dumps(todo))
    assets = exported.out / "assets"
    got = subprocess.run([node, str(tmp_path / "run.js"), str(assets / "lesson-data.js"),
                          str(assets / "lesson.js"), str(tmp_path / "cases.json")],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert [words(t) for t in json.loads(got)] == want
    assert len(want) > 60


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


STACK_PLAYS = ("() => { const r = document.querySelector('.panel .bvs-root');"
               " return !!(r && r.__bvs && r.__bvs.stats().frames > 2); }")


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
        right = stacks = 0
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
                if "grad-flow" in step.figures:  # the animated stack first, playing
                    pg.locator(".panel .bvs-root").wait_for()
                    pg.wait_for_function(STACK_PLAYS, timeout=10_000)
                    if not stacks:
                        ARTIFACTS.mkdir(exist_ok=True)
                        pg.wait_for_timeout(1500)  # a pulse on its way down
                        pg.screenshot(path=str(ARTIFACTS / "lesson-export-stack.png"))
                    pg.locator(".tabs button").nth(1).click()
                    stacks += 1
                figure = pg.locator(".js-plotly-plot").first
                figure.wait_for()
                figure.hover()  # interactive: plotly answers the mouse
                if pg.locator(".tabs button").count() > 2:
                    pg.locator(".tabs button").nth(2).click()
                    pg.locator(".js-plotly-plot").first.wait_for()
            if n < len(LESSON.steps):
                pg.keyboard.press("PageDown")  # what a presenter's clicker sends
        assert stacks > 0
        revealed = sum(s.answer is not None for s in LESSON.steps)
        assert pg.locator(".score").inner_text() == \
            f"Your predictions: {right} of {revealed} right"
        t1 = time.perf_counter()
        pg.reload()  # kept in this browser
        pg.locator(".score").wait_for()
        reopen_s = time.perf_counter() - t1
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
        "open_s": round(open_s, 3), "reopen_s": round(reopen_s, 3),
        "steps": exported.steps}, indent=2))


def test_the_command_refuses_a_folder_that_is_not_an_export(tmp_path, capsys):
    from bertviz_lite.cli.main import main

    (tmp_path / "notes.txt").write_text("mine")
    assert main(["lesson", "export", "--out", str(tmp_path)]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "is not empty" in out[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("where, says", [
    ("a-file", "is a file, not a folder"),
    ("a-file/inside", "is a file, so"),
    ("locked/new", "cannot write into"),
])
def test_the_command_refuses_where_it_cannot_write_before_any_work(tmp_path, capsys,
                                                                    monkeypatch, where, says):
    """A file, a folder under a file, a folder that cannot be written: one line, exit 2, and
    nothing computed (the lesson's data is never built)."""
    import os

    from bertviz_lite.cli.main import main
    from bertviz_lite.lesson import export

    (tmp_path / "a-file").write_text("mine")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0o500)
    real_access = os.access
    # root may write anywhere: the refusal is checked with what os.access says of a user
    monkeypatch.setattr(export.os, "access", lambda p, mode: (
        False if Path(p) == tmp_path / "locked" else real_access(p, mode)))
    monkeypatch.setattr(export, "lesson_data", lambda *a, **k: pytest.fail("work began"))
    try:
        assert main(["lesson", "export", "--out", str(tmp_path / where)]) == 2
    finally:
        (tmp_path / "locked").chmod(0o700)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and says in out[0], out
    assert (tmp_path / "a-file").read_text() == "mine"

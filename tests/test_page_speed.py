"""Pages appear at once: what every session shows the same way is built once per server, and
the web server's process loads torch only for a page that runs the model itself. (The page
times themselves are measured by `bertviz-lite bench`, not asserted here.)"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.conftest import REPO, app_settings, page_path  # noqa: E402


@pytest.fixture()
def app_env(tiny_model_dir, tmp_path):
    env = {"BERTVIZ_MODELS": f"tiny={tiny_model_dir},bundled=bundled",
           "BERTVIZ_HOME": str(tmp_path), "BERTVIZ_CACHE_DIR": str(tmp_path / "cache")}
    with app_settings(env):
        yield


def counted(calls: Counter, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func`, counting its calls under `name`."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return func(*args, **kwargs)
    wrapper.__module__, wrapper.__qualname__ = func.__module__, func.__qualname__
    return wrapper


def test_start_page_builds_what_every_session_shares_once(app_env, monkeypatch):
    import bertviz_lite.figures as figures
    import bertviz_lite.ui.resources as resources

    calls: Counter = Counter()
    for name in ("bert_diagram_svg", "paper_table_markdown"):
        monkeypatch.setattr(figures, name, counted(calls, name, getattr(figures, name)))
    monkeypatch.setattr(resources, "model_facts",
                        counted(calls, "model_facts", resources.model_facts))
    monkeypatch.setattr(resources, "load_recorded_runs",
                        counted(calls, "load_recorded_runs", resources.load_recorded_runs))
    drawn = []
    for session in range(2):  # two browser sessions, one server process
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        drawn.append([m.value for m in at.markdown if "bv-diagram" in m.value])
        assert len(drawn[-1]) == 2, "the two diagrams of the start page"
        assert not at.get("plotly_chart") and not at.get("arrow_data_frame"), \
            "the start page loads no chart or data-grid script"
        if session == 0:
            first = dict(calls)
    # the shared figures are drawn the same for both
    assert drawn[0] == drawn[1]
    # the first session builds the two diagrams, the table and the facts; the second nothing
    assert first == {"bert_diagram_svg": 2, "paper_table_markdown": 1, "model_facts": 1}, first
    assert dict(calls) == first, f"the second session rebuilt: {dict(calls)}"


PAGES_WITHOUT_TORCH = ["home", "lesson", "backprop", "compare", "changes", "instructor"]


def test_the_web_process_loads_torch_only_for_pages_that_run_the_model(tiny_model_dir, tmp_path):
    """Each page in a fresh process (as the server's first visit): which ones import torch."""
    script = inspect.cleandoc(f"""
        import json, os, sys
        os.chdir({str(REPO)!r})
        from streamlit.testing.v1 import AppTest
        out = {{}}
        for name, path in json.loads(sys.argv[1]).items():
            at = AppTest.from_file("app.py", default_timeout=90)
            at.run()
            if name != "home":
                at.switch_page(path).run()
            out[name] = {{"torch": "torch" in sys.modules,
                         "errors": [str(e.value) for e in at.exception]}}
            if out[name]["torch"]:
                break
        print(json.dumps(out))
    """)
    pages = {name: page_path(name) for name in PAGES_WITHOUT_TORCH}
    env = {"BERTVIZ_MODELS": f"tiny={tiny_model_dir},bundled=bundled",
           "BERTVIZ_HOME": str(tmp_path), "BERTVIZ_CACHE_DIR": str(tmp_path / "cache"),
           "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script, json.dumps(pages)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert {name: v["errors"] for name, v in seen.items() if v["errors"]} == {}
    assert [name for name, v in seen.items() if v["torch"]] == [], seen
    assert list(seen) == PAGES_WITHOUT_TORCH


@pytest.mark.parametrize("target", [
    "bertviz_lite.engine.training:Trainer.events",  # a method
    "bertviz_lite.engine.gradflow:GradFlow.grad_norms",
    "bertviz_lite.experiments.cka:linear_cka",  # a function
    "bertviz_lite.ui.layout:_built_once",  # a decorated function
    "bertviz_lite.engine.facts:ModelFacts",  # a decorated class
])
def test_show_the_code_by_name_equals_the_imported_source(target):
    """"Show the code" by name (no import in the web server) shows what inspect would."""
    import importlib

    from bertviz_lite.source_code import source_of

    module, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    obj = getattr(obj, "__wrapped__", obj)
    assert source_of(target) == inspect.getsource(obj)


@pytest.mark.parametrize("target", ["bertviz_lite.engine.training:NoSuchThing",
                                    "bertviz_lite.no_such_module:f", "bertviz_lite.names"])
def test_show_the_code_by_a_wrong_name_says_so(target):
    from bertviz_lite.source_code import source_of

    with pytest.raises((LookupError, ModuleNotFoundError)):
        source_of(target)


def test_recorded_runs_are_read_once_and_shared_not_copied(app_env):
    """Every live page asks for the recorded runs at each poll: the same objects come back
    (st.cache_data's copy of 21 records was 14% of a training server's CPU)."""
    from bertviz_lite.ui.resources import recorded_runs

    first, again = recorded_runs(), recorded_runs()
    assert first and first is again
    assert all(first[k] is again[k] for k in first)


RUNS_SEEN = """() => { window.__runs = 0;
  new MutationObserver(() => {
    const app = document.querySelector('[data-testid="stApp"]');
    const now = app && app.getAttribute('data-test-script-state');
    if (now === 'running' && window.__was !== 'running') window.__runs += 1;
    window.__was = now;
  }).observe(document, {subtree: true, attributes: true, childList: true}); }"""


@pytest.mark.browser
def test_a_new_session_runs_the_start_page_once_and_a_dark_browser_is_seen(tmp_path):
    """Off the stage only the brightness is worth a rerun: a new visitor's start page runs its
    script once (it ran twice while the window's size was reported). A dark browser is still
    seen: its page is redrawn with the dark styles. (Presenter mode's size report is what
    the stage tests' audits at 1280x720 and 1920x1080 rely on.)"""
    sync_api = pytest.importorskip("playwright.sync_api")
    from bertviz_lite.bench.browser import CHROMIUM_ARGS, AppServer, chromium_path, settle

    if not Path(chromium_path()).exists():
        pytest.skip(f"no Chromium at {chromium_path()}")
    dark_css = "() => document.documentElement.innerHTML.includes('#FF9AA8')"
    with AppServer({"BERTVIZ_HOME": str(tmp_path)}) as server, \
            sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        seen = {}
        for scheme in ("light", "dark"):
            ctx = browser.new_context(viewport={"width": 1500, "height": 980},
                                      color_scheme=scheme)
            pg = ctx.new_page()
            pg.add_init_script(f"({RUNS_SEEN})()")
            pg.goto(server.url)
            pg.wait_for_selector(".bv-diagram", timeout=60_000)
            if scheme == "dark":  # the report's rerun draws the dark styles (under load: later)
                pg.wait_for_function(dark_css, timeout=90_000)
            settle(pg, pause_ms=2000)  # and nothing runs after it
            seen[scheme] = (pg.evaluate("() => window.__runs"), pg.evaluate(dark_css))
            ctx.close()
        browser.close()
    assert seen["light"] == (1, False), seen  # the default (light) was right: one run
    assert seen["dark"][1], seen

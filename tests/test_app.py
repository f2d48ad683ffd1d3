"""The Streamlit app through AppTest: every page opens, the main widgets change, a short
training run on a tiny model draws the gradient-flow chart with the right groups."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.conftest import REPO, app_settings, page_names, page_path  # noqa: E402

PAGES = [page_path(name) for name in page_names()]  # every page of the registry


@pytest.fixture(scope="module", autouse=True)
def app_env(tiny_model_dir, tmp_path_factory):
    """The app's settings for these tests: a tiny model, private cache folders."""
    home = tmp_path_factory.mktemp("bvhome")
    env = {"BERTVIZ_MODELS": f"tiny={tiny_model_dir},bundled=bundled",
           "BERTVIZ_HOME": str(home), "BERTVIZ_CACHE_DIR": str(home / "cache"),
           "BERTVIZ_MAX_EXAMPLES": "48", "BERTVIZ_MAX_EVAL_EXAMPLES": "24"}
    with app_settings(env):
        yield


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
    at.run()
    if page != page_path("home"):
        at.switch_page(page).run()
    return at


@pytest.mark.parametrize("page", PAGES, ids=page_names())
def test_every_page_opens(page):
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, "each page has a title"


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def flow_chart(at: AppTest) -> dict | None:
    for spec in charts(at):
        title = json.dumps(spec["layout"].get("title", ""))
        if "Weight-gradient norms" in title:
            return spec
    return None


def train_until_done(at: AppTest, timeout: float = 120) -> None:
    at.button(key="bp_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = at.session_state["bp_job"]
    deadline = time.time() + timeout
    while not job.done and time.time() < deadline:
        time.sleep(0.5)
        at.run()
    assert job.done, job.snapshot()
    at.run()


@pytest.mark.parametrize("mode,frozen", [
    ("frozen", {"embeddings", "layer.0", "layer.1"}),
    ("finetune", set()),
])
def test_backprop_trains_and_draws_gradient_flow(mode, frozen):
    at = open_page(page_path("backprop"))
    at.segmented_control(key="mode").set_value(mode).run()
    at.number_input(key="epochs").set_value(1).run()
    assert not at.exception
    train_until_done(at)
    job = at.session_state["bp_job"]
    assert job.state in ("completed", "cached"), job.error
    spec = flow_chart(at)
    assert spec is not None, "the gradient-flow chart is drawn after training"
    text = json.dumps(spec)
    for group in ["embeddings", "layer.0", "layer.1", "head"]:
        assert group in text
    record = job.snapshot().record
    assert set(record.frozen_groups) == frozen
    last = record.steps[-1].grad_norm
    assert all(last[g] == 0.0 for g in frozen) and last["head"] > 0
    if frozen:
        assert "frozen: no gradient" in text  # drawn as a wall, never hidden
    # replay, heatmap, sweep, ratios and exports follow, one at a time (buttons, not tabs)
    assert at.segmented_control(key="bp_result_view").value == "Replay"


def test_main_widgets_change_without_errors():
    at = open_page(page_path("backprop"))
    at.selectbox(key="task").select("ner").run()
    at.segmented_control(key="mode").set_value("top-k").run()
    at.slider(key="top_k").set_value(1).run()
    at.select_slider(key="lr").set_value(1e-4).run()
    at.selectbox(key="data").select("upload").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Choose a file" in w.value for w in at.warning)


def test_presenter_mode_toggles():
    at = open_page(page_path("home"))
    at.toggle(key="presenter_toggle").set_value(True).run()
    assert not at.exception
    assert any("font-size" in h.proto.body for h in at.get("html")), "presenter CSS is applied"
    assert at.query_params.get("present") in ("1", ["1"]), "presenter mode is kept in the URL"
    at.run()  # a rerun (as every page change is, through app.py) keeps it
    assert at.query_params.get("present") in ("1", ["1"])
    at.toggle(key="presenter_toggle").set_value(False).run()
    assert "present" not in at.query_params


def test_a_link_with_present_opens_in_presenter_mode():
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
    at.query_params["present"] = "1"
    at.run()
    assert not at.exception
    assert at.toggle(key="presenter_toggle").value is True
    assert any("font-size" in h.proto.body for h in at.get("html"))


def test_every_page_works_with_a_tiny_2_layer_4_head_model(tiny_model_dir):
    """The app's model here is the tiny safetensors BERT (first in BERTVIZ_MODELS): every fact
    on the pages comes from it, and every page works after fine-tuning it in the session."""
    at = open_page(page_path("home"))
    text = " ".join([*(m.value for m in at.markdown), *(c.value for c in at.caption)])
    assert "2 layers x 4 heads, 32 wide" in text and "66 trainable weights" in text
    assert "12 attention heads" not in text and "22 million" not in text
    home = " ".join(m.value for m in at.markdown if "bv-diagram" in m.value)  # the SVGs
    assert "layer.1" in home and "layer.2" not in home
    at.switch_page(page_path("backprop")).run()
    at.segmented_control(key="mode").set_value("top-k").run()
    assert at.slider(key="top_k").max == 2  # the tiny model's layers, not the bundled six
    at.segmented_control(key="mode").set_value("finetune").run()
    at.number_input(key="epochs").set_value(1).run()
    train_until_done(at)
    assert at.session_state["bp_job"].snapshot().record.model["layers"] == 2
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
    at.switch_page(page_path("attention")).run()
    assert at.slider(key="att_layer").max == 1 and at.slider(key="att_head").max == 3
    titles = " ".join(json.dumps(c["layout"].get("title", "")) for c in charts(at))
    assert "Pretrained: layer 1, head 0" in titles and "Fine-tuned: layer 1, head 0" in titles
    assert any("4 attention heads" in c.value for c in at.caption)


def test_compare_page_shows_recorded_runs():
    at = open_page(page_path("compare"))
    at.selectbox(key="task").select("paraphrase").run()
    assert not at.exception
    assert charts(at), "recorded runs give an instant comparison"
    titles = [json.dumps(c["layout"].get("title", "")) for c in charts(at)]
    assert any("Accuracy: ours vs the paper" in t for t in titles)
    assert any("What each mode costs" in t for t in titles)
    bars = next(c for c in charts(at) if "ours vs the paper" in json.dumps(c["layout"]["title"]))
    paper = {m: y for m, y in zip(bars["data"][1]["x"], bars["data"][1]["y"])}
    # each row's own paper number: scalar-mix frozen is the paper's frozen setup, top-2 has none
    assert paper["frozen (scalar-mix)"] == 78.1 and paper["finetune"] == 84.8
    assert paper["top-2"] is None
    captions = " ".join(c.value for c in at.caption)
    assert "recorded " in captions and "measured on this machine" not in captions
    table = at.dataframe[0].value
    assert "paper's number" in table.columns


PAGE_SCRIPT = '''"""A page added by a test."""
from bertviz_lite import ui

ui.page_header("One more page", "Added with one registry entry and this file.")
'''


def test_a_page_is_its_script_and_one_registry_entry(tmp_path, monkeypatch):
    """Adding a page touches its script and the registry only: the navigation lists it, the
    start page links it under Explore, the tests' list of pages and the README table have it."""
    from bertviz_lite.app import readme, registry
    from tests.conftest import page_names

    script = tmp_path / "extra.py"
    script.write_text(PAGE_SCRIPT, encoding="utf-8")
    extra = registry.Page("extra", "One more page", "extra", summary="a page added by a test",
                          label="More", explore=True, path=script)
    monkeypatch.setattr(registry, "PAGES", (*registry.PAGES, extra))

    assert page_names()[-1] == "extra" and page_path("extra") == str(script)
    assert "| More | `/extra` | a page added by a test |" in readme.pages_table()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    links = {link.proto.label: link.proto.page for link in at.get("page_link")}
    assert links.get("More") == "extra", links  # Explore, on the start page
    assert links.get("Lesson") == "lesson", "the lesson is linked from the start page"
    at.switch_page(str(script)).run()  # ValueError unless the navigation registered it
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["One more page"]


def test_home_is_an_alias_of_the_start_page():
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
    at.run()
    start = [t.value for t in at.title]
    pages = {info.get("url_pathname"): h for h, info in at._registered_pages.items()}
    assert "home" in pages and "lesson" in pages, sorted(pages)
    at._page_hash = pages["home"]  # what a browser opening /home asks for
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == start

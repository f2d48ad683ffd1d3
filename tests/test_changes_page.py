"""The "What changed inside BERT?" page through AppTest: the recorded analyses draw at once,
and a model fine-tuned in the session is analysed as a job of the app's pool and drawn."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from bertviz_lite.experiments.inside_bert_result import ChangesResult  # noqa: E402
from tests.conftest import REPO, app_settings, page_path  # noqa: E402

PAGE = page_path("changes")


@pytest.fixture(scope="module", autouse=True)
def app_env(tiny_model_dir, tmp_path_factory):
    """The app's settings for these tests: a tiny model, private cache folders."""
    home = tmp_path_factory.mktemp("chghome")
    env = {"BERTVIZ_MODELS": f"tiny={tiny_model_dir},bundled=bundled",
           "BERTVIZ_HOME": str(home), "BERTVIZ_CACHE_DIR": str(home / "cache"),
           "BERTVIZ_MAX_EXAMPLES": "48", "BERTVIZ_MAX_EVAL_EXAMPLES": "24"}
    with app_settings(env):
        yield


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(page).run()
    return at


def chart_titles(at: AppTest) -> list[str]:
    return [json.dumps(json.loads(c.proto.spec)["layout"].get("title", ""))
            for c in at.get("plotly_chart")]


def test_recorded_analysis_draws_every_figure():
    recorded = REPO / "assets" / "changes" / "sentiment-finetune.json"
    if not recorded.is_file():
        pytest.fail("assets/changes/sentiment-finetune.json is missing: run scripts/record-changes.sh")
    at = open_page(PAGE)
    at.selectbox(key="task").select("sentiment").run()
    assert not at.exception, [e.value for e in at.exception]
    titles = " ".join(chart_titles(at))
    for title in ("What changed, layer by layer", "Where the task information lives",
                  "Every layer against every layer", "What it forgot"):
        assert title in titles
    assert "ours: bundled (6 layers), sentiment finetune" in titles
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    labels = spec["data"][0]["y"]
    assert labels[0] == "embeddings" and labels[-1] == "layer.5"  # gradient-flow order
    cka = spec["data"][0]["x"]
    d = json.loads(recorded.read_text())
    assert cka == [g["cka"] for g in d["groups"]]  # the recorded numbers, as recorded
    at.segmented_control(key="chg_mode").set_value("frozen").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["x"] == [1.0] * 7 and "layer.5 (frozen)" in spec["data"][0]["y"]


def test_session_finetuned_model_is_analysed_in_the_job_pool():
    at = open_page(page_path("backprop"))
    at.selectbox(key="model").select("tiny").run()
    at.segmented_control(key="mode").set_value("finetune").run()
    at.number_input(key="epochs").set_value(1).run()
    at.button(key="bp_train").click().run()
    job = at.session_state["bp_job"]
    deadline = time.time() + 180
    while not job.done and time.time() < deadline:
        time.sleep(0.5)
        at.run()
    assert job.state in ("completed", "cached"), job.error
    at.switch_page(PAGE).run()
    at.segmented_control(key="chg_source").set_value("session").run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="chg_go").click().run()
    handle = at.session_state["chg_job"]
    assert handle.kind == "analysis"  # a job of the app's pool, like a training run
    deadline = time.time() + 240
    while not handle.done and time.time() < deadline:
        time.sleep(1)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert handle.state == "completed", handle.error
    result = ChangesResult.from_dict(handle.result)
    assert result.setup["mode"] == "finetune" and result.setup["layers"] == 2
    assert all(g.weight_change > 0 for g in result.groups)
    titles = " ".join(chart_titles(at))
    assert "What changed, layer by layer" in titles and "What it forgot" in titles

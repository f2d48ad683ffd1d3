"""The app's training form offers the task model under its plain name, trains it frozen, and
says what to do when it is combined with fine-tuning."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from tests.conftest import app_settings, page_path  # noqa: E402
from tests.test_app import flow_chart, open_page, train_until_done  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def app_env(tiny_model_dir, tmp_path_factory):
    home = tmp_path_factory.mktemp("bvhome")
    env = {"BERTVIZ_MODELS": f"tiny={tiny_model_dir},bundled=bundled",
           "BERTVIZ_HOME": str(home), "BERTVIZ_CACHE_DIR": str(home / "cache"),
           "BERTVIZ_MAX_EXAMPLES": "32", "BERTVIZ_MAX_EVAL_EXAMPLES": "16"}
    with app_settings(env):
        yield


def test_form_names_trains_and_refuses_the_task_model():
    at = open_page(page_path("backprop"))
    at.selectbox(key="task").select("ner").run()
    radio = at.radio(key="head")
    assert "task model: BiLSTM-CRF" in radio.options
    radio.set_value("task-model").run()
    at.segmented_control(key="mode").set_value("finetune").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(str(e.value) for e in [*at.error, *at.warning])
    assert "use mode frozen" in shown
    at.segmented_control(key="mode").set_value("frozen").run()
    at.number_input(key="epochs").set_value(1).run()
    train_until_done(at, timeout=480)  # a worker process starts first (slow on a busy machine)
    record = at.session_state["bp_job"].snapshot().record
    assert record.config["head"] == "task-model"
    assert record.label == "frozen (task model: BiLSTM-CRF)"
    last = record.steps[-1].grad_norm
    assert last["head"] > 0 and all(v == 0.0 for g, v in last.items() if g != "head")
    assert flow_chart(at) is not None

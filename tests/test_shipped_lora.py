"""The LoRA-tuned models shipped in assets/models (scripts/record-runs.sh): small, only the
LoRA matrices and a head, the pretrained weights untouched on load, the lesson's sentiment run
reproduced by the shipped sentiment model, and Attention and Attribution showing them at once,
before anyone trains."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from bertviz_lite.engine.config import TASKS
from tests.conftest import REPO, app_settings, page_path

MODELS = REPO / "assets" / "models"


@pytest.mark.parametrize("task", TASKS)
def test_each_task_ships_a_small_lora_model_of_matrices_and_a_head(task: str) -> None:
    folder = MODELS / f"{task}-lora"
    meta = json.loads((folder / "task.json").read_text())
    assert meta["config"]["mode"] == "lora" and meta["config"]["model"] == "bundled"
    assert meta["encoder"] == "pretrained+trained"
    state = load_file(str(folder / "model.safetensors"))
    assert all(k.startswith("head.") or ".lora_" in k for k in state), sorted(state)[:5]
    assert any(".lora_A" in k for k in state) and any(".lora_B" in k for k in state)
    assert (folder / "model.safetensors").stat().st_size < 1_000_000  # about 0.3 MB


def test_the_pretrained_weights_stay_as_shipped_and_the_lesson_run_is_reproduced(
        bundled_backbone) -> None:
    """Loaded on the bundled BERT, every pretrained weight is bit-identical to the backbone's
    (only the LoRA matrices and the head come from the file), and the shipped sentiment model
    scores what the lesson's recorded LoRA run reports, on the same validation examples."""
    from bertviz_lite.data.load import load_task_data
    from bertviz_lite.engine.checkpoints import load_task_model
    from bertviz_lite.inspect import predict_texts

    trained = load_task_model(MODELS / "sentiment-lora", bundled_backbone)
    base = dict(bundled_backbone.encoder.named_parameters())
    for name, p in trained.model.encoder.named_parameters():
        if "lora_" in name:
            continue
        original = base[name.replace("base_layer.", "")]
        assert torch.equal(p, original), name
    record = json.loads((REPO / "assets" / "runs" / "sentiment-lora.json").read_text())
    data = load_task_data("sentiment", "bundled", seed=record["config"]["seed"])
    preds = predict_texts(trained.model, bundled_backbone.tokenizer, data.val,
                          trained.label_names)
    accuracy = sum(p.index == ex.label for p, ex in zip(preds, data.val, strict=True)) / len(preds)
    # the same examples; batches padded differently may flip at most one near-tie
    assert abs(accuracy - record["final"]["value"]) <= 1 / len(preds) + 1e-9


@pytest.fixture()
def bundled_app(tmp_path):
    env = {"BERTVIZ_MODELS": "bundled=bundled", "BERTVIZ_HOME": str(tmp_path),
           "BERTVIZ_CACHE_DIR": str(tmp_path / "cache")}
    with app_settings(env):
        yield


def test_attribution_and_attention_show_the_lora_model_before_anyone_trains(bundled_app):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(page_path("attribution")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [h.value for h in at.subheader][:2] == ["Frozen BERT + trained head",
                                                   "LoRA-tuned BERT"]
    html = [h.proto.body for h in at.get("html") if "explaining" in h.proto.body]
    assert len(html) == 2  # both columns explain the prediction: nothing waits for training
    assert any("shipped with the app" in c.value for c in at.caption)
    at.switch_page(page_path("attention")).run()
    assert not at.exception, [e.value for e in at.exception]
    titles = " ".join(json.dumps(c.proto.spec) for c in at.get("plotly_chart"))
    assert "LoRA-tuned: layer 5, head 0" in titles and "LoRA-tuned minus pretrained" in titles

"""Model loading and layer-group discovery across the BERT family, without downloads."""

from __future__ import annotations

import json

import pytest
import torch

from bertviz_lite.engine.groups import ModelStructureError, build_groups, trainable_group_names
from bertviz_lite.engine.heads import TaskHead
from bertviz_lite.engine.models import ModelError, load_backbone, pick_device, resolve_model


def _tiny(kind: str):
    from transformers import (
        BertConfig,
        BertModel,
        DistilBertConfig,
        DistilBertModel,
        ElectraConfig,
        ElectraModel,
        RobertaConfig,
        RobertaModel,
    )

    small = dict(vocab_size=100, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                 intermediate_size=32)
    if kind == "bert":
        return BertModel(BertConfig(**small))
    if kind == "roberta":
        return RobertaModel(RobertaConfig(**small))
    if kind == "electra":
        return ElectraModel(ElectraConfig(embedding_size=8, **small))
    return DistilBertModel(DistilBertConfig(vocab_size=100, dim=16, n_layers=3, n_heads=2,
                                            hidden_dim=32))


@pytest.mark.parametrize("kind", ["bert", "distilbert", "roberta", "electra"])
def test_groups_cover_every_parameter_once(kind):
    encoder = _tiny(kind)
    head = TaskHead(16, 2, None, pair=False)
    groups = build_groups(encoder, head, use_pooler=False)
    names = [g.name for g in groups]
    assert names == ["embeddings", "layer.0", "layer.1", "layer.2", "head"]
    seen = [id(p) for g in groups for p in g.parameters()]
    assert len(seen) == len(set(seen))
    pooler = {id(p) for n, p in encoder.named_parameters() if n.startswith("pooler")}
    expected = {id(p) for p in encoder.parameters()} - pooler | {id(p) for p in head.parameters()}
    assert set(seen) == expected
    if kind == "electra":  # the embedding projection belongs to the embeddings group
        assert groups[0].numel() > sum(p.numel() for p in encoder.embeddings.parameters())


def test_pooler_group_only_when_used():
    encoder = _tiny("bert")
    head = TaskHead(16, 2, None, pair=False)
    names = [g.name for g in build_groups(encoder, head, use_pooler=True)]
    assert names[-2:] == ["pooler", "head"]
    with pytest.raises(ModelStructureError, match="has no pooler"):
        build_groups(_tiny("distilbert"), head, use_pooler=True)


def test_trainable_names_policy():
    encoder = _tiny("bert")
    groups = build_groups(encoder, TaskHead(16, 2, None, pair=False), use_pooler=True)
    assert trainable_group_names(groups, 0) == ["head"]
    assert trainable_group_names(groups, 1) == ["layer.2", "pooler", "head"]
    assert trainable_group_names(groups, None) == [g.name for g in groups]
    assert trainable_group_names(groups, 3) == ["layer.0", "layer.1", "layer.2", "pooler", "head"]


def test_bundled_model_loads_offline(bundled_backbone):
    b = bundled_backbone
    assert (b.num_layers, b.hidden_size) == (6, 384)
    assert b.encoder.config._attn_implementation == "eager"
    assert next(b.encoder.parameters()).dtype == torch.float32
    assert b.tokenizer.is_fast


def test_local_folder_loads(tiny_model_dir):
    b = load_backbone(str(tiny_model_dir))
    assert b.num_layers == 2 and b.hidden_size == 32


def test_pickle_only_checkpoint_is_refused(tmp_path, tiny_model_dir):
    (tmp_path / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ModelError, match="pickle-based checkpoint"):
        load_backbone(str(tmp_path))


@pytest.mark.parametrize("setup,message", [
    (lambda p: None, "has no config.json"),
    (lambda p: (p / "config.json").write_text("{not json"), "is not valid JSON"),
    (lambda p: (p / "config.json").write_text(json.dumps({"model_type": "gpt2"})),
     "supports BERT-family encoders"),
    (lambda p: (p / "config.json").write_text(json.dumps({"model_type": "bert"})),
     "has no \\*.safetensors weights"),
])
def test_bad_model_folders(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(ModelError, match=message):
        load_backbone(str(tmp_path))


def test_bad_model_names():
    with pytest.raises(ModelError, match="does not exist"):
        load_backbone("./no/such/folder")
    with pytest.raises(ModelError, match="neither 'bundled'"):
        resolve_model("not a model name!")
    # a Hub id is resolved as remote (loading it needs the network: not done in tests)
    assert resolve_model("prajjwal1/bert-tiny") == ("prajjwal1/bert-tiny", False)


def test_hub_id_offline_gives_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="Hugging Face Hub"):
        load_backbone("prajjwal1/bert-tiny-that-is-not-cached")


def test_device_choice():
    assert pick_device("cpu").type == "cpu"
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA GPU"):
            pick_device("cuda")


def test_auto_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto").type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto").type == "cpu"
    with pytest.raises(ModelError, match="MPS is not available"):
        pick_device("mps")


def test_start_page_counts_agree_with_the_runs():
    """The start page states the bundled model's weights twice (its summary, and "all N weights
    change" when fine-tuned): one count, the one every run record has, one format."""
    import json
    import re
    from pathlib import Path

    from bertviz_lite.engine.facts import human_count, linear_head_params, model_facts
    from tests.conftest import REPO, page_path

    facts = model_facts("bundled")
    run = json.loads((REPO / "assets" / "runs" / "sentiment-finetune.json").read_text())
    finetuned = human_count(facts.trained_params + linear_head_params(facts.hidden, 2))
    assert finetuned == human_count(run["total_params"])
    home = Path(page_path("home")).read_text()
    assert "human_count(facts.trained_params + head)" in home  # the bullet's count
    said = re.findall(r"([\d.]+ million) weights", facts.summary)
    assert said == [finetuned], (facts.summary, finetuned)

"""The engine's promises, checked against torch itself on a tiny random BERT."""

from __future__ import annotations

import threading

import pytest
import torch

from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.training import Trainer, run_to_record, train
from bertviz_lite.record.runs import EvalRecord, RunRecord, StepRecord

TASKS = ["sentiment", "paraphrase", "similarity", "ner"]


def tiny_config(tiny_model_dir, **kw) -> RunConfig:
    base = dict(model=str(tiny_model_dir), max_train=48, max_eval=24, batch_size=8, epochs=1,
                train_eval_size=16, seed=3)
    base.update(kw)
    return RunConfig(**base)


def run_trainer(config, backbone, **kw) -> Trainer:
    trainer = Trainer(config, backbone=backbone, **kw)
    for _ in trainer.events():
        pass
    return trainer


def direct_norms(trainer: Trainer) -> dict[str, float]:
    """Norm of each group computed straight from p.grad: sqrt(sum of squared entries)."""
    out = {}
    for g in trainer.model.groups:
        grads = [p.grad.flatten() for p in g.parameters() if p.grad is not None]
        out[g.name] = float(torch.linalg.vector_norm(torch.cat(grads))) if grads else 0.0
    return out


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("mode", ["frozen", "finetune", "top-1"])
def test_recorded_norms_equal_torch_norms(task, mode, tiny_model_dir, tiny_backbone):
    seen: list[tuple[dict, dict]] = []
    trainer = run_trainer(tiny_config(tiny_model_dir, task=task, mode=mode), tiny_backbone,
                          after_backward=lambda t, norms: seen.append((dict(norms),
                                                                        direct_norms(t))))
    assert len(seen) == len(trainer.record.steps) > 0
    for (recorded, direct), step in zip(seen, trainer.record.steps):
        assert step.grad_norm == recorded  # what the record holds is what was measured
        assert list(recorded) == trainer.record.groups  # every group, input to output order
        for name in recorded:
            assert recorded[name] == pytest.approx(direct[name], rel=1e-5, abs=1e-12), name
    frozen = set(trainer.record.frozen_groups)
    for step in trainer.record.steps:
        for name, value in step.grad_norm.items():
            if name in frozen:
                assert value == 0.0
            else:
                assert value > 0.0, f"{name} should receive gradient in {mode}"


def _weights(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("mode,trained", [
    ("frozen", {"head"}),
    ("top-1", {"layer.1", "head"}),
    ("top-2", {"layer.0", "layer.1", "head"}),
    ("finetune", {"embeddings", "layer.0", "layer.1", "head"}),
])
def test_freeze_policy_weights_and_optimizer_state(mode, trained, tiny_model_dir, tiny_backbone):
    before = _weights(tiny_backbone.encoder)
    trainer = run_trainer(tiny_config(tiny_model_dir, mode=mode, task="sentiment"), tiny_backbone)
    model, record = trainer.model, trainer.record
    assert set(record.groups) - set(record.frozen_groups) == trained
    state_ids = {id(p) for p in trainer.opt.state}
    for g in model.groups:
        for name, p in g.named_parameters():
            if g.name in trained:
                assert p.requires_grad and id(p) in state_ids, f"{g.name}.{name}"
            else:
                assert not p.requires_grad and id(p) not in state_ids, f"{g.name}.{name}"
                if g.name != "head":
                    assert torch.equal(p, before[_encoder_name(model, p)]), f"{g.name}.{name}"
    changed = {g.name for g in model.groups if g.name != "head"
               and any(not torch.equal(p, before[_encoder_name(model, p)]) for p in g.parameters())}
    assert changed == trained - {"head"}
    assert record.trainable_params == sum(
        p.numel() for g in model.groups if g.name in trained for p in g.parameters())
    # the shared pretrained model was never touched
    assert all(torch.equal(p, before[n]) for n, p in tiny_backbone.encoder.named_parameters())


def _encoder_name(model, param) -> str:
    for n, p in model.encoder.named_parameters():
        if p is param:
            return n
    raise KeyError


def test_top_k_larger_than_model_is_a_clear_error(tiny_model_dir, tiny_backbone):
    from bertviz_lite.engine.groups import ModelStructureError

    with pytest.raises(ModelStructureError, match="top-5 asks for more layers than the model has"):
        run_to_record(tiny_config(tiny_model_dir, mode="top-5"), backbone=tiny_backbone)


def test_same_config_gives_the_same_record(tiny_model_dir, tiny_backbone):
    config = tiny_config(tiny_model_dir, mode="finetune", task="ner")
    a = run_to_record(config, backbone=tiny_backbone)
    b = run_to_record(config, backbone=tiny_backbone)
    assert [s.loss for s in a.steps] == [s.loss for s in b.steps]
    assert [s.grad_norm for s in a.steps] == [s.grad_norm for s in b.steps]
    assert [(e.split, e.value) for e in a.evals] == [(e.split, e.value) for e in b.evals]
    assert a.key == b.key


def _final_of(evaluation: EvalRecord) -> dict:
    return {"metric": evaluation.metric, "value": evaluation.value, "step": evaluation.step,
            "metrics": evaluation.metrics}


def test_every_evaluation_reaches_the_stream(tiny_model_dir, tiny_backbone):
    """A consumer of the events sees every evaluation the record holds, the last one (the
    record's final metric) included."""
    events = list(train(tiny_config(tiny_model_dir, evals_per_epoch=2), backbone=tiny_backbone))
    record = events[-1]
    streamed = [e for e in events if isinstance(e, EvalRecord)]
    assert streamed and streamed == record.evals
    assert _final_of([e for e in streamed if e.split == "val"][-1]) == record.final


def test_the_final_evaluation_of_finishing_reaches_the_stream(monkeypatch, tiny_model_dir,
                                                              tiny_backbone):
    """When the loop has not scored the last step, finishing does, and its events are
    yielded like the loop's (never only written into the record)."""
    scored = Trainer._evaluate

    def only_when_finishing(self, session):
        if self.status == "completed":
            yield from scored(self, session)

    monkeypatch.setattr(Trainer, "_evaluate", only_when_finishing)
    events = list(Trainer(tiny_config(tiny_model_dir), backbone=tiny_backbone).events())
    record = events[-1]
    streamed = [e for e in events if isinstance(e, EvalRecord)]
    assert [e.split for e in streamed] == ["val", "train"] and streamed == record.evals
    assert _final_of(streamed[0]) == record.final and record.final["step"] == len(record.steps)


def test_only_events_writes_the_record():
    """Steps, evaluations, sweeps and the final metric are written into the record in one
    place, engine/events.py; the step runner and the evaluator only return them."""
    from tests.conftest import REPO

    writes = (".steps.append(", ".evals.append(", ".sweeps.append(", ".final = ", ".cost = ")
    for path in sorted((REPO / "bertviz_lite" / "engine").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        found = [w for w in writes if w in text]
        assert found == [] or path.name == "events.py", (path.name, found)


def test_frozen_features_are_computed_once(tiny_model_dir, tiny_backbone):
    rows = {"n": 0, "calls": 0}

    def count(module, args, kwargs, out):
        rows["n"] += kwargs["input_ids"].shape[0]
        rows["calls"] += 1

    trainer = Trainer(tiny_config(tiny_model_dir, mode="frozen", epochs=3), backbone=tiny_backbone)
    handle = None
    first_step_calls = None
    for event in trainer.events():
        if handle is None and hasattr(trainer, "model"):
            handle = trainer.model.encoder.register_forward_hook(count, with_kwargs=True)
        if isinstance(event, StepRecord) and first_step_calls is None:
            first_step_calls = rows["calls"]
    handle.remove()
    assert rows["n"] == 48 + 24  # every train and validation example exactly once
    assert first_step_calls == 1  # lazy: the first step waited for one batch, not the dataset
    assert trainer.record.cost["feature_cache_seconds"] > 0
    assert len(trainer.record.steps) == 3 * 6


def test_nan_loss_stops_with_a_reason(tiny_model_dir, tiny_backbone):
    config = tiny_config(tiny_model_dir, mode="finetune", lr=1e6, head_lr=1e6, epochs=20,
                         task="similarity")
    trainer = run_trainer(config, tiny_backbone)
    record = trainer.record
    assert record.status == "diverged"
    assert "learning rate" in record.reason and "smaller" in record.reason
    assert len(record.steps) < 20 * 6
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    reloaded = RunRecord.from_dict(record.to_dict())  # NaN survives JSON as null
    assert reloaded.status == "diverged"


def test_stop_between_steps(tiny_model_dir, tiny_backbone):
    stop = threading.Event()
    steps = 0
    record = None
    for event in train(tiny_config(tiny_model_dir, mode="finetune", epochs=5), backbone=tiny_backbone,
                       stop=stop):
        if isinstance(event, StepRecord):
            steps += 1
            if steps == 3:
                stop.set()
        if isinstance(event, RunRecord):
            record = event
    assert record is not None and record.status == "stopped"
    assert len(record.steps) == 3 and "Stopped by the user" in record.reason


def test_stop_during_feature_caching(tiny_model_dir, tiny_backbone):
    """Frozen features are computed during the first epoch; a stop there ends cleanly."""
    stop = threading.Event()
    record = None
    for event in train(tiny_config(tiny_model_dir, mode="frozen"), backbone=tiny_backbone,
                       stop=stop):
        if isinstance(event, StepRecord):
            stop.set()
        if isinstance(event, RunRecord):
            record = event
    assert record.status == "stopped" and len(record.steps) == 1
    assert record.reason == "Stopped by the user after step 1."
    stop2 = threading.Event()
    stop2.set()
    early = run_to_record(tiny_config(tiny_model_dir, mode="frozen"), backbone=tiny_backbone,
                          stop=stop2)
    assert early.status == "stopped" and not early.steps and "before the first step" in early.reason


def test_steps_option_and_update_ratios(tiny_model_dir, tiny_backbone):
    record = run_to_record(tiny_config(tiny_model_dir, mode="finetune", steps=7),
                           backbone=tiny_backbone)
    assert len(record.steps) == 7
    for s in record.steps:
        assert set(s.update_ratio) == set(record.groups)
        assert all(v > 0 for v in s.update_ratio.values())
        assert 0 < s.lr and s.seconds > 0


def test_record_roundtrip(tmp_path, tiny_model_dir, tiny_backbone):
    record = run_to_record(tiny_config(tiny_model_dir, task="paraphrase", mode="top-1"),
                           backbone=tiny_backbone)
    path = record.save(tmp_path / "run.json")
    again = RunRecord.load(path)
    assert again.to_dict() == record.to_dict()
    d = record.to_dict()
    for key in ("config", "groups", "frozen_groups", "trainable_params", "total_params", "steps",
                "evals", "final", "cost"):
        assert key in d
    assert {"wall_seconds", "train_seconds", "feature_cache_seconds", "peak_rss_mb",
            "flops_estimate"} <= set(d["cost"])
    assert d["final"]["metric"] == "accuracy"
    assert {e["split"] for e in d["evals"]} == {"train", "val"}


@pytest.mark.parametrize("mode,reached", [
    ("frozen", {"head"}),
    ("top-1", {"layer.1", "head"}),
    ("finetune", {"embeddings", "layer.0", "layer.1", "head"}),
])
def test_backward_sweep_stops_at_the_frozen_boundary(mode, reached, tiny_model_dir, tiny_backbone):
    record = run_to_record(tiny_config(tiny_model_dir, mode=mode, steps=4), backbone=tiny_backbone)
    assert [s["step"] for s in record.sweeps] == [1, 4]
    for sweep in record.sweeps:
        assert list(sweep["signal"]) == record.groups
        got = {g for g, v in sweep["signal"].items() if v > 0}
        assert got == reached


def test_feature_store_reuses_frozen_features_across_runs(tiny_model_dir, tiny_backbone):
    from bertviz_lite.engine.features import FeatureStore

    store = FeatureStore()
    first = Trainer(tiny_config(tiny_model_dir, mode="frozen"), backbone=tiny_backbone,
                    features=store)
    a = run_trainer_events(first)
    calls = {"n": 0}
    second = Trainer(tiny_config(tiny_model_dir, mode="frozen", head_lr=1e-2, epochs=2),
                     backbone=tiny_backbone, features=store)
    for _event in second.events():
        if hasattr(second, "model") and not calls.get("hooked"):
            second.model.encoder.register_forward_hook(lambda *a: calls.__setitem__(
                "n", calls["n"] + 1))
            calls["hooked"] = 1
    b = second.record
    assert a.cost["features_reused"] == 0 and b.cost["features_reused"] == 48 + 24
    assert calls["n"] == 0  # the encoder never ran in the second run
    assert b.final["value"] == b.final["value"]  # a real number
    # the same examples give the same features: a third run equal to the first
    third = Trainer(tiny_config(tiny_model_dir, mode="frozen"), backbone=tiny_backbone,
                    features=store)
    c = run_trainer_events(third)
    assert [s.loss for s in c.steps] == [s.loss for s in a.steps]


def run_trainer_events(trainer):
    for _ in trainer.events():
        pass
    return trainer.record


def test_update_ratios_every_stride_steps_for_large_models(tiny_model_dir, tiny_backbone,
                                                            monkeypatch):
    """Above RATIO_EVERY_STEP_MAX trainable weights, update ratios come every RATIO_STRIDE-th
    step (from the first) and at the last one; measuring them never changes the training,
    so those steps equal the ones of a run that measures every step."""
    from bertviz_lite.engine import steps

    config = tiny_config(tiny_model_dir, mode="finetune", steps=8, evals_per_epoch=0)
    every = run_to_record(config, backbone=tiny_backbone)
    assert all(s.update_ratio for s in every.steps)
    assert every.trainable_params > 100  # the tiny model is far below the real threshold
    monkeypatch.setattr(steps, "RATIO_EVERY_STEP_MAX", 100)  # now it counts as large
    monkeypatch.setattr(steps, "RATIO_STRIDE", 3)
    strided = run_to_record(config, backbone=tiny_backbone)
    measured = [s.step for s in strided.steps if s.update_ratio]
    assert measured == [1, 4, 7, 8]  # 0-based steps 0, 3, 6 and the last, 7
    assert [s.loss for s in strided.steps] == [s.loss for s in every.steps]
    for a, b in zip(strided.steps, every.steps):
        assert a.grad_norm == b.grad_norm
        if a.update_ratio:
            assert list(a.update_ratio) == strided.groups
            assert a.update_ratio == pytest.approx(b.update_ratio, rel=1e-6)

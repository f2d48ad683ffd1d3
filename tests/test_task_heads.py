"""The frozen task models (engine/task_models.py): CRF decoding, what trains, features computed
once and stored in fp16, padding that changes nothing, the CLI and the labels."""

from __future__ import annotations

import itertools
import json
import logging

import pytest
import torch

from bertviz_lite.engine.batches import stack_token_features
from bertviz_lite.engine.config import ConfigError, RunConfig, head_title
from bertviz_lite.engine.encoding import Encoded
from bertviz_lite.engine.features import FeatureStore
from bertviz_lite.engine.task_models import CRFTagger, PairClassifier, PoolClassifier
from bertviz_lite.engine.training import Trainer
from bertviz_lite.record.runs import RunRecord, StepRecord
from tests.test_training import run_trainer

TASKS = ["sentiment", "paraphrase", "similarity", "ner"]


def tiny_config(tiny_model_dir, **kw) -> RunConfig:
    base = dict(model=str(tiny_model_dir), max_train=32, max_eval=16, batch_size=8, epochs=1,
                train_eval_size=8, seed=1, head="task-model", precision="fp32")
    base.update(kw)
    return RunConfig(**base)


# -- the CRF ---------------------------------------------------------------------------------
def _path_score(crf, emissions: torch.Tensor, tags: tuple[int, ...]) -> float:
    """Score of one tag sequence: start + emissions + transitions + end (the CRF's own terms)."""
    crf = crf.requires_grad_(False)
    s = crf.start_transitions[tags[0]] + emissions[0, tags[0]]
    for a, b, t in zip(tags, tags[1:], range(1, len(tags))):
        s = s + crf.transitions[a, b] + emissions[t, b]
    return float(s + crf.end_transitions[tags[-1]])


def test_viterbi_equals_brute_force_over_all_tag_sequences():
    torch.manual_seed(0)
    n_tags, lengths = 4, [5, 3, 1]
    tagger = CRFTagger(hidden=8, n_layers=2, n_tags=n_tags)
    with torch.no_grad():  # random transitions, so the path is not the per-word argmax
        for p in (tagger.crf.transitions, tagger.crf.start_transitions,
                  tagger.crf.end_transitions):
            p.normal_(0, 2.0)
    emissions = torch.randn(len(lengths), max(lengths), n_tags)
    mask = torch.tensor([[i < n for i in range(max(lengths))] for n in lengths])
    paths = tagger.viterbi(emissions, mask)
    argmax_differs = False
    for row, n in enumerate(lengths):
        best = max(itertools.product(range(n_tags), repeat=n),
                   key=lambda tags: _path_score(tagger.crf, emissions[row], tags))
        assert paths[row] == list(best)
        argmax_differs |= list(best) != emissions[row, :n].argmax(-1).tolist()
    assert argmax_differs  # the example is one where the transitions matter


def test_crf_loss_counts_real_words_only():
    torch.manual_seed(0)
    tagger = CRFTagger(hidden=8, n_layers=2, n_tags=3)
    emissions = torch.randn(2, 4, 3)
    labels = torch.tensor([[0, 1, 2, 1], [2, 0, -100, -100]])
    mask = labels != -100
    loss = tagger.nll(emissions, labels, mask)
    changed = emissions.clone()
    changed[1, 2:] = 50.0  # padding positions: must not matter
    assert float(tagger.nll(changed, labels, mask)) == pytest.approx(float(loss))
    alone = tagger.nll(emissions[1:, :2], labels[1:, :2], mask[1:, :2])
    first = tagger.nll(emissions[:1], labels[:1], mask[:1])
    assert float(loss) == pytest.approx((float(alone) + float(first)) / 2, rel=1e-5)


# -- padding --------------------------------------------------------------------------------
def _sentence(t: int, n: int = 3, h: int = 8) -> torch.Tensor:
    return torch.randn(t, n, h).half()


def test_padding_does_not_change_a_pair_prediction():
    torch.manual_seed(0)
    head = PairClassifier(hidden=8, n_layers=3, n_out=2).eval()
    pairs = [(_sentence(3), _sentence(7)), (_sentence(9), _sentence(2)), (_sentence(5), _sentence(5))]
    items = [Encoded([[0] * a.shape[0], [0] * b.shape[0]], [[], []], 0.0) for a, b in pairs]
    feats = [torch.cat([a, b]) for a, b in pairs]
    batch = stack_token_features(feats, items)
    assert batch.shape == (3, 2, 9, 3, 8) and batch.dtype == torch.float16
    with torch.no_grad():
        together = head(batch)
        for row in range(3):
            alone = head(stack_token_features([feats[row]], [items[row]]))
            assert torch.allclose(alone[0], together[row], atol=1e-5)


@pytest.mark.parametrize("make", [lambda: PoolClassifier(8, 3, 2), lambda: CRFTagger(8, 3, 4)])
def test_padding_does_not_change_a_sentence_or_tagging_prediction(make):
    torch.manual_seed(0)
    head = make().eval()
    sents = [_sentence(4), _sentence(9), _sentence(1)]
    batch = torch.zeros(3, 9, 3, 8, dtype=torch.float16)
    for row, s in enumerate(sents):
        batch[row, : s.shape[0]] = s
    with torch.no_grad():
        together = head(batch)
        for row, s in enumerate(sents):
            alone = head(s[None])
            n = s.shape[0]
            got = together[row, :n] if isinstance(head, CRFTagger) else together[row]
            assert torch.allclose(alone[0], got, atol=1e-5)


# -- training on the tiny BERT ------------------------------------------------------------------
@pytest.mark.parametrize("task", TASKS)
def test_only_the_task_model_trains(task, tiny_model_dir, tiny_backbone):
    before = {n: p.detach().clone() for n, p in tiny_backbone.encoder.named_parameters()}
    seen = []
    trainer = run_trainer(tiny_config(tiny_model_dir, task=task), tiny_backbone,
                          after_backward=lambda t, norms: seen.append(
                              (dict(norms), {g.name: _grad_norm(g) for g in t.model.groups})))
    model, record = trainer.model, trainer.record
    assert record.frozen_groups == [g for g in record.groups if g != "head"]
    state = {id(p) for p in trainer.opt.state}
    head_ids = {id(p) for p in model.head.parameters()}
    assert state == head_ids  # optimizer state for the task model only
    for name, p in model.encoder.named_parameters():
        assert not p.requires_grad and torch.equal(p, before[name]), name  # bit-identical
    assert record.trainable_params == sum(p.numel() for p in model.head.parameters())
    assert seen and all(rec == pytest.approx(direct, rel=1e-5, abs=1e-12) for rec, direct in seen)
    for rec, _ in seen:
        assert rec["head"] > 0 and all(v == 0.0 for k, v in rec.items() if k != "head")
    assert record.status == "completed" and record.final["value"] == record.final["value"]


def _grad_norm(group) -> float:
    grads = [p.grad.flatten() for p in group.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.cat(grads))) if grads else 0.0


@pytest.mark.parametrize("task", ["paraphrase", "ner"])
def test_features_are_computed_once_and_stored_in_fp16(task, tiny_model_dir, tiny_backbone):
    rows = {"n": 0}

    def count(module, args, kwargs, out):
        rows["n"] += kwargs["input_ids"].shape[0]

    config = tiny_config(tiny_model_dir, task=task, epochs=2, evals_per_epoch=1)
    trainer = Trainer(config, backbone=tiny_backbone)
    handle = None
    for _event in trainer.events():
        if handle is None and hasattr(trainer, "model"):
            handle = trainer.model.encoder.register_forward_hook(count, with_kwargs=True)
    handle.remove()
    per_example = 2 if task == "paraphrase" else 1  # a pair's sentences are encoded separately
    assert rows["n"] == (32 + 16) * per_example  # every train and validation example once
    assert len(trainer.record.eval_curve("val")) >= 2  # evaluations read the cache too
    cache = trainer.inputs.cache
    n_states = tiny_backbone.num_layers + 1
    for split, size in (("train", 32), ("val", 16)):
        feats = cache[split]
        assert len(feats) == size and all(f is not None for f in feats)
        assert all(f.dtype == torch.float16 and f.shape[1:] == (n_states, 32) for f in feats)


def test_cache_key_tells_task_model_features_from_pooled_ones(tiny_model_dir, tiny_backbone):
    store = FeatureStore()
    run_trainer(tiny_config(tiny_model_dir, head="scalar-mix"), tiny_backbone, features=store)
    second = run_trainer(tiny_config(tiny_model_dir), tiny_backbone, features=store)
    assert second.record.cost["features_reused"] == 0 and len(store) == 2
    third = run_trainer(tiny_config(tiny_model_dir, head_lr=1e-3), tiny_backbone, features=store)
    assert third.record.cost["features_reused"] == 32 + 16


def test_store_logs_a_cache_it_cannot_keep(tiny_model_dir, tiny_backbone, caplog):
    store = FeatureStore(max_bytes=1000)
    with caplog.at_level(logging.WARNING, logger="bertviz_lite.engine.features"):
        run_trainer(tiny_config(tiny_model_dir), tiny_backbone, features=store)
    assert len(store) == 0
    assert any("exceed the in-memory feature store" in r.message for r in caplog.records)


def test_uncached_run_computes_what_the_cache_holds(tiny_model_dir, tiny_backbone):
    cached = run_trainer(tiny_config(tiny_model_dir, task="ner"), tiny_backbone).record
    direct = run_trainer(tiny_config(tiny_model_dir, task="ner", cache_features=False),
                         tiny_backbone).record
    assert [s.loss for s in cached.steps] == pytest.approx([s.loss for s in direct.steps],
                                                           rel=1e-4)
    assert cached.final["value"] == pytest.approx(direct.final["value"])


def test_ner_evaluation_uses_the_viterbi_path(tiny_model_dir, tiny_backbone):
    trainer = run_trainer(tiny_config(tiny_model_dir, task="ner"), tiny_backbone)
    run, calls = trainer.run, []
    original = trainer.model.head.viterbi

    def spy(emissions, mask):
        calls.append(emissions.shape[0])
        return original(emissions, mask)

    trainer.model.head.viterbi = spy
    rec = trainer.evaluator.score("val", run.enc_val, list(range(len(run.enc_val))), 0, 0.0)
    assert rec is not None and sum(calls) == len(run.enc_val)


# -- config, CLI and labels ---------------------------------------------------------------
@pytest.mark.parametrize("mode", ["finetune", "top-1"])
def test_task_model_with_a_training_encoder_is_a_clear_error(mode):
    with pytest.raises(ConfigError, match="use mode frozen"):
        RunConfig(head="task-model", mode=mode)


def test_every_task_has_a_plain_head_name():
    assert head_title("task-model", "ner") == "task model: BiLSTM-CRF"
    assert head_title("task-model", "sentiment") == "task model: BiLSTM max/mean pool"
    assert head_title("task-model", "paraphrase") == head_title("task-model", "similarity") \
        == "task model: ESIM-lite"
    assert head_title("scalar-mix", "ner") == "scalar-mix"
    assert "BiLSTM-CRF" in head_title("task-model")


@pytest.mark.parametrize("task", TASKS)
def test_cli_trains_a_task_model_on_bundled_data(task, tmp_path, tiny_model_dir):
    from bertviz_lite.cli.main import main

    out = tmp_path / f"{task}.json"
    code = main(["train", "--task", task, "--head", "task-model", "--model", str(tiny_model_dir),
                 "--max-train", "24", "--max-eval", "12", "--epochs", "1", "--batch-size", "8",
                 "--out", str(out), "--quiet"])
    assert code == 0
    record = RunRecord.from_dict(json.loads(out.read_text()))
    assert record.config["head"] == "task-model" and record.status == "completed"
    assert record.label == f"frozen ({head_title('task-model', task)})"
    assert record.steps and all(isinstance(s, StepRecord) for s in record.steps)


def test_cli_bad_head_mode_combination_exits_2(tmp_path, tiny_model_dir, caplog):
    from bertviz_lite.cli.main import main

    with caplog.at_level(logging.ERROR):
        code = main(["train", "--task", "ner", "--head", "task-model", "--mode", "finetune",
                     "--model", str(tiny_model_dir), "--out", str(tmp_path / "r.json"),
                     "--quiet"])
    assert code == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0] and "use mode frozen" in errors[0]
    assert not (tmp_path / "r.json").exists()


# -- the trained task model outside training: checkpoint, predictions, inspection --------------
@pytest.mark.parametrize("task", ["ner", "paraphrase"])
def test_checkpoint_predictions_and_inspection(task, tmp_path, tiny_model_dir, tiny_backbone):
    from bertviz_lite.engine.checkpoints import load_task_model, save_task_model
    from bertviz_lite.inspect.attribution import attribute
    from bertviz_lite.inspect.forward import trace_forward
    from bertviz_lite.inspect.predict import predict_texts

    config = tiny_config(tiny_model_dir, task=task)
    trainer = run_trainer(config, tiny_backbone)
    names = trainer.data.label_names
    folder = save_task_model(trainer.model, config, names, tmp_path / "ckpt")
    loaded = load_task_model(folder, tiny_backbone).model
    examples = trainer.data.val[:6]
    tok = tiny_backbone.tokenizer
    first = predict_texts(trainer.model.eval(), tok, examples, names)
    again = predict_texts(loaded, tok, examples, names)
    assert [p.index for p in first] == [p.index for p in again]
    if task == "ner":  # predictions are the CRF's Viterbi paths, as in the evaluation
        run = trainer.run
        batch = run.collate(run.enc_val, list(range(6)))
        with torch.no_grad():
            out = trainer.model.predict(trainer.model.features(batch))
        paths = trainer.model.head.viterbi(out, batch.word_mask)
        assert [p.index for p in first] == [run.enc_val[i].per_word(paths[i], 0)
                                            for i in range(6)]
        text, text_b = " ".join(examples[0].tokens), None
    else:
        text, text_b = examples[0].text_a, examples[0].text_b
    trace = trace_forward(loaded, tok, text, text_b, label_names=names)
    assert trace.prediction is not None
    att = attribute(loaded, tok, text, text_b, n_steps=8, label_names=names)
    assert len(att.tokens) > 0

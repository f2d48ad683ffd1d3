"""The inspect views: forward trace, attention, attributions, backward sweep, predictions.

Invariants first (rows sum to one, blocks tile the matrix, attributions add up to the change of
the output), then references computed straight with torch, then "the caller's model is left
as it was". A tiny random BERT keeps this fast; the bundled model only where real weights
matter.
"""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
import torch

from bertviz_lite.data.examples import PairExample, SentenceExample, TokenExample
from bertviz_lite.engine.checkpoints import build_task_model
from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.encoding import collate, encode_examples
from bertviz_lite.engine.gradflow import SignalProbe
from bertviz_lite.engine.groups import LayerGroup, apply_freeze, trainable_group_names
from bertviz_lite.engine.heads import TaskModel
from bertviz_lite.inspect import (
    AttentionUnavailableError,
    attention_maps,
    attribute,
    head_change,
    predict_texts,
    trace_encoder,
    trace_forward,
)
from bertviz_lite.inspect.forward import JOINT_NOTE, SEPARATE_NOTE

LABELS = {"sentiment": ["negative", "positive"], "paraphrase": ["different", "paraphrase"],
          "similarity": [], "ner": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]}
TEXT = "John Smith moved to Paris last spring with his old grey cat"
TEXT_B = "A man and his cat now live in France"
# (task, pair encoding): every task, and both ways of encoding a pair
CASES = [("sentiment", "joint"), ("paraphrase", "joint"), ("paraphrase", "separate"),
         ("similarity", "joint"), ("similarity", "separate"), ("ner", "joint")]


def make_model(backbone, task: str, pair_encoding: str = "joint", mode: str = "finetune",
               seed: int = 0, **config_fields) -> TaskModel:
    """A TaskModel on a copy of the backbone with a freeze policy applied, as training does."""
    config = RunConfig(task=task, mode=mode, pair_encoding=pair_encoding, **config_fields)
    torch.manual_seed(seed)
    model = build_task_model(backbone, config, LABELS[task])
    trainable = trainable_group_names(model.groups, config.trainable_top)
    apply_freeze(model.groups, trainable)
    model.frozen_modules = [m for g in model.groups if g.name not in trainable for m in g.modules]
    model.eval()
    return model


def second(task: str) -> str | None:
    return TEXT_B if task in ("paraphrase", "similarity") else None


def example(task: str, label: float = 1):
    """A labelled example of a task (for the backward sweep, which needs a loss)."""
    if task == "ner":
        words = tuple(TEXT.split())
        return TokenExample(words, tuple([1, 2] + [0] * (len(words) - 2)))
    if task in ("paraphrase", "similarity"):
        return PairExample(TEXT, TEXT_B, float(label) * (3.5 if task == "similarity" else 1))
    return SentenceExample(TEXT, int(label))


def model_state(model: torch.nn.Module) -> dict[str, object]:
    """Everything a view must leave unchanged: weights, flags, modes, grads, hooks."""
    return {
        "weights": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "training": [m.training for m in model.modules()],
        "grads": [p.grad for p in model.parameters()],
        "hooks": [our_hooks(m) for m in model.modules()],
        "modules": [id(m) for m in model.modules()],
    }


def our_hooks(module: torch.nn.Module) -> int:
    """Hooks on a module, leaving out the inactive output-capturing hooks that transformers 5
    installs once, the first time hidden states or attentions are asked for."""
    hooks = [h for d in (module._forward_hooks, module._forward_pre_hooks,
                         module._backward_hooks, module._backward_pre_hooks) for h in d.values()]
    return sum(getattr(h, "__name__", "") != "output_capturing_hook" for h in hooks)


def assert_same_state(before: dict[str, object], after: dict[str, object]) -> None:
    for key in ("requires_grad", "training", "hooks", "modules"):
        assert before[key] == after[key], key
    assert all(g is None for g in after["grads"])  # type: ignore[union-attr]
    for name, value in before["weights"].items():  # type: ignore[union-attr]
        assert torch.equal(value, after["weights"][name]), name  # type: ignore[index]


def mixed_state(model: TaskModel) -> TaskModel:
    """Top-1 flags and train mode with frozen groups in eval: the hardest state to restore."""
    trainable = trainable_group_names(model.groups, 1)
    apply_freeze(model.groups, trainable)
    model.frozen_modules = [m for g in model.groups if g.name not in trainable for m in g.modules]
    return model.train()


class CheckedLock:
    """A lock whose tokenizer proxy fails if it is called while the lock is not held."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = 0

    def tokenizer(self, real):
        outer = self

        class Proxy:
            def __call__(self, *args, **kwargs):
                assert outer.lock.locked(), "tokenised without holding the lock"
                outer.calls += 1
                return real(*args, **kwargs)

            def convert_ids_to_tokens(self, *args, **kwargs):
                assert outer.lock.locked(), "tokenizer used without holding the lock"
                return real.convert_ids_to_tokens(*args, **kwargs)

            def __getattr__(self, name):
                return getattr(real, name)

        return Proxy()


# -- forward ---------------------------------------------------------------------------------
@pytest.mark.parametrize("task,pairs", CASES)
def test_trace_forward_every_task(task, pairs, tiny_backbone):
    model = make_model(tiny_backbone, task, pairs)
    tr = trace_forward(model, tiny_backbone.tokenizer, TEXT, second(task),
                       label_names=LABELS[task])
    n_layers, hidden = tiny_backbone.num_layers, tiny_backbone.hidden_size
    t = len(tr.tokens)
    assert tr.hidden_norms.shape == (n_layers + 1, t) and len(tr.segments) == t
    assert np.all(tr.hidden_norms > 0)
    assert list(tr.shapes) == ["input_ids", "hidden_states", "features",
                               "score" if task == "similarity" else "logits"]
    s = 2 if pairs == "separate" and task != "sentiment" else 1
    assert tr.shapes["input_ids"][0] == s
    assert tr.shapes["hidden_states"] == (n_layers + 1, s, tr.shapes["input_ids"][1], hidden)
    assert tr.tokens[0] == "[CLS]" and tr.tokens[-1] == "[SEP]"
    if task == "ner":
        words = TEXT.split()
        assert [w for w, _ in tr.word_tags] == words
        assert tr.prediction == [tag for _, tag in tr.word_tags]
        assert set(tr.prediction) <= set(LABELS["ner"])
        assert tr.word_vectors.shape == (len(words), hidden) and tr.sentence_vector is None
        assert tr.shapes["logits"] == (1, len(words), len(LABELS["ner"]))
    elif task == "similarity":
        assert isinstance(tr.prediction, float) and tr.probabilities is None
    else:
        assert tr.prediction in LABELS[task]
        assert sum(tr.probabilities) == pytest.approx(1.0, abs=1e-6)
        assert tr.prediction == LABELS[task][int(np.argmax(tr.probabilities))]
    if task in ("paraphrase", "similarity"):
        assert tr.segments[0] == 0 and tr.segments[-1] == 1
        if pairs == "separate":
            assert tr.note == SEPARATE_NOTE and tr.sentence_vector.shape == (2, hidden)
            n_a = tr.segments.count(0)  # each sentence is a whole [CLS] ... [SEP] sequence
            assert tr.tokens[n_a - 1] == "[SEP]" and tr.tokens[n_a] == "[CLS]"
        else:
            assert tr.note == JOINT_NOTE and tr.tokens.count("[CLS]") == 1
            assert tr.sentence_vector.shape == (hidden,)
    elif task == "sentiment":
        assert set(tr.segments) == {0} and tr.note == ""


def test_trace_forward_matches_torch(tiny_backbone):
    """Norms, sentence vector and probabilities recomputed directly from the encoder."""
    model = make_model(tiny_backbone, "sentiment")
    tok = tiny_backbone.tokenizer
    tr = trace_forward(model, tok, TEXT, label_names=LABELS["sentiment"])
    enc = tok(TEXT, return_tensors="pt")
    with torch.no_grad():
        out = model.encoder(**enc, output_hidden_states=True)
        states = torch.stack(out.hidden_states)[:, 0]  # (L+1, T, H)
        vector = states[-1].mean(0)  # mean pooling, no padding
        probs = torch.softmax(model.head.linear(vector), -1)
    assert tr.tokens == tok.convert_ids_to_tokens(enc["input_ids"][0])
    np.testing.assert_allclose(tr.hidden_norms, states.norm(dim=-1).numpy(), rtol=1e-5)
    np.testing.assert_allclose(tr.sentence_vector, vector.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tr.probabilities, probs.numpy(), rtol=1e-5)


def test_trace_forward_truncates_a_10000_token_sentence(tiny_backbone):
    """A pasted novel is cut to max_length word pieces, not an error or a 10,000-column map."""
    model = make_model(tiny_backbone, "sentiment")
    tr = trace_forward(model, tiny_backbone.tokenizer, "word " * 10_000, max_length=64,
                       label_names=LABELS["sentiment"])
    assert len(tr.tokens) == 64 and tr.tokens[-1] == "[SEP]"
    assert tr.hidden_norms.shape == (tiny_backbone.num_layers + 1, 64)


def test_trace_encoder_pretrained_view(tiny_backbone):
    encoder, tok = tiny_backbone.encoder, tiny_backbone.tokenizer
    before = model_state(encoder)
    tr = trace_encoder(encoder, tok, TEXT, TEXT_B)
    assert tr.prediction is None and tr.sentence_vector is None and tr.probabilities is None
    assert tr.hidden_norms.shape == (tiny_backbone.num_layers + 1, len(tr.tokens))
    assert 1 in tr.segments and tr.note == JOINT_NOTE
    separate = trace_encoder(encoder, tok, TEXT, TEXT_B, separate_pairs=True)
    assert separate.note == SEPARATE_NOTE and separate.tokens.count("[CLS]") == 2
    # an untrained task model's encoder is a copy of the pretrained one: the same forward pass
    model = make_model(tiny_backbone, "paraphrase", "joint")
    tuned = trace_forward(model, tok, TEXT, TEXT_B)
    assert tuned.tokens == tr.tokens
    np.testing.assert_allclose(tuned.hidden_norms, tr.hidden_norms, rtol=1e-5)
    assert_same_state(before, model_state(encoder))


def test_inputs_are_checked(tiny_backbone):
    tok = tiny_backbone.tokenizer
    with pytest.raises(ValueError, match="empty"):
        trace_forward(make_model(tiny_backbone, "sentiment"), tok, "   ")
    with pytest.raises(ValueError, match="second one"):
        trace_forward(make_model(tiny_backbone, "paraphrase"), tok, TEXT)
    with pytest.raises(ValueError, match="one sentence"):
        attribute(make_model(tiny_backbone, "sentiment"), tok, TEXT, TEXT_B)


def test_views_hold_the_tokenizer_lock(tiny_backbone):
    checked = CheckedLock()
    tok = checked.tokenizer(tiny_backbone.tokenizer)
    lock = checked.lock
    model = make_model(tiny_backbone, "paraphrase", "separate")
    trace_forward(model, tok, TEXT, TEXT_B, lock=lock)
    trace_encoder(tiny_backbone.encoder, tok, TEXT, lock=lock)
    attention_maps(tiny_backbone.encoder, tok, TEXT, TEXT_B, lock=lock)
    attribute(model, tok, TEXT, TEXT_B, n_steps=4, lock=lock)
    predict_texts(model, tok, [example("paraphrase")], LABELS["paraphrase"], lock=lock)
    assert checked.calls >= 5 and not lock.locked()


# -- attention -------------------------------------------------------------------------------
def test_segments_without_token_types():
    """Sentence B starts after the first run of separators: BERT and RoBERTa layouts."""
    from bertviz_lite.inspect._common import joint_segments

    assert joint_segments([101, 7, 102, 8, 9, 102], 102) == [0, 0, 0, 1, 1, 1]  # BERT
    assert joint_segments([0, 7, 2, 2, 8, 2], 2) == [0, 0, 0, 0, 1, 1]  # RoBERTa <s> A </s></s> B
    assert joint_segments([101, 7, 8, 102], 102) == [0, 0, 0, 0]  # one sentence


def test_attention_invariants(tiny_backbone):
    cfg = tiny_backbone.encoder.config
    maps = attention_maps(tiny_backbone.encoder, tiny_backbone.tokenizer, TEXT, TEXT_B)
    t = len(maps.tokens)
    assert maps.attn.shape == (cfg.num_hidden_layers, cfg.num_attention_heads, t, t)
    assert (maps.num_layers, maps.num_heads) == maps.attn.shape[:2]
    np.testing.assert_allclose(maps.attn.sum(-1), 1.0, atol=1e-5)  # every row sums to one
    assert np.all(maps.attn >= 0)
    b = maps.sentence_b_start
    assert b is not None and maps.tokens[b - 1] == "[SEP]" and set(maps.segments[b:]) == {1}
    blocks = [[maps.block(q, k) for k in (0, 1)] for q in (0, 1)]
    assert blocks[0][1].shape[2:] == (b, t - b)
    np.testing.assert_array_equal(np.block(blocks), maps.attn)  # A/B blocks tile the matrix


def test_attention_single_sentence_and_task_model(tiny_backbone):
    tok = tiny_backbone.tokenizer
    pretrained = attention_maps(tiny_backbone.encoder, tok, TEXT)
    assert pretrained.sentence_b_start is None and set(pretrained.segments) == {0}
    model = mixed_state(make_model(tiny_backbone, "sentiment"))
    before = model_state(model)
    tuned = attention_maps(model, tok, TEXT)  # a TaskModel: its encoder is used
    assert_same_state(before, model_state(model))
    np.testing.assert_allclose(head_change(pretrained, tuned), 0.0, atol=1e-6)
    with torch.no_grad():  # "fine-tune" one layer by hand: only its heads move
        model.encoder.encoder.layer[1].attention.self.query.weight.mul_(3.0)
    change = head_change(pretrained, attention_maps(model, tok, TEXT))
    assert change.shape == pretrained.attn.shape[:2]
    assert np.all(change[0] < 1e-6) and np.all(change[1] > 1e-4) and np.all(change <= 1.0)
    with pytest.raises(ValueError, match="same text"):
        head_change(pretrained, attention_maps(tiny_backbone.encoder, tok, "Another text"))


def test_attention_needs_eager(tiny_model_dir, tiny_backbone):
    from transformers import AutoModel

    sdpa = AutoModel.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    with pytest.raises(AttentionUnavailableError, match="attn_implementation='eager'"):
        attention_maps(sdpa, tiny_backbone.tokenizer, TEXT)


# -- attribution -----------------------------------------------------------------------------
def direct_output(model: TaskModel, tok, task: str, target: int | None, word: int = 0) -> float:
    """The explained number computed by the model's own features() + predict()."""
    ex = example(task)
    enc, _ = encode_examples([ex], tok, 128, model.pair_separate)
    batch = collate(enc, [0], tok.pad_token_id, task == "ner", task == "similarity")
    with torch.no_grad():
        out = model.predict(model.features(batch))[0]
    if task == "similarity":
        return float(out) * 5.0
    logits = out[word] if task == "ner" else out  # (C,)
    others = torch.cat([logits[:target], logits[target + 1:]])
    return float(logits[target] - torch.logsumexp(others, 0))  # log-odds against the others


@pytest.mark.parametrize("task,pairs", CASES)
def test_attribution_completeness(task, pairs, tiny_backbone):
    model = make_model(tiny_backbone, task, pairs)
    tok = tiny_backbone.tokenizer
    a = attribute(model, tok, TEXT, second(task), n_steps=50, label_names=LABELS[task])
    change = a.output - a.baseline_output
    assert abs(change) > 1e-4  # something to explain
    # completeness: the attributions add up to f(input) - f(baseline), missing it by delta
    assert float(a.attributions.sum()) == pytest.approx(change + a.delta, abs=1e-5)
    assert abs(a.delta) < 0.05 * abs(change) and a.relative_delta < 0.05
    assert a.scores.shape == a.attributions.shape == (len(a.tokens),)
    assert float(np.abs(a.scores).max()) == pytest.approx(1.0, abs=1e-6)  # colour scale only
    assert a.total == pytest.approx(float(a.attributions.sum()))
    assert len(a.segments) == len(a.tokens) and a.n_steps == 50
    # the number explained is the model's own output (the separate-pair forward_fn included)
    assert a.output == pytest.approx(direct_output(model, tok, task, a.target, a.word_index or 0),
                                     abs=1e-5)
    if task == "similarity":
        assert a.target is None and a.target_name == "score" and a.score == a.output
    else:
        assert a.target_name == LABELS[task][a.target] and 0 < a.probability < 1
        # the explained number is the log-odds of the class: log p / (1 - p)
        p = a.probability
        assert a.output == pytest.approx(np.log(p / (1 - p)), abs=1e-4)
    if pairs == "separate":  # scored over both sentences, as one concatenation
        assert a.tokens.count("[CLS]") == 2 and a.segments.count(1) > 0
        assert "together" in a.note


def test_attribution_targets(tiny_backbone):
    tok = tiny_backbone.tokenizer
    model = make_model(tiny_backbone, "sentiment")
    predicted = attribute(model, tok, TEXT, n_steps=8, label_names=LABELS["sentiment"])
    other = 1 - predicted.target
    forced = attribute(model, tok, TEXT, target=other, n_steps=8)
    assert forced.target == other and forced.target_name == str(other)
    assert forced.probability == pytest.approx(1 - predicted.probability, abs=1e-6)
    with pytest.raises(ValueError, match="not a class index"):
        attribute(model, tok, TEXT, target=5)
    ner = make_model(tiny_backbone, "ner")
    a = attribute(ner, tok, TEXT, word_index=4, n_steps=8, label_names=LABELS["ner"])
    assert a.word_index == 4 and a.word == "Paris" and "'Paris'" in a.note
    with pytest.raises(ValueError, match="out of range"):
        attribute(ner, tok, TEXT, word_index=len(TEXT.split()))


@pytest.mark.parametrize("mode", ["frozen", "finetune"])
def test_attribution_leaves_model_and_backbone_alone(mode, tiny_backbone):
    backbone_before = model_state(tiny_backbone.encoder)
    model = make_model(tiny_backbone, "paraphrase", "separate", mode=mode)
    if mode == "finetune":
        model = mixed_state(model)
    before = model_state(model)
    embeddings = model.encoder.get_input_embeddings()
    with torch.no_grad():  # a caller inside no_grad still gets gradients where it needs them
        a = attribute(model, tiny_backbone.tokenizer, TEXT, TEXT_B, n_steps=32)
    assert a.relative_delta < 0.05
    assert model.encoder.get_input_embeddings() is embeddings
    assert_same_state(before, model_state(model))
    assert_same_state(backbone_before, model_state(tiny_backbone.encoder))


# -- backward sweep --------------------------------------------------------------------------
# The app's sweep is the one training records (engine.gradflow.SignalProbe, record.sweeps);
# checked here against the same quantity computed by hand with retain_grad().
def reference_signal(model: TaskModel, batch) -> dict[str, float]:
    """||dLoss/d(group output)|| with plain torch: retain_grad() on every group's output."""
    model = copy.deepcopy(model)
    outputs: dict[str, torch.Tensor] = {}

    def keep(name):
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            if out.requires_grad:
                out.retain_grad()
            outputs[name] = out
        return hook

    handles = [g.modules[-1].register_forward_hook(keep(g.name)) for g in model.groups]
    model.loss(model.predict(model.features(batch)), batch).backward()
    for h in handles:
        h.remove()
    return {name: 0.0 if t.grad is None else float(t.grad.norm()) for name, t in outputs.items()}


def probe_signal(model: TaskModel, batch) -> tuple[dict[str, float], TaskModel]:
    """SignalProbe around one forward and backward, as a training step runs it (on a copy:
    backward writes .grad)."""
    model = copy.deepcopy(model)
    with SignalProbe(model.groups) as probe:
        model.loss(model.predict(model.features(batch)), batch).backward()
    return probe.signal, model


def one_batch(model: TaskModel, tok, task: str):
    enc, _ = encode_examples([example(task)], tok, 128, model.pair_separate)
    return collate(enc, [0], tok.pad_token_id, task == "ner", task == "similarity")


@pytest.mark.parametrize("task,pairs", CASES)
@pytest.mark.parametrize("mode", ["finetune", "frozen", "top-1"])
def test_sweep_probe_matches_retain_grad(task, pairs, mode, tiny_backbone):
    model = make_model(tiny_backbone, task, pairs, mode=mode)
    batch = one_batch(model, tiny_backbone.tokenizer, task)
    signal, probed = probe_signal(model, batch)
    assert list(signal) == [g.name for g in model.groups]  # every group, input to output
    expected = {"finetune": set(signal), "frozen": {"head"}, "top-1": {"layer.1", "head"}}[mode]
    for name, value in signal.items():
        if name in expected:
            assert value > 0.0, f"{name} should receive signal in {mode}"
        else:
            # Below the lowest trainable group nothing requires grad: the ids are integers and
            # the frozen weights are constants, so autograd builds no graph there and the
            # signal stops (top-1: layer.0 and the embeddings get exactly 0.0, even though
            # layer.1's input is layer.0's output).
            assert value == 0.0, f"{name} should get no signal in {mode}"
    reference = reference_signal(model, batch)
    for name in signal:
        assert signal[name] == pytest.approx(reference[name], rel=1e-5, abs=1e-12), name
    assert [our_hooks(m) for m in probed.modules()] == [our_hooks(m) for m in model.modules()]


def test_sweep_head_signal_does_not_depend_on_what_is_frozen(tiny_backbone):
    """dLoss/dlogits is the same whether the encoder trains or not (same weights, eval mode)."""
    frozen = make_model(tiny_backbone, "sentiment", mode="frozen")
    full = make_model(tiny_backbone, "sentiment", mode="finetune")
    batch = one_batch(frozen, tiny_backbone.tokenizer, "sentiment")
    a, _ = probe_signal(frozen, batch)
    b, _ = probe_signal(full, batch)
    assert [n for n, v in a.items() if v > 0] == ["head"] and all(v > 0 for v in b.values())
    assert a["head"] == pytest.approx(b["head"], rel=1e-6)


def test_sweep_probe_adds_up_a_module_called_twice():
    """A group whose module runs twice in one pass: the norm over both outputs' gradients."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 3)
    x = torch.randn(2, 3)
    with SignalProbe([LayerGroup("twice", [lin])]) as probe:
        a = lin(x)
        b = lin(a)
        a.retain_grad()
        b.retain_grad()
        (3 * b.sum() + a.pow(2).sum()).backward()
    expected = float(torch.sqrt(a.grad.norm() ** 2 + b.grad.norm() ** 2))
    assert probe.signal["twice"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("head,pooling", [("scalar-mix", "mean"), ("linear", "pooler"),
                                          ("linear", "cls")])
def test_other_heads_and_poolings_trace_and_sweep(head, pooling, tiny_backbone):
    model = make_model(tiny_backbone, "sentiment", head=head, pooling=pooling)
    tok = tiny_backbone.tokenizer
    n_states, hidden = tiny_backbone.num_layers + 1, tiny_backbone.hidden_size
    tr = trace_forward(model, tok, TEXT)
    assert tr.sentence_vector.shape == (hidden,)  # after the scalar mix, if any
    assert tr.shapes["features"] == ((1, n_states, hidden) if head == "scalar-mix" else (1, hidden))
    batch = one_batch(model, tok, "sentiment")
    signal, _ = probe_signal(model, batch)
    assert ("pooler" in signal) == (pooling == "pooler") and all(v > 0 for v in signal.values())
    reference = reference_signal(model, batch)
    assert signal == pytest.approx(reference, rel=1e-5)
    assert attribute(model, tok, TEXT, n_steps=50).relative_delta < 0.05


# -- predictions -----------------------------------------------------------------------------
@pytest.mark.parametrize("task,pairs", CASES)
def test_predict_texts(task, pairs, tiny_backbone):
    model = make_model(tiny_backbone, task, pairs)
    tok = tiny_backbone.tokenizer
    examples = [example(task), example(task, 0)]
    if task == "ner":
        examples.append(TokenExample(("Mary",), ()))
    elif task in ("paraphrase", "similarity"):
        examples.append(PairExample("Short one.", TEXT_B + " " + TEXT, 0.0))
    else:
        examples.append(SentenceExample("Short one.", 0))
    preds = predict_texts(model, tok, examples, LABELS[task], batch_size=2)
    one_by_one = [predict_texts(model, tok, [ex], LABELS[task])[0] for ex in examples]
    assert len(preds) == len(examples)
    for p, q in zip(preds, one_by_one):  # batching and padding change nothing
        assert p.label == (pytest.approx(q.label, abs=1e-5) if task == "similarity" else q.label)
        if p.probabilities is not None:
            np.testing.assert_allclose(p.probabilities, q.probabilities, atol=1e-5)
    if task == "ner":
        assert [len(p.label) for p in preds] == [len(ex.tokens) for ex in examples]
        assert all(sum(row) == pytest.approx(1.0, abs=1e-5) for row in preds[0].probabilities)
    elif task == "similarity":
        assert all(isinstance(p.label, float) and p.index is None for p in preds)
    else:
        assert all(p.label == LABELS[task][p.index] for p in preds)
    tr = trace_forward(model, tok, TEXT, second(task), label_names=LABELS[task])
    assert tr.prediction == (pytest.approx(preds[0].label, abs=1e-5) if task == "similarity"
                             else preds[0].label)


def test_predict_truncated_ner_words_get_o(tiny_backbone):
    model = make_model(tiny_backbone, "ner")
    words = tuple(f"word{i}" for i in range(20))
    (pred,) = predict_texts(model, tiny_backbone.tokenizer, [TokenExample(words, ())],
                            LABELS["ner"], max_length=8)
    assert len(pred.label) == 20 and pred.label[-1] == "O"
    assert len(pred.probabilities) < 20  # only the words the model saw have probabilities


# -- the real model --------------------------------------------------------------------------
def test_bundled_sentence_vectors_know_paraphrases(bundled_backbone):
    """The bundled model was trained for sentence similarity: with a pair encoded separately,
    its frozen sentence vectors (what trace_forward shows) are closer for a paraphrase than
    for an unrelated sentence, before any head is trained."""
    model = make_model(bundled_backbone, "paraphrase", "separate", mode="frozen")
    tok = bundled_backbone.tokenizer

    def cosine(a: str, b: str) -> float:
        u, v = trace_forward(model, tok, a, b).sentence_vector
        return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))

    same = cosine("The cat sat on the mat.", "A cat was sitting on the mat.")
    other = cosine("The cat sat on the mat.", "Stock markets fell sharply on Monday.")
    assert same > other + 0.3
    maps = attention_maps(bundled_backbone.encoder, tok, "The cat sat.", "A cat was sitting.")
    assert maps.attn.shape[:2] == (6, 12)
    np.testing.assert_allclose(maps.attn.sum(-1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_attribution_signs_agree_with_occlusion(bundled_backbone):
    """On a sentence whose answer is known (a plainly negative review, the real bundled model
    and the shipped frozen sentiment head), the tokens with the largest attributions move the
    class's log-odds the same way when blanked one at a time with the baseline's [PAD] id."""
    import dataclasses

    from bertviz_lite.engine.checkpoints import load_task_model
    from bertviz_lite.engine.tasks import EXAMPLE_INPUTS, readable_labels
    from bertviz_lite.inspect._common import encode_one
    from tests.conftest import REPO

    trained = load_task_model(REPO / "assets" / "models" / "sentiment-frozen", bundled_backbone)
    model, tok = trained.model, bundled_backbone.tokenizer
    text = EXAMPLE_INPUTS["sentiment"][0]  # "... a slow, forgettable mess."
    a = attribute(model, tok, text, n_steps=64,
                  label_names=readable_labels("sentiment", trained.label_names))
    assert a.target_name == "negative" and a.relative_delta < 0.05
    batch = encode_one(tok, "sentiment", text, None, max_length=128, separate_pairs=False,
                       device=torch.device("cpu"), lock=None).batch

    def log_odds(ids: torch.Tensor) -> float:
        with torch.no_grad():
            logits = model.predict(model.features(dataclasses.replace(batch, input_ids=ids)))[0]
        others = torch.cat([logits[:a.target], logits[a.target + 1:]])
        return float(logits[a.target] - torch.logsumexp(others, 0))

    full = log_odds(batch.input_ids)
    assert full == pytest.approx(a.output, abs=1e-4)

    def occlusion(i: int) -> float:
        """How much the log-odds drop when token i is blanked (positive: it spoke for it)."""
        ids = batch.input_ids.clone()
        ids[0, i] = tok.pad_token_id
        return full - log_odds(ids)

    special = set(tok.all_special_ids)
    words = [i for i in np.argsort(-np.abs(a.attributions))
             if int(batch.input_ids[0, i]) not in special][:3]
    for i in words:  # the three strongest tokens: same sign as their occlusion effect
        assert np.sign(occlusion(int(i))) == np.sign(a.attributions[i]), (a.tokens[i],
                                                                          a.attributions[i])
    mess = a.tokens.index("mess")
    assert a.attributions[mess] > 0 and occlusion(mess) > 0  # "mess" speaks for negative

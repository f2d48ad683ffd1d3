"""Metrics against answers worked out by hand."""

from __future__ import annotations

import pytest

from bertviz_lite.data.examples import PairExample, SentenceExample, TokenExample
from bertviz_lite.engine import metrics
from bertviz_lite.engine.tasks import baseline, evaluate


def test_spans_follow_conlleval():
    tags = ["B-PER", "I-PER", "O", "I-LOC", "I-LOC", "B-LOC", "B-ORG", "I-PER"]
    assert metrics.spans(tags) == {("PER", 0, 2), ("LOC", 3, 5), ("LOC", 5, 6), ("ORG", 6, 7),
                                   ("PER", 7, 8)}


def test_span_f1_exact_match_only():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "O", "O", "B-LOC"]]  # PER span cut short: no credit
    prf = metrics.span_prf(pred, gold)
    assert prf["precision"] == pytest.approx(1 / 2)
    assert prf["recall"] == pytest.approx(1 / 2)
    assert prf["f1"] == pytest.approx(0.5)
    assert metrics.span_prf([["O"]], [["O"]])["f1"] == 0.0


def test_correlations():
    x = [1.0, 2.0, 3.0, 4.0]
    assert metrics.pearson(x, [2.0, 4.0, 6.0, 8.0]) == pytest.approx(1.0)
    assert metrics.pearson(x, [1.0, 1.0, 1.0, 1.0]) == 0.0
    assert metrics.spearman(x, [1.0, 10.0, 100.0, 1000.0]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)
    scipy_stats = pytest.importorskip("scipy.stats")
    a, b = [0.1, 0.5, 0.3, 0.9, 0.7, 0.2], [1.0, 2.5, 2.5, 4.0, 3.0, 0.5]
    assert metrics.spearman(a, b) == pytest.approx(scipy_stats.spearmanr(a, b).statistic)
    assert metrics.pearson(a, b) == pytest.approx(scipy_stats.pearsonr(a, b).statistic)


def test_accuracy_f1():
    assert metrics.accuracy([1, 0, 1], [1, 1, 1]) == pytest.approx(2 / 3)
    assert metrics.binary_f1([1, 0, 1, 1], [1, 1, 0, 1]) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))


def test_baselines():
    train = [SentenceExample("a", 1), SentenceExample("b", 1), SentenceExample("c", 0)]
    val = [SentenceExample("d", 1), SentenceExample("e", 0)]
    b = baseline("sentiment", train, val, ["neg", "pos"])
    assert b["value"] == 0.5 and "majority class 'pos'" in b["name"]
    pairs = [PairExample("a", "b", 1.0), PairExample("c", "d", 3.0)]
    assert baseline("similarity", pairs, pairs, [])["value"] == 0.0
    toks = [TokenExample(("Ada",), (1,))]
    assert baseline("ner", toks, toks, ["O", "B-PER", "I-PER"])["value"] == 0.0


def test_evaluate_ner_pads_truncated_words():
    val = [TokenExample(("Ada", "Lovelace", "wrote"), (1, 2, 0))]
    scores = evaluate("ner", [[1, 2, 0]], val, ["O", "B-PER", "I-PER"])
    assert scores["span_f1"] == 1.0

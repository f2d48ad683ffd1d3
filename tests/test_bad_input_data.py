"""Bad input at the loaders, the model loader, the run config and the inspection functions:
each is refused in one line naming the file, the line and the value (or the setting), and
nothing is silently wrong. Classes follow the bad-input issue: silently wrong, crash,
misleading message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bertviz_lite.data import DataError, load_bytes
from bertviz_lite.data.load import load_task_data
from bertviz_lite.engine.config import ConfigError, RunConfig, parse_modes
from bertviz_lite.engine.models import ModelError, load_backbone
from bertviz_lite.experiments.reproduce import ReproduceResult, result_markdown

H = b"sentence\tlabel\n"
DEEP = "[" * 100_000 + "]" * 100_000
HUGE = "1" + "0" * 4999  # an integer of 5,000 digits
SURROGATE = '{"text": "bad \\ud800 text", "label": 1}\n{"text": "fine", "label": 0}\n'


def _jsonl(*rows: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


# (id, file name, bytes, task, message part, line)
SILENTLY_WRONG = [
    ("json-null-label", "n.jsonl", _jsonl({"text": "a", "label": 1}, {"text": "b", "label": None}),
     "sentiment", "the label is null", 2),
    ("mixed-names-and-numbers", "m.tsv", H + b"a\tpos\nb\tneg\nc\t0\nd\tpos\n", "sentiment",
     "mixes kinds", 4),
    ("mixed-numbers-first", "m2.tsv", H + b"a\t0\nb\t1\nc\t1\nd\tneg\n", "sentiment",
     "mixes kinds", 5),
    ("fraction-label", "f.tsv", H + b"a\t0.0\nb\t0.5\n", "sentiment", "is a fraction", 3),
    ("duplicated-header", "d.tsv", b"sentence\tlabel\tlabel\na\t0\t1\nb\t1\t0\n", "sentiment",
     "appears twice in the header", 1),
    ("duplicated-header-csv-case", "d.csv", b"text,Label,label\na,0,1\nb,1,0\n", "sentiment",
     "appears twice", 1),
    ("duplicated-json-key", "k.jsonl", b'{"text": "a", "label": 0, "label": 1}\n', "sentiment",
     "appears twice in one JSON object", 1),
    ("paraphrase-three-classes", "p.tsv",
     b"Quality\t#1 String\t#2 String\n0\ta\tb\n1\tc\td\n2\te\tf\n", "paraphrase",
     "label '2' is class number 3", 4),
    ("sentiment-too-many-classes", "c.tsv",
     H + b"".join(f"s{i}\tclass{i}\n".encode() for i in range(25)), "sentiment",
     "label 'class20' is class number 21", 22),
    ("pairs-file-for-sentiment", "mrpc.tsv",
     b"Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\ta\tb\n0\t3\t4\tc\td\n", "sentiment",
     "second-sentence column '#2 String'", 1),
    ("boolean-label", "b.jsonl", _jsonl({"text": "a", "label": True}, {"text": "b", "label": 0}),
     "sentiment", "is not a class", 1),
]

CRASHES = [
    ("deep-json-line", "deep.jsonl", (DEEP + "\n").encode(), "sentiment", "nested more than", 1),
    ("deep-json-in-field", "deep2.jsonl",
     ('{"text": "a", "label": ' + DEEP + "}\n").encode(), "sentiment", "nested more than", 1),
    ("5000-digit-label-jsonl", "big.jsonl",
     ('{"text": "a", "label": 0}\n{"text": "b", "label": ' + HUGE + "}\n").encode(), "sentiment",
     "too many digits", 2),
    ("5000-digit-label-tsv", "big.tsv", H + b"a\t0\nb\t" + HUGE.encode() + b"\n", "sentiment",
     "5,000 digits", 3),
    ("lone-surrogate-text", "s.jsonl", SURROGATE.encode(), "sentiment", "unpaired surrogate", 1),
    ("lone-surrogate-token", "s2.jsonl", b'{"tokens": ["Paris", "\\udc00"], "tags": ["B-LOC", "O"]}\n',
     "ner", "unpaired surrogate", 1),
    ("zero-width-only-text", "z.tsv", H + "a\t0\n\u200b\u200d\t1\n".encode(), "sentiment",
     "no visible characters", 3),
]

MISLEADING = [
    ("conll-for-sentiment", "train.txt", b"EU B-ORG\nrejects O\nGerman B-MISC\ncall O\n",
     "sentiment", "looks like a CoNLL file", 1),
    ("conll-tsv-for-paraphrase", "train.tsv", b"EU\tB-ORG\nrejects\tO\nGerman\tB-MISC\n",
     "paraphrase", "the ner task reads it", 1),
    ("ner-jsonl-integer-tags", "i.jsonl", _jsonl({"tokens": ["EU", "rejects"], "ner_tags": [3, 0]}),
     "ner", "tag 3 is a number", 1),
    ("ner-jsonl-prefixless-tags", "p.jsonl", _jsonl({"tokens": ["EU", "x"], "tags": ["ORG", "O"]}),
     "ner", "tag 'ORG' is not a BIO tag", 1),
    ("ner-jsonl-abc-tag", "a.jsonl", _jsonl({"tokens": ["EU"], "tags": ["ABC"]}), "ner",
     "tag 'ABC' is not a BIO tag", 1),
    ("ner-jsonl-null-tag", "nt.jsonl", _jsonl({"tokens": ["EU"], "tags": [None]}), "ner",
     "is not a BIO tag", 1),
    ("ner-jsonl-no-tokens", "e.jsonl", _jsonl({"tokens": [], "tags": []}), "ner",
     "the sentence has no tokens", 1),
]


def _case_ids(cases: list[tuple]) -> list[str]:
    return [c[0] for c in cases]


@pytest.mark.parametrize("case,name,raw,task,message,line",
                         SILENTLY_WRONG + CRASHES + MISLEADING,
                         ids=_case_ids(SILENTLY_WRONG + CRASHES + MISLEADING))
def test_bad_file_is_refused_in_one_line(case, name, raw, task, message, line):
    with pytest.raises(DataError) as err:
        load_bytes(raw, name, task)
    text = str(err.value)
    assert text.startswith(name), text  # names the file
    assert message in text, text
    assert "\n" not in text and len(text) < 400, text
    if line is not None:
        assert err.value.line == line and f"line {line}" in text, text


@pytest.mark.parametrize("raw,labels", [
    (H + b"a\t0.0\nb\t1.0\nc\t1\n", [0, 1, 1]),
    (_jsonl({"text": "a", "label": 0.0}, {"text": "b", "label": 1.0}), [0, 1]),
    (_jsonl({"text": "a", "label": "1"}, {"text": "b", "label": 0}), [1, 0]),
], ids=["tsv-0.0-1.0", "jsonl-float", "jsonl-string-and-int"])
def test_integral_float_labels_are_the_same_classes(raw, labels):
    name = "f.jsonl" if raw.startswith(b"{") else "f.tsv"
    examples, got = load_bytes(raw, name, "sentiment")
    assert got == ["0", "1"]
    assert [ex.label for ex in examples] == labels


def _write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("eval_text,message", [
    ("Quality\t#1 String\t#2 String\n1\tx\ty\n0\tz\tw\n", "second-sentence column"),
    ("sentence\tlabel\nx\tpos\ny\tneg\n", "mixes kinds"),
    ("sentence\tlabel\nx\t0\ny\t2\n", "not one of the training file's labels"),
], ids=["pairs-as-sentiment-eval", "names-vs-numbers", "extra-class"])
def test_eval_file_of_another_task_is_refused(tmp_path, eval_text, message):
    train = _write(tmp_path / "train.tsv", "sentence\tlabel\n" + "".join(
        f"s{i}\t{i % 2}\n" for i in range(10)))
    if message == "mixes kinds":
        eval_text = "sentence\tlabel\nx\tpos\ny\t0\n"
    ev = _write(tmp_path / "eval.tsv", eval_text)
    with pytest.raises(DataError) as err:
        load_task_data("sentiment", train_file=train, eval_file=ev)
    assert message in str(err.value) and "eval.tsv" in str(err.value)


def test_ner_jsonl_iob1_becomes_bio_like_conll():
    jsonl = _jsonl({"tokens": ["EU", "rejects", "German", "call"],
                    "tags": ["I-ORG", "O", "I-MISC", "O"]})
    conll = b"EU I-ORG\nrejects O\nGerman I-MISC\ncall O\n"
    (a, na), (b, nb) = load_bytes(jsonl, "x.jsonl", "ner"), load_bytes(conll, "x.txt", "ner")
    assert na == nb and [na[t] for t in a[0].tags] == ["B-ORG", "O", "B-MISC", "O"]
    assert a[0].tags == b[0].tags


def test_token_without_word_pieces_keeps_tags_aligned(tiny_backbone):
    """A WNUT-17 token may be a lone variation selector (U+FE0F): it has no word piece, and the
    words after it must keep their own tags (they used to shift by one)."""
    from bertviz_lite.data.examples import TokenExample
    from bertviz_lite.engine.encoding import encode_examples

    ex = TokenExample(("Paris", "\ufe0f", "is", "London"), (1, 0, 0, 3))
    (enc,), _ = encode_examples([ex], tiny_backbone.tokenizer, 64, False)
    assert enc.words == [0, 2, 3] and enc.label == [1, 0, 3]
    assert enc.per_word([7, 8, 9]) == [7, 0, 8, 9]


# -- models --------------------------------------------------------------------------------
def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _no_tokenizer(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(src / name, dst / name)
    return dst


def _config_edit(**changes: object):
    def make(src: Path, dst: Path) -> Path:
        _copy(src, dst)
        cfg = json.loads((dst / "config.json").read_text())
        cfg.update(changes)
        (dst / "config.json").write_text(json.dumps(cfg))
        return dst
    return make


def _truncated(src: Path, dst: Path) -> Path:
    _copy(src, dst)
    data = (dst / "model.safetensors").read_bytes()
    (dst / "model.safetensors").write_bytes(data[: len(data) // 3])
    return dst


def _small_vocab(src: Path, dst: Path) -> Path:
    """Weights with a 1,000-row embedding table next to the 30,522-entry bundled tokenizer."""
    from tests.conftest import make_tiny_bert

    make_tiny_bert(dst)
    from transformers import BertConfig, BertModel

    cfg = BertConfig.from_pretrained(dst)
    cfg.vocab_size = 1000
    BertModel(cfg).save_pretrained(dst, safe_serialization=True)
    return dst


def _file_path(src: Path, dst: Path) -> Path:
    return src / "model.safetensors"


MODEL_CASES = [
    ("no-tokenizer-files", _no_tokenizer, "the tokenizer has only"),  # silently wrong
    ("tokenizer-bigger-than-embeddings", _small_vocab, "not from the same model"),  # silently
    ("config-more-layers-than-weights", _config_edit(num_hidden_layers=4),
     "would be random"),  # silently wrong
    ("config-fewer-layers-than-weights", _config_edit(num_hidden_layers=1),
     "does not use"),  # silently wrong
    ("config-other-width", _config_edit(hidden_size=64), "does not match the weights"),  # crash
    ("truncated-safetensors", _truncated, "probably truncated"),  # crash
    ("model-path-is-a-file", _file_path, "is a file, not a model folder"),  # misleading
]


@pytest.mark.parametrize("case,make,message", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_broken_model_folder_is_refused(tmp_path, tiny_model_dir, case, make, message):
    path = make(Path(tiny_model_dir), tmp_path / case)
    with pytest.raises(ModelError) as err:
        load_backbone(str(path))
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)


# -- run config ------------------------------------------------------------------------------
@pytest.mark.parametrize("changes,message", [
    ({"epochs": 0}, "epochs must be a whole number of at least 1"),
    ({"seed": 2**70}, "seed must be a whole number from 0"),
    ({"seed": -1}, "seed must be a whole number from 0"),
    ({"threads": -3}, "threads must be a whole number from 1"),
    ({"threads": 0}, "threads must be a whole number from 1"),
    ({"lr": float("inf")}, "must be a positive number"),
], ids=["epochs-0", "seed-70-bits", "seed-negative", "threads-minus-3", "threads-0", "lr-inf"])
def test_bad_run_setting_is_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**changes)


@pytest.mark.parametrize("text,message", [
    (",", "names no mode"), ("", "names no mode"), ("frozen,,frozen", "listed twice"),
    ("frozen,half", "top-K"),
], ids=["comma", "empty", "twice", "unknown"])
def test_bad_mode_lists_are_refused(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_modes(text)


# -- reproduce.json ---------------------------------------------------------------------------
GOOD_ROW = {"task": "ner", "dataset": "CoNLL-2003", "metric": "span F1", "ours_frozen": 80.0,
            "ours_finetune": 85.0, "paper_frozen": 92.2, "paper_finetune": 92.4, "ours_gap": 5.0,
            "paper_gap": 0.2, "frozen_wall_s": 1.0, "finetune_wall_s": 9.0, "cost_ratio": 9.0}


@pytest.mark.parametrize("text,message", [
    (DEEP, "nested more than"),
    (json.dumps({"setup": {}, "rows": {"task": "ner"}}), "'rows' must be a list"),
    (json.dumps({"setup": {}, "rows": [["ner", 1]]}), "'rows' must be a list of table rows"),
    (json.dumps({"setup": "x", "rows": []}), "'setup' must be an object"),
    (json.dumps({"setup": {}, "rows": [{"task": "ner"}]}), "rows lack"),
    (json.dumps([1, 2]), "needs 'setup' and 'rows'"),
    ('{"setup": {}, "rows": [' + HUGE + "]}", "too many digits"),
], ids=["deep", "rows-dict", "rows-of-lists", "setup-string", "row-keys", "a-list", "huge-number"])
def test_bad_reproduce_json_is_one_line(text, message):
    with pytest.raises(ValueError) as err:
        ReproduceResult.from_json(text, "up.json")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_markdown_links_in_reproduce_setup_render_as_text():
    from bertviz_lite.ui import safe

    result = ReproduceResult.from_json(json.dumps({
        "setup": {"model": "[click me](https://example.com)", "hardware": "<b>x</b>",
                  "total_minutes": "lots"},
        "rows": [dict(GOOD_ROW, dataset="[evil](javascript:alert(1))")]}))
    text = result_markdown(result, cell=safe)
    assert "[click me](https://example.com)" not in text and "](javascript" not in text
    assert "\\[click me\\]" in text and "\\<b\\>" in text and "? min" in text


# -- inspection --------------------------------------------------------------------------------
@pytest.mark.parametrize("text,message", [
    ("\u200b", "no visible characters"),
    ("\u200b \u200d\ufeff", "no visible characters"),
    ("ok \ud800", "unpaired surrogate"),
], ids=["zwsp", "zero-width-mix", "surrogate"])
def test_ner_attribution_of_invisible_input_is_refused(tiny_backbone, text, message):
    from bertviz_lite.engine.checkpoints import build_task_model
    from bertviz_lite.inspect.attribution import attribute

    model = build_task_model(tiny_backbone, RunConfig(task="ner"), ["O", "B-LOC", "I-LOC"])
    with pytest.raises(ValueError, match=message):
        attribute(model, tiny_backbone.tokenizer, text, n_steps=4)


def test_ner_attribution_skips_zero_width_words(tiny_backbone):
    from bertviz_lite.engine.checkpoints import build_task_model
    from bertviz_lite.inspect.attribution import attribute

    model = build_task_model(tiny_backbone, RunConfig(task="ner"), ["O", "B-LOC", "I-LOC"])
    out = attribute(model, tiny_backbone.tokenizer, "\u200b Paris", word_index=0, n_steps=4)
    assert out.word == "Paris"

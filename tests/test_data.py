"""Loaders: the bundled data, the real files in ../shared/data, and bad files with the errors
they promise (file, line, problem)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bertviz_lite.data import ColumnMap, DataError, Limits, load_bytes, load_task_data, subsample
from bertviz_lite.data.examples import PairExample, SentenceExample, TokenExample
from bertviz_lite.data.formats import to_bio


@pytest.mark.parametrize("task", ["sentiment", "paraphrase", "similarity", "ner"])
def test_bundled_data(task):
    d = load_task_data(task)
    assert len(d.train) >= 400 and len(d.val) >= 100
    if task in ("sentiment", "paraphrase"):
        counts = Counter(ex.label for ex in d.train)
        assert len(counts) == 2 and max(counts.values()) / min(counts.values()) < 1.2
    if task == "ner":
        kinds = {name[2:] for name in d.label_names if name != "O"}
        assert kinds == {"PER", "LOC", "ORG", "MISC"}
    texts = {repr(ex) for ex in d.train}
    assert not texts & {repr(ex) for ex in d.val}, "train and validation overlap"


def test_real_sst2(shared_data):
    d = load_task_data("sentiment", str(shared_data))
    assert (len(d.train), len(d.val)) == (67349, 872)
    assert d.label_names == ["0", "1"]
    assert isinstance(d.train[0], SentenceExample) and d.train[0].text == d.train[0].text.strip()


def test_real_mrpc_with_bom(shared_data):
    d = load_task_data("paraphrase", str(shared_data))
    assert (len(d.train), len(d.val)) == (3668, 408)
    assert sum(ex.label for ex in d.train) == 2474
    assert isinstance(d.val[0], PairExample)


def test_real_stsb(shared_data):
    d = load_task_data("similarity", str(shared_data))
    assert (len(d.train), len(d.val)) == (5749, 1500)
    assert all(0.0 <= ex.label <= 5.0 for ex in d.train)


def test_real_conll2003(shared_data):
    d = load_task_data("ner", str(shared_data))
    assert (len(d.train), len(d.val)) == (14041, 3250)
    assert sum(len(ex.tokens) for ex in d.train) == 203621
    b_tags = Counter(d.label_names[t] for ex in d.train for t in ex.tags if d.label_names[t][0] == "B")
    assert b_tags == {"B-PER": 6600, "B-LOC": 7140, "B-ORG": 6321, "B-MISC": 3438}


def test_real_wnut17_tab_columns(shared_data):
    d = load_task_data("ner", train_file=str(shared_data / "wnut17" / "train.txt"),
                       eval_file=str(shared_data / "wnut17" / "dev.txt"))
    assert (len(d.train), len(d.val)) == (3394, 1009)
    assert len(d.label_names) == 13
    assert isinstance(d.train[0], TokenExample)


def test_real_imdb_csv_holds_out_validation(shared_data):
    d = load_task_data("sentiment", str(shared_data / "imdb_sample" / "train.csv"))
    assert d.label_names == ["negative", "positive"]
    assert len(d.train) + len(d.val) == 800 and len(d.val) == 160
    assert any("held out" in n for n in d.notes)


def test_max_train_is_stratified(shared_data):
    d = load_task_data("sentiment", str(shared_data), max_train=1000, seed=1)
    counts = Counter(ex.label for ex in d.train)
    assert sum(counts.values()) == 1000
    assert abs(counts[1] / 1000 - 37569 / 67349) < 0.002
    again = load_task_data("sentiment", str(shared_data), max_train=1000, seed=1)
    assert again.train == d.train


def test_subsample_keeps_order_and_size():
    exs = [SentenceExample(f"s{i}", i % 3) for i in range(100)]
    sub = subsample(exs, 30, seed=0)
    assert len(sub) == 30 and Counter(e.label for e in sub) == {0: 10, 1: 10, 2: 10}
    assert sub == sorted(sub, key=exs.index)


def test_generic_csv_jsonl_with_column_mapping():
    csv_bytes = b'review,stars\n"Great, really great",pos\nAwful,neg\n"Fine ""ok""",pos\n'
    exs, names = load_bytes(csv_bytes, "x.csv", "sentiment", ColumnMap(text="review", label="stars"))
    assert names == ["neg", "pos"] and exs[2] == SentenceExample('Fine "ok"', 1)
    jl = b'{"q1": "a b", "q2": "b a", "sim": 4.5}\n{"q1": "c", "q2": "d", "sim": 0}\n'
    exs, _ = load_bytes(jl, "x.jsonl", "similarity", ColumnMap("q1", "q2", "sim"))
    assert exs[0] == PairExample("a b", "b a", 4.5)
    ner = b'{"tokens": ["Ada", "Lovelace"], "ner_tags": ["B-PER", "I-PER"]}\n' \
          b'{"tokens": ["in", "London"], "ner_tags": ["O", "B-LOC"]}\n'
    exs, names = load_bytes(ner, "x.jsonl", "ner")
    assert names == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"] and exs[0].tags == (3, 4)


def test_iob1_is_converted_to_bio():
    assert to_bio(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]) == ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]
    exs, names = load_bytes(b"EU I-ORG\nrejects O\nGerman I-MISC\n", "x.txt", "ner")
    assert [names[t] for t in exs[0].tags] == ["B-ORG", "O", "B-MISC"]


SST_HEADER = b"sentence\tlabel\n"
BAD_FILES = [
    # (name, bytes, task, expected message part, expected line)
    ("empty.tsv", b"", "sentiment", "file is empty", None),
    ("blank.tsv", b"\n\n  \n", "sentiment", "file is empty", None),
    ("header_only.tsv", SST_HEADER, "sentiment", "header but no examples", None),
    ("binary.tsv", b"\x00\x01\x02PK\x03\x04" * 20, "sentiment", "looks binary", None),
    ("latin1.tsv", SST_HEADER + b"ok\t1\ncaf\xe9 au lait\t0\n", "sentiment", "not valid UTF-8", 3),
    ("fields.tsv", SST_HEADER + b"good\t1\nbad row\t0\textra\n", "sentiment", "expected 2 fields", 3),
    ("nolabel.tsv", b"sentence\tgrade\nfine\t1\n", "sentiment", "which column holds the label", 1),
    ("label7.tsv", SST_HEADER + b"a\t0\nb\t1\nc\t7\n", "sentiment", "label '7' is outside", 4),
    ("oneclass.tsv", SST_HEADER + b"a\t1\nb\t1\n", "sentiment", "training needs at least two", None),
    ("emptytext.tsv", SST_HEADER + b"a\t1\n \t0\n", "sentiment", "is empty", 3),
    ("mrpc3.tsv", b"Quality\t#1 String\t#2 String\n0\ta\tb\n1\tc\td\n2\te\tf\n", "paraphrase",
     "two classes", None),
    ("nan.tsv", b"sentence1\tsentence2\tscore\na\tb\t3.0\nc\td\tnan\n", "similarity",
     "outside the similarity scale", 3),
    ("range.tsv", b"sentence1\tsentence2\tscore\na\tb\t7.5\n", "similarity",
     "outside the similarity scale", 2),
    ("word.tsv", b"sentence1\tsentence2\tscore\na\tb\thigh\n", "similarity", "is not a number", 2),
    ("badtag.txt", b"Paris B-LOC\nis XYZ\n", "ner", "not a BIO tag", 2),
    ("onecol.txt", b"Paris B-LOC\nlonely\n", "ner", "expected a token and a tag", 2),
    ("allO.txt", b"the O\ncat O\n", "ner", "every token is tagged O", None),
    ("bad.jsonl", b'{"text": "a", "label": 1}\n{"text": \n', "sentiment", "not valid JSON", 2),
    ("list.jsonl", b'[1, 2]\n', "sentiment", "must be a JSON object", 1),
    ("mismatch.jsonl", b'{"tokens": ["a", "b"], "ner_tags": ["O"]}\n', "ner", "2 tokens but 1 tags", 1),
    ("quote.csv", b'text,label\n"unterminated,1\n', "sentiment", "", None),
]


@pytest.mark.parametrize("name,raw,task,message,line", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_give_clear_errors(name, raw, task, message, line):
    with pytest.raises(DataError) as err:
        load_bytes(raw, name, task)
    text = str(err.value)
    assert text.startswith(name), text  # names the file
    assert message in text
    if line is not None:
        assert err.value.line == line and f"line {line}" in text


def test_size_and_row_limits():
    big = SST_HEADER + b"word\t1\n" * 1000
    with pytest.raises(DataError, match="over the limit"):
        load_bytes(big, "big.tsv", "sentiment", limits=Limits(max_bytes=1000))
    with pytest.raises(DataError, match="more than 10 examples"):
        load_bytes(big, "rows.tsv", "sentiment", limits=Limits(max_rows=10))
    with pytest.raises(DataError, match="characters, over the limit"):
        load_bytes(SST_HEADER + b"ok\t0\n" + b"x" * 500 + b"\t1\n", "long.tsv", "sentiment",
                   limits=Limits(max_chars_per_field=100))


def test_eval_labels_must_match_training(tmp_path):
    (tmp_path / "train.tsv").write_text("sentence\tlabel\na\t0\nb\t1\n")
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nc\t2\n")
    with pytest.raises(DataError, match=r"dev.tsv, line 2: label '2' is not one of"):
        load_task_data("sentiment", str(tmp_path))


def test_missing_folder_and_file():
    with pytest.raises(DataError, match="data folder not found"):
        load_task_data("sentiment", "/nonexistent/folder")
    with pytest.raises(DataError, match="file not found"):
        load_task_data("sentiment", train_file="/nonexistent/train.tsv")


def test_fingerprint_is_content_based(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.tsv").write_text("sentence\tlabel\nx\t0\ny\t1\nz\t1\nw\t0\nv\t1\n")
    fa = load_task_data("sentiment", str(tmp_path / "a")).fingerprint()
    fb = load_task_data("sentiment", str(tmp_path / "b")).fingerprint()
    assert fa == fb
    assert json.dumps(fa)

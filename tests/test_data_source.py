"""A run's data fingerprint is known without parsing (data/source.py, config.run_key): from the
bytes of an upload or of the files a config names."""

from __future__ import annotations

import time

import pytest

import bertviz_lite.data.load as load
import bertviz_lite.data.source as source
from bertviz_lite.data.examples import DataError
from bertviz_lite.data.source import Upload, _digest, files_fingerprint
from bertviz_lite.engine.config import RunConfig, config_hash, run_key


def big_tsv(rows: int = 120_000, word: str = "good") -> bytes:
    """A sentiment file of a few MB (parsing it takes seconds; hashing it milliseconds)."""
    body = "".join(f"sentence number {i} is {word if i % 2 else 'bad'}\t{i % 2}\n"
                   for i in range(rows))
    return ("sentence\tlabel\n" + body).encode("utf-8")


@pytest.fixture()
def no_parsing(monkeypatch):
    """Any parse or load of examples fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the data was parsed while computing a key")

    for name in ("parse_examples", "load_task_data", "parse_upload", "load_file"):
        monkeypatch.setattr(load, name, refuse)
    monkeypatch.setattr(source, "parse_upload", refuse)


def test_an_uploads_key_comes_from_its_bytes_without_parsing(no_parsing):
    raw = big_tsv()
    assert len(raw) > 3_000_000
    config = RunConfig()
    t0 = time.perf_counter()
    key = run_key(config, Upload("sentiment", "mine.tsv", raw))
    assert time.perf_counter() - t0 < 1.0
    assert key == run_key(config, Upload("sentiment", "theirs.tsv", raw))  # same bytes
    changed = raw.replace(b"good", b"fine", 1)
    assert run_key(config, Upload("sentiment", "mine.tsv", changed)) != key  # one word differs
    assert run_key(config.replace(seed=1), Upload("sentiment", "mine.tsv", raw)) != key
    assert Upload("sentiment", "a.jsonl", raw).fingerprint() != \
        Upload("sentiment", "a.tsv", raw).fingerprint()  # the suffix chooses the parser


def test_a_files_key_comes_from_its_bytes_without_parsing(tmp_path, no_parsing):
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    a.write_bytes(big_tsv())
    b.write_bytes(big_tsv(word="fine"))
    t0 = time.perf_counter()
    key_a = run_key(RunConfig(train_file=str(a)))
    assert time.perf_counter() - t0 < 1.0
    key_b = run_key(RunConfig(train_file=str(b)))
    assert key_a != key_b
    b.write_bytes(a.read_bytes())  # now identical bytes (another name, another version)
    assert run_key(RunConfig(train_file=str(b))) == config_hash(
        RunConfig(train_file=str(b)), files_fingerprint("sentiment", train_file=str(a)))
    assert run_key(RunConfig(train_file=str(a), max_train=10)) != key_a  # rows chosen


def test_bundled_data_is_hashed_once(no_parsing):
    config = RunConfig(task="ner")
    first = run_key(config)
    hits = _digest.cache_info().hits
    assert run_key(config) == first and _digest.cache_info().hits > hits
    assert run_key(RunConfig(task="sentiment")) != first


def test_missing_file_and_hub_data(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        run_key(RunConfig(train_file=str(tmp_path / "missing.tsv")))
    assert run_key(RunConfig(data="hub:glue/sst2")) is None  # known only once downloaded


def test_an_upload_is_parsed_where_it_loads():
    raw = ("sentence\tlabel\n" + "".join(f"text {i} here\t{i % 2}\n" for i in range(20))).encode()
    data = Upload("sentiment", "u.tsv", raw).load()
    assert len(data.train) + len(data.val) == 20 and data.source == "uploaded file"

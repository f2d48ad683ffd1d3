"""Bad input through the app (AppTest, the real pages and job pool): each bad upload or model
gets a one-line message beside its control, the page keeps its controls, and the same session
then trains a good input to the end."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.conftest import REPO, app_settings, page_path  # noqa: E402


def good_file(salt: str) -> bytes:
    """A small clean sentiment file; the salt makes its content (and so the run) new, so the
    session really trains instead of replaying the shared cache."""
    return b"sentence\tlabel\n" + b"".join(
        f"{'a fine good film' if i % 2 else 'a dull bad film'} {salt} {i}\t{i % 2}\n".encode()
        for i in range(24))


DEEP = ("[" * 100_000 + "]" * 100_000 + "\n").encode()
HUGE = "1" + "0" * 4999


def _jsonl(*rows: object) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _pad(rows: list[dict]) -> list[dict]:
    return rows + [{"text": f"fine {i}", "label": i % 2} for i in range(8)]


@pytest.fixture(scope="module")
def broken_models(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    """A model folder without tokenizer files and one with truncated weights."""
    root = tmp_path_factory.mktemp("broken-models")
    notok = root / "notok"
    notok.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(Path(tiny_model_dir) / name, notok / name)
    trunc = root / "trunc"
    shutil.copytree(tiny_model_dir, trunc)
    (trunc / "model.safetensors").write_bytes((trunc / "model.safetensors").read_bytes()[:999])
    return {"notok": notok, "trunc": trunc}


@pytest.fixture(scope="module", autouse=True)
def app_env(tiny_model_dir, broken_models, tmp_path_factory):
    """Settings for these tests: the tiny model, two broken ones, private cache folders."""
    home = tmp_path_factory.mktemp("bvhome-bad")
    env = {"BERTVIZ_MODELS": f"tiny={tiny_model_dir},notok={broken_models['notok']},"
                             f"trunc={broken_models['trunc']}",
           "BERTVIZ_HOME": str(home), "BERTVIZ_CACHE_DIR": str(home / "cache"),
           "BERTVIZ_MAX_EXAMPLES": "48", "BERTVIZ_MAX_EVAL_EXAMPLES": "24"}
    with app_settings(env):
        yield


def open_page(page: str, **query: str) -> AppTest:
    """The app opened at its start page with `query` in the URL, then `page`."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page).run()
    return at


def messages(at: AppTest) -> str:
    return " | ".join(m.value for kind in ("warning", "error") for m in getattr(at, kind))


def upload(at: AppTest, name: str, raw: bytes, task: str = "sentiment") -> None:
    at.selectbox(key="data").select("upload").run()
    uploader = next(u for u in at.get("file_uploader") if u.proto.id.endswith(f"upload_{task}")
                    or f"upload_{task}" in u.proto.id)
    uploader.set_value((name, raw, "text/plain")).run()


def train_until_done(at: AppTest, timeout: float = 300) -> object:
    """Click Train and rerun until the job ends (an upper bound: the first job also waits for
    its worker to load torch and the model, minutes on a loaded two-core machine)."""
    at.button(key="bp_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = at.session_state["bp_job"]
    deadline = time.time() + timeout
    while not job.done and time.time() < deadline:
        time.sleep(0.5)
        at.run()
    assert job.done, job.snapshot()
    at.run()
    return job


def still_serves_and_trains(at: AppTest, salt: str) -> None:
    """The page kept its controls; a good upload on the tiny model trains to the end."""
    assert not at.exception, [e.value for e in at.exception]
    assert at.button(key="bp_train") is not None and at.selectbox(key="data") is not None
    at.selectbox(key="model").select("tiny").run()
    at.number_input(key="epochs").set_value(1).run()
    upload(at, "good.tsv", good_file(f"{salt}-{uuid.uuid4().hex[:8]}"))
    assert not at.button(key="bp_train").disabled, messages(at)
    job = train_until_done(at)
    assert job.state == "completed", (job.state, job.error)
    assert job.snapshot().record.steps, "it trained"


UPLOADS = [
    # (id, class, file name, bytes, task, message)
    ("null-label", "silently wrong", "n.jsonl", _jsonl(*_pad([{"text": "x", "label": None}])),
     "sentiment", "the label is null"),
    ("mixed-label-kinds", "silently wrong", "m.tsv",
     b"sentence\tlabel\n" + b"".join(f"s{i}\t{['pos', 'neg', 0, 1][i % 4]}\n".encode()
                                     for i in range(12)), "sentiment", "mixes kinds"),
    ("duplicated-header", "silently wrong", "d.csv",
     b"text,label,label\n" + b"".join(f"s{i},{i % 2},1\n".encode() for i in range(8)),
     "sentiment", "appears twice"),
    ("ner-jsonl-integer-tags", "misleading", "t.jsonl",
     _jsonl(*[{"tokens": ["EU", "rejects"], "ner_tags": [3, 0]}] * 6), "ner", "is a number"),
    ("conll-for-sentiment", "misleading", "c.txt", b"EU B-ORG\nrejects O\nGerman B-MISC\n" * 3,
     "sentiment", "looks like a CoNLL file"),
    ("ner-jsonl-prefixless-tags", "misleading", "p.jsonl",
     _jsonl(*[{"tokens": ["EU", "x"], "tags": ["ORG", "O"]}] * 6), "ner", "not a BIO tag"),
    ("deep-json", "crash", "deep.jsonl", DEEP, "sentiment", "nested more than"),
    ("5000-digit-label", "crash", "big.jsonl",
     b'{"text": "a", "label": ' + HUGE.encode() + b"}\n" + _jsonl(*_pad([])), "sentiment",
     "too many digits"),
    ("lone-surrogate", "crash", "s.jsonl",
     b'{"text": "bad \\ud800 text", "label": 1}\n' + _jsonl(*_pad([])), "sentiment",
     "unpaired surrogate"),
]


@pytest.mark.parametrize("case,kind,name,raw,task,message", UPLOADS, ids=[u[0] for u in UPLOADS])
def test_bad_upload_message_beside_the_uploader(case, kind, name, raw, task, message):
    at = open_page(page_path("backprop"))
    if task != "sentiment":
        at.selectbox(key="task").select(task).run()
    upload(at, name, raw, task)
    assert not at.exception, [e.value for e in at.exception]
    assert message in messages(at), messages(at)
    assert at.button(key="bp_train").disabled  # nothing to train yet, but the button is there
    if task != "sentiment":
        at.selectbox(key="task").select("sentiment").run()
    still_serves_and_trains(at, case)


@pytest.mark.parametrize("model,message", [
    ("notok", "the tokenizer has only"),  # silently wrong: every word would be [UNK]
    ("trunc", "probably truncated"),  # crash: a SafetensorError
], ids=["model-without-tokenizer", "truncated-weights"])
def test_bad_model_fails_in_one_line_and_the_page_keeps_working(model, message):
    at = open_page(page_path("backprop"))
    at.selectbox(key="model").select(model).run()
    at.number_input(key="epochs").set_value(1).run()
    job = train_until_done(at)
    assert job.state == "failed"
    assert message in messages(at) and "unexpected" not in messages(at), messages(at)
    still_serves_and_trains(at, model)


REPRO_ROW = {"task": "ner", "dataset": "CoNLL-2003", "metric": "span F1", "ours_frozen": 80.0,
             "ours_finetune": 85.0, "paper_frozen": 92.2, "paper_finetune": 92.4, "ours_gap": 5.0,
             "paper_gap": 0.2, "frozen_wall_s": 1.0, "finetune_wall_s": 9.0, "cost_ratio": 9.0}
GOOD_REPRO = json.dumps({"setup": {"model": "[click](https://example.com)", "layers": 2},
                         "rows": [REPRO_ROW]}).encode()


@pytest.mark.parametrize("raw,message", [
    (DEEP, "nested more than"),
    (json.dumps({"setup": {}, "rows": {"task": "ner"}}).encode(), "'rows' must be a list"),
    (b'{"setup": {}, "rows": [' + HUGE.encode() + b"]}", "too many digits"),
    (b"\xff\xfe not utf-8", "Could not read the reproduce results"),
], ids=["deep-json", "rows-not-a-list", "5000-digit-number", "not-utf8"])
def test_bad_reproduce_upload_then_a_good_one(raw, message, request):
    at = open_page(page_path("compare"))
    up = next(u for u in at.get("file_uploader") if "cmp_reproduce" in u.proto.id)
    up.set_value(("reproduce.json", raw, "application/json")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert message in messages(at), messages(at)
    assert at.selectbox(key="task") is not None  # the page keeps its controls
    up = next(u for u in at.get("file_uploader") if "cmp_reproduce" in u.proto.id)
    up.set_value(("reproduce.json", GOOD_REPRO, "application/json")).run()
    body = " ".join(m.value for m in at.markdown)
    assert "ner \\(CoNLL\\-2003\\)" in body, body  # the table is drawn
    assert "[click](https://example.com)" not in body and "\\[click\\]" in body  # inert text
    at.switch_page(page_path("backprop")).run()
    still_serves_and_trains(at, request.node.callspec.id)


# -- round three (issue 25): settings, the busy queue's message ---------------------------------
def test_a_refused_job_says_why_after_the_pages_rerun():
    """One session holds its limit of runs: the next start is refused with a line that
    survives the page's st.rerun() (it was only in the log); after Stop, Train works."""
    from bertviz_lite import ui

    at = open_page(page_path("backprop"))
    at.selectbox(key="model").select("tiny").run()
    at.number_input(key="epochs").set_value(20).run()
    pool = ui.job_pool()
    saved = pool.max_per_owner
    pool.max_per_owner = 1
    try:
        at.button(key="bp_train").click().run()
        first = at.session_state["bp_job"]
        assert first.state in ("queued", "starting", "running") and not at.error
        at.switch_page(page_path("compare")).run()
        at.segmented_control(key="cmp_source").set_value("run").run()
        at.button(key="cmp_run").click().run()  # start_job twice, then st.rerun()
        assert not at.exception, [e.value for e in at.exception]
        shown = messages(at)
        assert "You already have 1 run queued or training" in shown, shown
        at.run()
        assert "You already have" not in messages(at)  # shown once
        # the tiny run may have finished before Compare's click, which then started one of
        # its two runs (the second refused, as shown): stop every run the session holds
        held = [first] + [j for k in ("cmp_frozen", "cmp_finetune")
                          if (j := at.session_state[k] if k in at.session_state else None)]
        for job in held:
            job.stop()
            assert job.wait(60)  # (Train stays disabled until the worker confirms the stop)
        at.switch_page(page_path("backprop")).run()
        at.number_input(key="epochs").set_value(1).run()
        assert not at.button(key="bp_train").disabled
        at.button(key="bp_train").click().run()
        again = at.session_state["bp_job"]
        assert again is not first and not at.error, messages(at)
        assert again.state in ("queued", "starting", "running", "completed")
        again.stop()
    finally:
        pool.max_per_owner = saved


def test_a_settings_file_that_cannot_be_used_stops_every_page_in_one_line(tmp_path,
                                                                          tiny_model_dir):
    """The example's old key order (limits after [data_folders]): one line naming the key
    instead of a TypeError on every page; a good file beside it serves the app. (Last in
    this module: it resets the app's shared pool.)"""
    bad = tmp_path / "bertviz.toml"
    bad.write_text('[data_folders]\nglue = "/srv/data"\nmax_jobs = 2\n')
    with app_settings({"BERTVIZ_SETTINGS": str(bad)}):
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
        assert not at.exception, [e.value for e in at.exception]
        (error,) = [e.value for e in at.error]
        assert "max\\_jobs is inside the \\[data\\_folders\\] table" in error, error
        assert not at.button and not at.title  # nothing else: no page without its limits
    hostile = tmp_path / "hostile"  # first in the allowlist: 10,000 layers claimed
    shutil.copytree(tiny_model_dir, hostile)
    config = json.loads((hostile / "config.json").read_text())
    (hostile / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 10_000}))
    good = {"BERTVIZ_SETTINGS": str(REPO / "deploy" / "bertviz.example.toml"),
            "BERTVIZ_MODELS": f"hostile={hostile},tiny={tiny_model_dir}",
            "BERTVIZ_MAX_JOBS": "1",  # (the variable wins: one worker is enough here)
            "BERTVIZ_MAX_EPOCHS": "2", "BERTVIZ_MAX_BATCH_SIZE": "3"}  # were exceptions
    with app_settings(good):
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
        assert not at.exception and not at.error and at.title
        assert "(32 x 2 + 2)" in " ".join(m.value for m in at.markdown)  # the tiny one's facts
        at.switch_page(page_path("backprop")).run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.number_input(key="epochs").value == 2 and at.select_slider(key="batch").value == 3


@pytest.mark.parametrize("query", [{"seed": "1e400"}, {"seed": "-inf"}, {"epochs": "inf"},
                                   {"mode": "top-k", "top_k": "Infinity"}])
def test_an_infinite_number_in_the_url_is_dropped_and_the_page_trains(query):
    """Streamlit turned ?seed=1e400 (or inf, -inf) into an int for the bound widget and
    stopped the page with OverflowError; the value is now dropped, its widget shows its
    default, and the session trains."""
    at = open_page(page_path("backprop"), **query)
    assert not at.exception, [e.value for e in at.exception]
    bad = next(k for k in query if k != "mode")
    assert bad not in at.query_params, dict(at.query_params)
    defaults = {"seed": 0, "epochs": 3, "top_k": 2}
    widget = at.slider(key=bad) if bad == "top_k" else at.number_input(key=bad)
    assert widget.value == defaults[bad]
    if query.get("mode") == "top-k":
        assert at.query_params.get("mode") == "top-k"  # the good values stay
    still_serves_and_trains(at, f"inf-{bad}")

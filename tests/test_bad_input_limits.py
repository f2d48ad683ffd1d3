"""Hostile input, round three (issue 25): the class server's settings file, hostile model
folders, the job pool's limits, the class poll and lesson files, run records given to
`changes --run`, the notebook API's arguments and text files in UTF-16. Each is refused in
one line naming what to fix (or read correctly), and a good input still works beside it.

Pure functions and real SQLite files here (milliseconds); one subprocess under a memory
limit for the model folder, one real worker pool for the time limit. The app's side (the
pages with these inputs) is in test_bad_input_app.py.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bertviz_lite.serve.settings import SettingsError, load_settings
from tests.conftest import REPO

EXAMPLE = REPO / "deploy" / "bertviz.example.toml"


# -- 1. the settings file ---------------------------------------------------------------------
def _example_values() -> dict[str, object]:
    """Every `key = value` line of the example file (commented-out ones left out)."""
    import tomllib

    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_the_example_settings_load_with_every_limit_they_name():
    settings = load_settings(EXAMPLE, env={})
    named = _example_values()
    limits = {k: v for k, v in named.items() if not isinstance(v, dict)}
    assert len(limits) >= 20 and "max_jobs" in limits and "job_time_limit_s" in limits
    for key, value in limits.items():
        got = getattr(settings, key)
        assert (tuple(value) if isinstance(value, list) else value) == got, key
    assert settings.models == {"bundled": "bundled"} and settings.data_folders == {}
    assert settings.max_jobs == 2 != load_settings(REPO / "none.toml", env={}).max_jobs


TOP = "max_jobs = 2\n"
BAD_SETTINGS = [
    # the shipped example's old order: the limits after [data_folders] became data folders
    ("limits-inside-a-table", '[data_folders]\nglue = "/srv/data"\nmax_jobs = 2\nmax_queue = 5\n',
     "max_jobs is inside the [data_folders] table"),
    ("limit-inside-models", '[models]\nbundled = "bundled"\njob_time_limit_s = 60\n',
     "job_time_limit_s is inside the [models] table"),
    ("unknown-key", TOP + "max_job = 3\n", "unknown setting 'max_job'"),
    ("number-in-quotes", 'max_jobs = "2"\n', "max_jobs must be a whole number"),
    ("true-for-a-number", "max_queue = true\n", "max_queue must be a whole number"),
    ("fraction-for-whole", "max_steps = 2.5\n", "max_steps must be a whole number"),
    ("inf-limit", "abandon_after_s = inf\n", "abandon_after_s must be a number"),
    ("text-for-bool", 'require_login = "yes"\n', "require_login must be true or false"),
    ("one-instructor-as-text", 'instructors = "a@uni.edu"\n', "instructors must be a list"),
    ("model-path-a-number", "[models]\ntiny = 3\n", "[models] tiny must be text"),
    ("zero-per-session", "max_jobs_per_session = 0\n", "max_jobs_per_session must be at least 1"),
    ("negative-time-limit", "job_time_limit_s = -5\n", "job_time_limit_s must be more than 0"),
    ("max-length-1024", "max_length = 1024\n", "max_length must be at most 512"),
    # a careless class server (a hostile walk of 27 settings files found these loaded)
    ("a-billion-job-slots", "max_jobs = 1000000000\n", "max_jobs must be at most 64"),
    ("epochs-no-run-can-use", "max_epochs = 1000000\n", "max_epochs must be at most 10,000"),
    ("guessable-token", 'instructor_token = "abc"\n', "instructor_token must be at least 12"),
    ("token-with-spaces", 'instructor_token = "my class token 2026"\n',
     "instructor_token must be at least 12 letters"),
    ("javascript-join-link", 'public_url = "javascript:alert(1)"\n',
     "public_url must be a web address"),
    ("join-link-without-scheme", 'public_url = "bert.example.org"\n',
     "starts with http:// or https://"),
    ("recorded-runs-a-file", 'recorded_runs = "/etc/hostname"\n',
     "recorded_runs must be a folder"),
    ("cache-in-proc", 'cache_dir = "/proc/bertviz-cache"\n',
     "cache_dir must be a folder this server can write"),
]


@pytest.mark.parametrize("case,text,message", BAD_SETTINGS, ids=[c[0] for c in BAD_SETTINGS])
def test_a_bad_settings_file_is_refused_in_one_line_naming_the_key(tmp_path, case, text,
                                                                   message):
    f = tmp_path / "bertviz.toml"
    f.write_text(text)
    with pytest.raises(SettingsError) as err:
        load_settings(f, env={})
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    f.write_text(TOP)  # the same folder with a good file: fine
    assert load_settings(f, env={}).max_jobs == 2


def test_a_settings_path_that_is_a_folder_is_refused(tmp_path):
    """bertviz.toml made as a folder (an unzip, a volume mounted at the file's path) was
    skipped without a word, and the server ran without its limits."""
    folder = tmp_path / "bertviz.toml"
    folder.mkdir()
    with pytest.raises(SettingsError, match="a folder, not a settings file"):
        load_settings(folder, env={})
    with pytest.raises(SettingsError, match="a folder, not a settings file"):
        load_settings(env={"BERTVIZ_SETTINGS": str(folder)})


def test_a_good_class_server_file_still_loads(tmp_path):
    f = tmp_path / "bertviz.toml"
    f.write_text(TOP + 'instructor_token = "Kq3_x-9.Zt~w0123"\n'
                 'public_url = "https://bert.example.org/course"\n'
                 f'cache_dir = "{tmp_path / "new" / "cache"}"\nrecorded_runs = "{tmp_path}"\n')
    s = load_settings(f, env={})
    assert (s.instructor_token, s.public_url) == ("Kq3_x-9.Zt~w0123",
                                                  "https://bert.example.org/course")
    assert not (tmp_path / "new").exists()  # checked, not created


@pytest.mark.parametrize("name,value,message", [
    ("BERTVIZ_JOB_TIME_LIMIT_S", "inf", "must be a number"),
    ("BERTVIZ_MAX_JOBS_PER_SESSION", "two", "must be a number"),
    ("BERTVIZ_UPLOAD_MB", "nan", "must be a number"),
], ids=["time-limit-inf", "per-session-text", "upload-nan"])
def test_bad_settings_variables_are_refused(tmp_path, name, value, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(tmp_path / "none.toml", env={name: value})


def test_the_server_refuses_to_start_with_bad_settings(tmp_path):
    """The start scripts' check and `bertviz-lite app`: exit 2, one line, nothing started."""
    bad = tmp_path / "bertviz.toml"
    bad.write_text('[data_folders]\nglue = "/srv"\nmax_jobs = 2\n')
    env = {**os.environ, "PYTHONPATH": str(REPO), "BERTVIZ_SETTINGS": str(bad)}
    out = subprocess.run([sys.executable, "-m", "bertviz_lite.serve.settings"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "max_jobs is inside the [data_folders] table" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    good = subprocess.run([sys.executable, "-m", "bertviz_lite.serve.settings"],
                          env={**env, "BERTVIZ_SETTINGS": str(EXAMPLE)},
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr


def test_bertviz_lite_app_stops_before_streamlit_on_bad_settings(tmp_path, monkeypatch, caplog):
    from bertviz_lite.app import launch

    bad = tmp_path / "bertviz.toml"
    bad.write_text("max_queue = -1\n")
    monkeypatch.setenv("BERTVIZ_SETTINGS", str(bad))
    monkeypatch.setattr(launch.subprocess, "Popen", None)  # reaching it would be a TypeError
    assert launch.run() == 2
    assert "max_queue must be at least 0" in caplog.text


# -- 2. a hostile model folder ------------------------------------------------------------------
BUNDLED_LIKE = {"model_type": "bert", "vocab_size": 30522, "hidden_size": 384,
                "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536,
                "max_position_embeddings": 512, "type_vocab_size": 2}


def _hostile(folder: Path, tiny: Path | None = None, **config: object) -> Path:
    """A folder with `config` (over the bundled model's sizes) beside the tiny model's
    weights, or beside a ~120-byte weights file when `tiny` is None."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**BUNDLED_LIKE, **config}))
    if tiny is None:
        save_file({"embeddings.word_embeddings.weight": torch.zeros(2, 2)},
                  str(folder / "model.safetensors"))
    else:
        (folder / "model.safetensors").write_bytes((tiny / "model.safetensors").read_bytes())
    return folder


def _tiny_sizes(tiny: Path) -> dict[str, object]:
    return {k: v for k, v in json.loads((tiny / "config.json").read_text()).items()
            if k in BUNDLED_LIKE}


HOSTILE_MODELS = [
    ("10000-layers-120-bytes", {"num_hidden_layers": 10_000}, False, "asks for 10,000 layers"),
    ("10000-layers-tiny-weights", {"num_hidden_layers": 10_000}, True, "asks for 10,000 layers"),
    ("huge-intermediate", {"intermediate_size": 10**8}, True, "describes about"),
    ("huge-positions", {"max_position_embeddings": 10**9}, True, "describes about"),
    ("other-vocab", {"vocab_size": 1000}, True, "word embeddings are"),
    ("layers-as-text", {"num_hidden_layers": "6"}, True, "num_hidden_layers must be a positive"),
    ("zero-heads", {"num_attention_heads": 0}, True, "num_attention_heads must be a positive"),
]


@pytest.mark.parametrize("case,config,tiny,message", HOSTILE_MODELS,
                         ids=[c[0] for c in HOSTILE_MODELS])
def test_a_config_the_weights_do_not_back_is_refused_before_loading(tmp_path, tiny_model_dir,
                                                                    case, config, tiny, message):
    from bertviz_lite.engine.models import ModelError, check_local_dir

    src = Path(tiny_model_dir)
    base = _tiny_sizes(src) if tiny else {}
    folder = _hostile(tmp_path / case, src if tiny else None, **{**base, **config})
    t0 = time.perf_counter()
    with pytest.raises(ModelError) as err:
        check_local_dir(folder)
    assert time.perf_counter() - t0 < 1.0
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    check_local_dir(src)  # the real folder beside it is fine


def test_a_config_that_is_a_json_list_is_refused(tmp_path, tiny_model_dir):
    from bertviz_lite.engine.models import ModelError, check_local_dir

    folder = _hostile(tmp_path / "list", Path(tiny_model_dir))
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="holds a JSON list"):
        check_local_dir(folder)


REFUSE_UNDER_LIMIT = """
import sys, time
import torch  # the loader's own imports come first: the refusal itself is what is timed
from bertviz_lite.engine.models import ModelError, load_backbone
t0 = time.perf_counter()
try:
    load_backbone(sys.argv[1])
except ModelError as err:
    print(f"refused in {time.perf_counter() - t0:.2f} s: {err}")
    sys.exit(2)
except MemoryError:
    print("MemoryError")
    sys.exit(3)
"""
MEMORY_LIMIT = 3 * 2**30  # address space: imports fit, the claimed model (70 GB) never would


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux")
def test_a_10000_layer_config_is_refused_in_seconds_under_a_memory_limit(tmp_path):
    """The issue's folder: 10,000 layers of the bundled width claimed beside a ~120-byte
    weights file (it once grew to 19.5 GB over 170 s before the kernel killed it)."""
    folder = _hostile(tmp_path / "hostile", None, num_hidden_layers=10_000)
    assert (folder / "model.safetensors").stat().st_size < 200
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", REFUSE_UNDER_LIMIT, str(folder)], env=env,
                         capture_output=True, text=True, timeout=120, preexec_fn=_limit_memory)
    wall = time.monotonic() - t0
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr[-2000:])
    assert "asks for 10,000 layers but the weights hold 0" in out.stdout
    assert float(out.stdout.split("refused in ")[1].split(" s")[0]) < 1.0  # after the imports
    assert wall < 60, wall


# -- 4. the job pool's limits (the queue's state, no workers) -----------------------------------
@pytest.fixture()
def core():
    """A pool's core with one slot and no worker started: every run stays queued."""
    from bertviz_lite.data.text import DEFAULT_LIMITS
    from bertviz_lite.serve.core import PoolCore, PoolSettings
    from bertviz_lite.serve.worker_process import WorkerOptions

    return PoolCore(1, WorkerOptions(("bundled",), 1, 0, 0.0),
                    PoolSettings(max_queue=10, abandon_after_s=90.0, cache=None,
                                 stop_timeout_s=60.0, max_per_owner=2, time_limit_s=600.0),
                    checkpoint_dir=None, limits=DEFAULT_LIMITS)


def _config(seed: int):
    from bertviz_lite.engine.config import RunConfig

    return RunConfig(seed=seed)


def test_one_student_cannot_hold_every_place(core):
    from bertviz_lite.serve.pool import OwnerLimit, QueueFull

    tabs = [core.enter(_config(i), "browser:alice", None, None, False) for i in range(2)]
    for attempt in (2, 3):  # a third and a fourth tab of the same browser
        with pytest.raises(OwnerLimit) as err:
            core.enter(_config(attempt), "browser:alice", None, None, False)
        assert "You already have 2 runs queued or training" in str(err.value)
        assert isinstance(err.value, QueueFull) and "\n" not in str(err.value)
    others = [core.enter(_config(10 + i), f"browser:s{i}", None, None, False) for i in range(3)]
    assert all(j.state == "queued" for j in tabs + others)
    tabs[0].stop()  # alice stops one: she may start another
    assert core.enter(_config(5), "browser:alice", None, None, False).state == "queued"


def test_the_time_limit_stops_a_run_and_says_why(core):
    job = core.enter(_config(1), "browser:bob", None, None, False)
    job.run.started = time.time() - 601  # as if it had trained for ten minutes and a second
    core.watch(time.monotonic())
    assert job.state == "stopped"
    assert "at most 10 min (job_time_limit_s)" in job.error and "steps so far are kept" in \
        job.error
    assert core.stats(dispatcher_alive=False)["time_limited"] == 1


def test_the_wait_estimate_uses_the_running_runs_remaining_time():
    """Behind a fine-tune at step 100 of 2,000 after 75 s (0.75 s a step), a queued run waits
    about 1,425 s, not the 2 s the average of short finished runs said; capped by the limit."""
    from bertviz_lite.record.runs import StepRecord
    from bertviz_lite.serve.job import Run
    from bertviz_lite.serve.scheduler import RunQueue

    queue = RunQueue()
    queue.durations.avg = {"frozen": 2.0, "all": 2.0, "trains-encoder": 2.0}
    running = Run(1, None, _config(0).replace(mode="finetune"), None, None, time.time(),
                  state="running", started=time.time() - 75.0, total_steps=2000)
    running.steps = [StepRecord(100, 0, 0.5, 1e-5, {}, {}, 0.75)]
    waiting = Run(2, None, _config(1), None, None, time.time())
    queue.push(waiting)
    eta = queue.eta(waiting, [running])
    assert 1400 < eta < 1450, eta
    assert 520 < queue.eta(waiting, [running], time_limit_s=600) <= 525
    third = Run(3, None, _config(2), None, None, time.time())
    queue.push(third)
    assert queue.eta(third, [running], time_limit_s=600) == pytest.approx(
        queue.eta(waiting, [running], time_limit_s=600) + 2.0, abs=0.2)
    assert queue.eta(waiting, [None]) == 0.0  # a free slot: now


# -- 5 and 9. the class poll ------------------------------------------------------------------
def _damaged(path: Path) -> Path:
    """A real poll database whose pages were overwritten in the middle (malformed)."""
    import sqlite3

    from bertviz_lite.lesson.poll import Poll

    poll = Poll(path)
    code = poll.start("9.3", ["cost"])
    for i in range(200):
        poll.vote(code, "cost", f"v{i}", "x" * 1000)
    poll.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    raw = bytearray(path.read_bytes())
    raw[8192:24576] = b"Z" * 16384
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("make", [
    lambda p: _damaged(p),
    lambda p: (p.write_bytes(b"not a database " * 500), p)[1],
    lambda p: (p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000), p)[1],
], ids=["malformed-pages", "not-a-database", "bad-header"])
def test_a_damaged_poll_database_is_named_and_set_aside(tmp_path, make):
    from bertviz_lite.lesson.poll import Poll, PollUnavailable, set_aside

    path = make(tmp_path / "class-poll.sqlite3")
    with pytest.raises(PollUnavailable) as err:
        Poll(path).check()
    assert "class-poll.sqlite3 cannot be used" in str(err.value)
    kept = set_aside(path)
    assert kept.exists() and kept.name.startswith("class-poll.sqlite3.damaged-")
    poll = Poll(path)  # a fresh poll works at once
    code = poll.start("9.3", ["cost"])
    poll.vote(code, "cost", "s1", 5.0)
    assert poll.tally(code, "cost", instructor=True) == {"5.0": 1}


class _Unstorable:
    pass


@pytest.mark.parametrize("step,answer,message", [
    ("no-such-step", 5.0, "this lesson has no step 'no-such-step'"),
    ("cost", "x" * 2_000_000, "at most 4,096 are kept"),
    ("cost", {"a", "b"}, "cannot be stored"),
    ("cost", float("nan"), "cannot be stored"),
    ("cost", _Unstorable(), "cannot be stored"),
    ("", 5.0, "the step must be an id"),
    ("s" * 500, 5.0, "the step must be an id"),
], ids=["unknown-step", "2-mb-answer", "a-set", "nan", "an-object", "empty-step", "long-step"])
def test_a_bad_vote_is_refused_and_a_good_one_counts(tmp_path, step, answer, message):
    from bertviz_lite.lesson.poll import Poll, PollError

    poll = Poll(tmp_path / "poll.sqlite3")
    code = poll.start("9.3", ["cost", "frozen-backward"])
    with pytest.raises(PollError) as err:
        poll.vote(code, step, "s1", answer)
    assert message in str(err.value) and "\n" not in str(err.value)
    poll.vote(code, "cost", "s1", 10.0)
    assert poll.tally(code, "cost", instructor=True) == {"10.0": 1}
    assert poll.tally(code, "no-such-step", instructor=True) == {}


# -- 6. lesson files ----------------------------------------------------------------------------
def _lesson_with(prediction: str) -> str:
    return ('[lesson]\nid = "t"\ntitle = "T"\n\n[[steps]]\nid = "cost"\ntitle = "Cost"\n'
            f'text = "How much longer?"\n[steps.prediction]\nkind = "log-number"\n'
            f'question = "x?"\n{prediction}\n[steps.answer]\ncompute = "wall_ratio"\n'
            'artefacts = ["runs/sentiment-frozen", "runs/sentiment-finetune"]\n')


@pytest.mark.parametrize("prediction,message", [
    ("low = 1\nhigh = inf", "field 'prediction.low': a log slider needs 0 < low < high (finite"),
    ("low = nan\nhigh = 100", "finite numbers"),
    ("low = 1e-300\nhigh = 1e300", "at most 12 powers of ten"),
    ("low = true\nhigh = 100", "finite numbers"),
], ids=["high-inf", "low-nan", "600-decades", "low-true"])
def test_a_log_slider_out_of_range_is_refused_naming_the_step(prediction, message):
    from bertviz_lite.lesson.errors import LessonError
    from bertviz_lite.lesson.format import parse_lesson

    with pytest.raises(LessonError) as err:
        parse_lesson(_lesson_with(prediction), "t.toml")
    assert "t.toml: step 'cost'" in str(err.value) and message in str(err.value)
    good = parse_lesson(_lesson_with("low = 1\nhigh = 1000"), "t.toml")
    assert good.steps[0].prediction.high == 1000.0


def test_an_infinite_tolerance_is_refused():
    from bertviz_lite.lesson.errors import LessonError
    from bertviz_lite.lesson.format import parse_lesson

    text = _lesson_with("low = 1\nhigh = 1000") + "tolerance = inf\n"
    with pytest.raises(LessonError, match="answer.tolerance"):
        parse_lesson(text, "t.toml")


# -- 7. run records for `changes --run` ---------------------------------------------------------
GOOD_RECORD = REPO / "assets" / "runs" / "sentiment-frozen.json"


def _edited(**changes: object) -> object:
    d = json.loads(GOOD_RECORD.read_text())
    d.update(changes)
    return d


BAD_RECORDS = [
    ("json-list", [1, 2], "holds a JSON list, not a run record"),
    ("future-version", _edited(version=99), "written by a newer bertviz-lite (record format 99"),
    ("version-text", _edited(version="2"), "version must be a whole number"),
    ("config-a-list", _edited(config=[]), "field 'config' must be a JSON object"),
    ("steps-an-object", _edited(steps={}), "field 'steps' must be a JSON list"),
    ("step-a-number", _edited(steps=[3]), "step number 1 is a int, not an object"),
    ("loss-as-text", _edited(steps=[{"step": 1, "loss": "low"}]), "'loss' must be a number"),
    ("unknown-step-field", _edited(steps=[{"step": 1, "hack": 1}]), "unknown field 'hack'"),
    ("params-true", _edited(total_params=True), "'total_params' must be a whole number"),
    ("no-config", {"steps": [], "groups": []}, "has no 'config' field"),
]


@pytest.mark.parametrize("case,data,message", BAD_RECORDS, ids=[c[0] for c in BAD_RECORDS])
def test_changes_refuses_a_bad_record_in_one_line(tmp_path, caplog, capsys, case, data,
                                                  message):
    from bertviz_lite.cli.main import main

    run = tmp_path / "run.json"
    run.write_text(json.dumps(data))
    code = main(["changes", "--run", str(run), "--out", str(tmp_path / "out.json")])
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert code == 2 and len(errors) == 1 and message in errors[0], errors
    assert "Traceback" not in capsys.readouterr().err and not (tmp_path / "out.json").exists()


def test_a_good_record_still_reads():
    from bertviz_lite.cli.inside_bert_cmd import read_record

    record = read_record(str(GOOD_RECORD))
    assert record.task == "sentiment" and record.steps


# -- 8. the notebook API's arguments ------------------------------------------------------------
@pytest.mark.parametrize("fields,message", [
    ({"steps": "3"}, "steps must be a whole number (or None); got '3' (str)"),
    ({"steps": 3.7}, "steps must be a whole number (or None); got 3.7"),
    ({"steps": True}, "steps must be a number, not True or False"),
    ({"epochs": 2.0}, "epochs must be a whole number"),
    ({"mode": 3}, "mode must be text such as 'frozen', 'finetune' or 'top-K'"),
    ({"mode": "top-two"}, "mode must be one of frozen, top-K (e.g. top-2), finetune"),  # parse_mode's
    ({"model": None}, "model must be text such as 'bundled'"),
    ({"lr": "1e-3"}, "lr must be a number"),
    ({"cache_features": "no"}, "cache_features must be True or False"),
    ({"stepz": 3}, "unknown setting 'stepz'; did you mean 'steps'?"),
    ({"steps": 10**30}, "steps must be at most 10,000,000"),  # ran until interrupted
    ({"batch_size": 2**40}, "batch_size must be at most 65,536"),
    ({"epochs": 10**6}, "epochs must be at most 10,000"),
    ({"mode": "top-0"}, "top-0 trains no BERT layer"),  # ran as frozen under another name
], ids=["steps-text", "steps-fraction", "steps-true", "epochs-float", "mode-int",
        "mode-unknown", "model-none", "lr-text", "flag-text", "misspelt", "steps-1e30",
        "batch-2-40", "epochs-million", "top-0"])
def test_the_notebook_api_names_the_bad_argument(fields, message):
    import bertviz_lite as bv
    from bertviz_lite.engine.config import ConfigError

    with pytest.raises(ConfigError) as err:
        bv.config(**fields)
    assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    with pytest.raises(ConfigError, match=message.split(";")[0].split(" (")[0]):
        bv.train(progress=False, **fields)  # refused before any model is loaded
    assert bv.config(steps=3, mode="top-2", model="bundled").steps == 3


def test_train_refuses_what_is_not_a_config():
    import bertviz_lite as bv
    from bertviz_lite.engine.config import ConfigError

    with pytest.raises(ConfigError, match="train\\(\\) takes a RunConfig"):
        bv.train("frozen")
    with pytest.raises(ConfigError, match="live must be True or False"):
        bv.train(bv.config(), live="yes")


def test_the_cli_refuses_a_fraction_of_a_step(capsys):
    from bertviz_lite.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(["train", "--steps", "3.7", "--out", "r.json"])
    assert exit_.value.code == 2 and "--steps: invalid int value: '3.7'" in \
        capsys.readouterr().err


# -- 9. text files: UTF-16 and friends ----------------------------------------------------------
ROWS = "sentence\tlabel\r\n" + "".join(f"a good film {i}\t1\r\na dull film {i}\t0\r\n"
                                       for i in range(6))


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32"])
def test_unicode_text_with_a_byte_order_mark_reads_like_utf8(codec):
    import codecs

    from bertviz_lite.data import load_bytes

    bom = {"utf-16-be": codecs.BOM_UTF16_BE}.get(codec, b"")
    raw = bom + ROWS.encode(codec)
    assert load_bytes(raw, "excel.txt", "sentiment") == \
        load_bytes(ROWS.encode("utf-8"), "excel.txt", "sentiment")


@pytest.mark.parametrize("raw,message", [
    (ROWS.encode("utf-16-le"), "looks like UTF-16 text without a byte-order mark; save it as "
                               "UTF-8"),
    (b"\xff\xfe" + ROWS.encode("utf-16-le")[:-1], "not valid UTF-16: save it as UTF-8"),
    (b"\xff\xfe" + "a\x00b\tc\n".encode("utf-16-le") * 8, "looks binary"),
], ids=["utf16-without-bom", "utf16-cut-mid-character", "utf16-with-nul"])
def test_broken_unicode_text_is_named(raw, message):
    from bertviz_lite.data import DataError, load_bytes

    with pytest.raises(DataError, match=message):
        load_bytes(raw, "excel.txt", "sentiment")


def test_truncated_inputs_are_counted(tiny_backbone):
    from bertviz_lite.data.examples import SentenceExample, TaskData
    from bertviz_lite.engine.config import RunConfig
    from bertviz_lite.engine.prepare import _encode

    long = " ".join(["word"] * 40)
    data = TaskData("sentiment", [SentenceExample(long, i % 2) for i in range(4)]
                    + [SentenceExample("short", 1)], [SentenceExample(long, 1)], ["0", "1"])
    _encode(RunConfig(max_length=16, max_train=None), tiny_backbone, data)
    assert data.notes == ["5 inputs were truncated to 16 tokens (word pieces): 4 of 5 training "
                          "and 1 of 1 validation examples lost their end; raise max_length to "
                          "keep them whole"]


def test_finite_check_helpers_agree():
    from bertviz_lite.lesson.format import _finite

    assert [_finite(v) for v in (1, 2.5, math.inf, math.nan, True, "1")] == \
        [True, True, False, False, False, False]


# -- a restart: the runs a shutdown cut short are kept for their owners ---------------------------
def test_a_shutdown_keeps_the_steps_of_a_cut_short_run_for_its_owner(tmp_path):
    """The pool's core with no worker: a run that had streamed two steps when the server
    shut down is written for its owner (once), with a reason that says so; a run without a
    step is not. (The time limit's real run is in test_jobs.py, on its warm pool.)"""
    from bertviz_lite.data.text import DEFAULT_LIMITS
    from bertviz_lite.record.runs import Progress, StepRecord
    from bertviz_lite.serve import interrupted
    from bertviz_lite.serve.core import PoolCore, PoolSettings
    from bertviz_lite.serve.worker_process import WorkerOptions

    folder = tmp_path / "interrupted"
    core = PoolCore(1, WorkerOptions(("bundled",), 1, 0, 0.0),
                    PoolSettings(10, 90.0, None, 60.0), checkpoint_dir=None,
                    limits=DEFAULT_LIMITS, interrupted_dir=folder)
    cut = core.enter(_config(1), "browser:b", None, None, False)
    idle = core.enter(_config(2), "browser:c", None, None, False)
    cut.run.add_event(Progress("ready", 1, 1, info={"groups": ["embeddings", "head"],
                                                    "frozen_groups": ["embeddings"]}))
    for step in (1, 2):
        cut.run.add_event(StepRecord(step, 0, 0.7, 1e-3, {"embeddings": 0.0, "head": 0.4},
                                     {}, 0.01))
    core.close()  # what JobPool.shutdown does first
    assert cut.state == idle.state == "stopped"
    (kept,) = interrupted.take(folder, "browser:b")
    assert [s.step for s in kept.steps] == [1, 2] and kept.groups == ["embeddings", "head"]
    assert "server restarted" in kept.reason and "after step 2" in kept.reason
    assert interrupted.take(folder, "browser:b") == [] == interrupted.take(folder, "browser:c")


# -- the shared run cache: another student's upload never replays for yours ----------------------
def test_two_uploads_with_one_name_and_one_config_have_different_keys(tmp_path):
    """Two students upload reviews.tsv with the same settings; a one-byte difference gives
    another run key, so the cache never replays one's run for the other; identical bytes
    (whatever the file's name) share the run on purpose."""
    from bertviz_lite.data.source import Upload
    from bertviz_lite.engine.config import RunConfig, run_key
    from bertviz_lite.record.runcache import RunCache
    from bertviz_lite.record.runs import RunRecord

    config = RunConfig(task="sentiment", max_train=32, seed=0)
    rows = ROWS.replace("\r\n", "\n")
    mine = Upload("sentiment", "reviews.tsv", rows.encode())
    theirs = Upload("sentiment", "reviews.tsv", rows.replace("dull film 5\t0", "dull film 5\t1")
                    .encode())
    renamed = Upload("sentiment", "copy of reviews.tsv", rows.encode())
    as_csv = Upload("sentiment", "reviews.csv", rows.encode())
    keys = {name: run_key(config, up) for name, up in
            (("mine", mine), ("theirs", theirs), ("renamed", renamed), ("csv", as_csv))}
    assert keys["mine"] != keys["theirs"] and keys["mine"] == keys["renamed"]
    assert keys["csv"] != keys["mine"]  # another format parses the bytes differently
    assert keys["mine"] != run_key(config)  # nor is it the bundled data's run
    cache = RunCache(tmp_path / "cache")
    cache.put(RunRecord(config.to_dict(), [], [], 0, 0, "cpu", status="completed",
                        key=keys["theirs"]))
    assert cache.get(keys["mine"]) is None and cache.get(keys["theirs"]) is not None


def test_every_tab_of_one_browser_is_one_owner():
    """The XSRF cookie is re-masked on each page load: the owner comes from the token."""
    pytest.importorskip("streamlit")
    from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

    from bertviz_lite.ui.state import browser_owner

    token = os.urandom(16)
    tabs = {browser_owner(generate_xsrf_token_string(token, 1_700_000_000)) for _ in range(4)}
    other = browser_owner(generate_xsrf_token_string(os.urandom(16), 1_700_000_000))
    assert len(tabs) == 1 and None not in tabs and other not in tabs
    assert [browser_owner(c) for c in ("2|zz|00|1", "3|a|b|c", "", "2||00|1")] == [None] * 4


@pytest.mark.parametrize("encode,ok", [
    (lambda t: b"\xef\xbb\xbf" + t.encode(), True),  # Notepad's UTF-8 with a byte-order mark
    (lambda t: t.encode("utf-16"), False),  # "Unicode" in an old editor
], ids=["utf8-bom", "utf16"])
def test_settings_and_lesson_files_saved_by_windows_editors(tmp_path, encode, ok):
    from bertviz_lite.lesson.errors import LessonError
    from bertviz_lite.lesson.format import load_lesson

    settings, lesson = tmp_path / "bertviz.toml", tmp_path / "t.toml"
    settings.write_bytes(encode(TOP))
    lesson.write_bytes(encode(_lesson_with("low = 1\nhigh = 1000")))
    if ok:
        assert load_settings(settings, env={}).max_jobs == 2
        assert load_lesson(lesson).steps[0].id == "cost"
        return
    with pytest.raises(SettingsError, match="not UTF-8 text \\(UTF-16\\?\\); save it as UTF-8"):
        load_settings(settings, env={})
    with pytest.raises(LessonError, match="t.toml: not UTF-8 text"):
        load_lesson(lesson)


def test_notebook_figures_and_compare_name_what_they_take():
    import bertviz_lite as bv
    from bertviz_lite.record.runs import RunRecord

    frozen = RunRecord.load(REPO / "assets" / "runs" / "sentiment-frozen.json")
    tuned = RunRecord.load(REPO / "assets" / "runs" / "sentiment-finetune.json")
    for call, message in ((lambda: bv.flow(None), "flow() takes a RunRecord"),
                          (lambda: bv.replay("run.json"), "replay() takes a RunRecord"),
                          (lambda: bv.compare("frozen"), "compare() takes a list"),
                          (lambda: bv.compare([frozen, {"mode": "x"}]), "compare() takes a Run")):
        with pytest.raises(TypeError, match=message.replace("(", "\\(").replace(")", "\\)")):
            call()
    with pytest.raises(ValueError, match="got two 'frozen' runs; name them with a dict"):
        bv.compare([frozen, frozen])  # one of them was dropped without a word
    with pytest.raises(ValueError, match="needs at least two runs; got 0"):
        bv.compare([])
    assert set(bv.compare([frozen, tuned]).records) == {"frozen", "finetune"}
    assert len(bv.compare({"seed 0": frozen, "seed 1": frozen}).records) == 2
    assert bv.flow(tuned).data


@pytest.mark.parametrize("meta,message", [
    ("[1]", "task.json has no run config"),
    ('{"config": {"task": "sentiment", "steps": "3"}, "label_names": ["0", "1"]}',
     "steps must be a whole number"),
    ('{"config": {}, "label_names": "0,1"}', "label_names must be a list of texts"),
    ('{"config": ', "task.json cannot be read"),
], ids=["a-list", "steps-text", "labels-text", "cut-json"])
def test_changes_refuses_a_bad_checkpoint_before_loading_a_model(tmp_path, caplog, meta,
                                                                 message):
    from bertviz_lite.cli.main import main

    ckpt = tmp_path / "model"
    ckpt.mkdir()
    (ckpt / "task.json").write_text(meta)
    run = str(REPO / "assets" / "runs" / "sentiment-finetune.json")
    code = main(["changes", "--run", run, "--checkpoint", str(ckpt), "--out",
                 str(tmp_path / "out.json")])
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert code == 2 and len(errors) == 1 and message in errors[0], errors

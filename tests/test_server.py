"""A shared class server, on loopback: bad input through the real app, many sessions with a
limit of two training jobs, faults (closed tab, restart, a failing job), and two app
processes behind nginx with sticky sessions and one shared run cache.

Everything trains the tiny random BERT so the suite stays within a few minutes.
"""

from __future__ import annotations

import json
import shutil
import string
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from bertviz_lite.bench.browser import (
    CHROMIUM_ARGS,
    AppServer,
    chromium_path,
    free_port,
    settle,
    wait_healthy,
)
from tests.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = chromium_path()
ARTIFACTS = REPO / "test-artifacts"


def app_server(env: dict[str, str], port: int | None = None) -> AppServer:
    """The app with a class server's settings (environment), logging into its home folder."""
    port = port or free_port()
    return AppServer(env, port=port, log=Path(env["BERTVIZ_HOME"]) / f"server-{port}.log")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def class_env(tiny_model_dir, tmp_path_factory):
    """Settings of a class server: limits, an allowlist with a broken model, two job slots."""
    home = tmp_path_factory.mktemp("class-home")
    pickled = home / "pickled-model"
    pickled.mkdir()
    (pickled / "config.json").write_text((tiny_model_dir / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    return {
        "BERTVIZ_HOME": str(home), "BERTVIZ_CACHE_DIR": str(home / "cache"),
        "BERTVIZ_MODELS": f"tiny={tiny_model_dir},missing=/nonexistent/model,pickled={pickled},"
                          "bundled=bundled",
        "BERTVIZ_MAX_JOBS": "2", "BERTVIZ_MAX_EXAMPLES": "48", "BERTVIZ_MAX_EVAL_EXAMPLES": "24",
        "BERTVIZ_UPLOAD_MB": "0.05", "BERTVIZ_UPLOAD_ROWS": "400",
        "BERTVIZ_ABANDON_AFTER_S": "15", "BERTVIZ_LIVE_REFRESH_S": "1", "HF_HUB_OFFLINE": "1",
    }


@pytest.fixture(scope="module")
def server(class_env):
    srv = app_server(class_env).start()
    yield srv
    srv.stop()


def new_page(browser):
    # reduced motion: the stacks do not replay by themselves. These tests load the SERVER;
    # a real class animates on the students' own laptops, not on the server's cores.
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, reduced_motion="reduce")
    pg = ctx.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))  # type: ignore
    return ctx, pg


def messages(pg) -> str:
    parts = []
    for test_id in ("stAlertContentError", "stAlertContentWarning", "stAlertContentInfo",
                    "stAlertContentSuccess", "stException"):
        parts += pg.get_by_test_id(test_id).all_inner_texts()
    return "\n".join(parts)


def wait_for_text(pg, text: str, timeout: float = 60, file: str | None = None) -> None:
    """Until `text` is shown (with `file`: in a message line that names that file)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if file is not None:
            if any(ln.startswith(file) and text in ln for ln in messages(pg).splitlines()):
                return
        elif text in messages(pg) or pg.get_by_text(text).count():
            return
        pg.wait_for_timeout(200)
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "failed-wait.png"), full_page=True)
    raise AssertionError(f"{text!r} not shown; messages: {messages(pg)}")


def cache_size(env: dict[str, str]) -> int:
    return len(list(Path(env["BERTVIZ_CACHE_DIR"]).glob("*.json")))


def pool_stats(browser, url: str) -> dict:
    ctx, pg = new_page(browser)
    pg.goto(f"{url}/instructor")
    settle(pg)
    pg.get_by_test_id("stJson").first.wait_for()
    text = pg.get_by_test_id("stJson").first.inner_text()
    pid = pg.get_by_text("App process").inner_text().split()[-1]
    ctx.close()
    return {"text": text, "pid": pid, **_json_numbers(text)}


def _json_numbers(text: str) -> dict:
    """st.json renders keys and values on separate lines: pick the counters we need."""
    out = {}
    lines = [ln.strip().strip(",") for ln in text.splitlines()]
    for key in ("running", "queued", "peak_running", "completed", "failed", "abandoned",
                "cache_hits", "shared", "training_runs"):
        for ln in lines:
            if ln.startswith(f'"{key}":'):
                out[key] = int(ln.split(":", 1)[1])
                break
    return out


def train_on(pg, url: str, query: str, *, click: bool = True) -> None:
    pg.goto(f"{url}/backprop?{query}")
    settle(pg)
    if click:
        pg.locator(".st-key-bp_train button").click()


def wait_done(pg, timeout: float = 240) -> str:
    """Until the run ends: returns the status text shown."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pg.get_by_role("heading", name="The whole run").count():
            return "done"
        text = messages(pg)
        for end in ("Could not", "Training failed", "stopped unexpectedly", "Stopped by"):
            if end in text:
                return text
        pg.wait_for_timeout(250)
    raise AssertionError(f"run did not finish; messages: {messages(pg)}")


# -- bad input -------------------------------------------------------------------------
SST = b"sentence\tlabel\n"
GOOD_ROWS = b"".join(f"sentence number {i} is {'fine' if i % 2 else 'awful'}\t{i % 2}\n"
                     .encode() for i in range(20))
BAD_UPLOADS = [
    ("malformed.csv", b'text,label\n"never closed,1\nok,0\n', "sentiment", "expected 2 fields"),
    ("columns.tsv", b"words\tgrade\nfine\t1\nbad\t0\n", "sentiment", "cannot tell which column"),
    ("empty.tsv", b"", "sentiment", "file is empty"),
    ("binary.tsv", bytes(range(256)) * 8, "sentiment", "looks binary"),
    ("latin1.tsv", SST + b"caf\xe9 au lait\t1\nok\t0\n", "sentiment", "not valid UTF-8"),
    ("huge.tsv", SST + b"x" * 60_000 + b"\t1\n", "sentiment", "over the limit"),
    ("label2.tsv", b"Quality\t#1 String\t#2 String\n0\ta\tb\n1\tc\td\n2\te\tf\n", "paraphrase",
     "two classes"),
    ("nan.tsv", b"sentence1\tsentence2\tscore\n" + b"a\tb\t3\n" * 6 + b"c\td\tnan\n",
     "similarity", "outside the similarity scale"),
    ("range.tsv", b"sentence1\tsentence2\tscore\n" + b"a\tb\t3\n" * 6 + b"c\td\t9.5\n",
     "similarity", "outside the similarity scale"),
    ("header.tsv", SST, "sentiment", "header but no examples"),
    ("few.tsv", SST + b"good\t1\nbad\t0\n", "sentiment", "upload at least 5"),
    ("rows.tsv", SST + b"w\t1\nv\t0\n" * 300, "sentiment", "more than 400 examples"),
    ("lines.jsonl", b"[1, 2, 3]\n", "sentiment", "must be a JSON object"),
    ("tags.txt", b"Paris B-LOC\nis O\nnice NOT-A-TAG\n", "ner", "not a BIO tag"),
    ("onelabel.tsv", SST + b"a\t1\nb\t1\nc\t1\nd\t1\ne\t1\n", "sentiment", "at least two classes"),
    ("xss.tsv", SST + b"<img src=x onerror=alert(1)>\t1\nok\t0\n" + b"fine\t7\n", "sentiment",
     "outside the labels"),
]


# Through the real uploader in Chromium: one of each kind (the CSV reader, binary bytes, the
# server's size and row limits, script in a file, and one check of each other task); every
# file of BAD_UPLOADS is read with the same limits below, without a browser.
IN_THE_BROWSER = ("malformed.csv", "binary.tsv", "huge.tsv", "rows.tsv", "xss.tsv",
                  "label2.tsv", "range.tsv", "tags.txt")


def upload(pg, url: str, task: str, name: str, raw: bytes, tmp: Path, *,
           reload: bool = True) -> None:
    """Put `raw` into the Backprop page's uploader as file `name` (the page for `task` is
    opened first unless `reload` is False: then the file replaces the one uploaded before)."""
    if reload:
        pg.goto(f"{url}/backprop?task={task}&data=upload")
        settle(pg)
    path = tmp / name
    path.write_bytes(raw)
    pg.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
    settle(pg)


def test_every_bad_upload_is_refused_with_its_message_under_the_class_limits(class_env):
    from bertviz_lite.data.load import parse_upload
    from bertviz_lite.data.text import DataError
    from bertviz_lite.serve.settings import load_settings

    limits = load_settings(Path(class_env["BERTVIZ_HOME"]) / "none.toml",
                           env=class_env).upload_limits()
    for name, raw, task, expected in BAD_UPLOADS:
        with pytest.raises(DataError) as err:
            parse_upload(task, name, raw, limits)
        assert str(err.value).startswith(name) and expected in str(err.value), str(err.value)


def test_bad_uploads_get_clear_messages_and_change_nothing(server, browser, class_env, tmp_path):
    before = cache_size(class_env)
    ctx, pg = new_page(browser)
    seen, task_open = {}, None
    for name, raw, task, expected in sorted(
            (u for u in BAD_UPLOADS if u[0] in IN_THE_BROWSER), key=lambda u: u[2]):
        upload(pg, server.url, task, name, raw, tmp_path, reload=task != task_open)
        task_open = task
        wait_for_text(pg, expected, timeout=20, file=name)
        assert not pg.get_by_test_id("stException").count(), messages(pg)
        assert pg.locator(".st-key-bp_train button").is_disabled(), name
        seen[name] = messages(pg).splitlines()[0][:160]
    assert len(seen) == len(IN_THE_BROWSER)
    assert not pg.dialogs  # type: ignore[attr-defined]  # no script from a file ever ran
    # A good upload in the same session still trains.
    upload(pg, server.url, "sentiment", "good.tsv", SST + GOOD_ROWS, tmp_path)
    pg.locator(".st-key-bp_train button").click()
    assert wait_done(pg) == "done"
    ctx.close()
    assert cache_size(class_env) == before + 1  # nothing lost, the good run added
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bad-uploads.json").write_text(json.dumps(seen, indent=2))


def test_xss_tokens_render_as_text(server, browser, tmp_path):
    ctx, pg = new_page(browser)
    rows = b"".join(f"<img src=x onerror=alert({i})> <b>bold</b> [link](javascript:alert(1))"
                    f" number {i}\t{i % 2}\n".encode() for i in range(12))
    upload(pg, server.url, "sentiment", "xss.tsv", SST + rows, tmp_path)
    pg.locator(".st-key-bp_train button").click()
    assert wait_done(pg) == "done"
    pg.goto(f"{server.url}/forward?task=sentiment")
    settle(pg)
    box = pg.get_by_test_id("stTextInput").first.locator("input")
    box.fill("<img src=x onerror=alert(9)> <script>alert(8)</script>")
    box.press("Enter")
    settle(pg)
    pg.wait_for_timeout(1000)
    assert not pg.dialogs  # type: ignore[attr-defined]
    assert pg.locator("img[src=x]").count() == 0 and pg.locator("script").filter(
        has_text="alert(8)").count() == 0
    # the pieces are shown as text (waited for: under load the tokens draw after a second)
    pg.get_by_text("script", exact=True).first.wait_for(timeout=30_000)
    pg.screenshot(path=str(ARTIFACTS / "xss-forward.png"), full_page=True)
    assert not pg.dialogs and pg.locator("img[src=x]").count() == 0, messages(pg)
    ctx.close()


@pytest.mark.parametrize("query,expected", [
    ("model=missing", "does not exist"),
    ("model=pickled", "pickle-based checkpoint"),
    ("mode=finetune&lr=1000&epochs=5", "learning rate"),
])
def test_bad_models_and_settings_fail_clearly(server, browser, query, expected):
    ctx, pg = new_page(browser)
    train_on(pg, server.url, f"{query}&seed=77")
    status = wait_done(pg)
    assert expected in status or expected in messages(pg), status
    assert not pg.get_by_test_id("stException").count()
    ctx.close()


def test_urls_cannot_reach_server_paths_or_bad_values(server, browser):
    ctx, pg = new_page(browser)
    pg.goto(f"{server.url}/backprop?data=/etc&model=/etc/passwd&batch=0&epochs=-3")
    settle(pg)
    assert not pg.get_by_test_id("stException").count()
    url = pg.url
    assert "/etc" not in url and "batch=0" not in url  # invalid values are dropped
    assert pg.locator(".st-key-epochs input").input_value() == "3"
    ctx.close()


# -- load ----------------------------------------------------------------------------
SESSIONS = 6  # students training at once on a server with two job slots


def test_six_sessions_two_job_slots(server, browser, class_env):
    before = pool_stats(browser, server.url)
    pages = [new_page(browser) for _ in range(SESSIONS)]
    for i, (_, pg) in enumerate(pages):  # the students open the page at once
        seed = 100 + (i % (SESSIONS - 2))  # two pairs share a configuration: trained once each
        pg.goto(f"{server.url}/backprop?task=ner&mode=finetune&epochs=1&seed={seed}",
                wait_until="commit")
    for _, pg in pages:
        settle(pg)
    t0 = time.time()
    for _, pg in pages:
        pg.locator(".st-key-bp_train button").click()
    # Right after the clicks (the jobs queued or running): the server still answers at once.
    # (How long pages take while both slots train is measured by `bertviz-lite bench`, with
    # the bundled model: these tiny runs end within seconds, before any page could be timed.)
    health = []
    for _ in range(5):
        start = time.time()
        assert urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=10).read() == b"ok"
        health.append(round(time.time() - start, 3))
        time.sleep(0.2)
    results = [wait_done(pg, timeout=180) for _, pg in pages]
    total = time.time() - t0
    assert results == ["done"] * SESSIONS, results
    stats = pool_stats(browser, server.url)
    assert stats["peak_running"] <= 2, stats["text"]  # over the server's whole life
    assert stats["failed"] == before["failed"]
    # Another student asking for a finished configuration replays it from the cache.
    ctx, pg = new_page(browser)
    start = time.time()
    train_on(pg, server.url, "task=ner&mode=finetune&epochs=1&seed=100")
    wait_for_text(pg, "this exact configuration was trained before", timeout=10)
    hit = round(time.time() - start, 2)
    ctx.close()
    for ctx, _ in pages:
        ctx.close()
    metrics = {"sessions": SESSIONS, "max_jobs": 2, "peak_running": stats["peak_running"],
               "training_runs": stats["training_runs"] - before["training_runs"],
               "shared_or_cached": 2,
               "all_done_s": round(total, 1), "health_response_s_after_the_clicks": health,
               "cache_hit_page_s": hit}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load-metrics.json").write_text(json.dumps(metrics, indent=2))
    assert max(health) < 5


# -- faults ----------------------------------------------------------------------------
def test_closed_tab_frees_its_slot(server, browser):
    before = pool_stats(browser, server.url)
    ctx, pg = new_page(browser)
    train_on(pg, server.url, "model=bundled&mode=finetune&epochs=20&seed=500")  # minutes long
    pg.wait_for_timeout(1500)
    ctx.close()  # the tab is gone; its job keeps a slot until the watchdog notices
    deadline = time.time() + 45
    stats = before
    while time.time() < deadline:
        stats = pool_stats(browser, server.url)
        if stats["abandoned"] > before["abandoned"] and stats["running"] == 0:
            break
        time.sleep(1)
    assert stats["abandoned"] == before["abandoned"] + 1 and stats["running"] == 0, stats["text"]


def test_failing_job_leaves_the_queue_working(server, browser):
    ctx, pg = new_page(browser)
    train_on(pg, server.url, "model=missing&seed=600")
    assert "does not exist" in wait_done(pg)
    train_on(pg, server.url, "seed=601")
    assert wait_done(pg) == "done"
    ctx.close()


# -- several app processes behind nginx ---------------------------------------------------
def test_two_processes_behind_nginx(class_env, browser, tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed (apt-get install nginx)")
    backends = [app_server(class_env).start(), app_server(class_env).start()]
    port = free_port()
    upstreams = "".join(f"        server 127.0.0.1:{b.port};\n" for b in backends)
    conf = string.Template((REPO / "deploy" / "nginx.conf.template").read_text()).safe_substitute(
        LISTEN_PORT=port, PREFIX=str(tmp_path), UPSTREAMS=upstreams)
    (tmp_path / "nginx.conf").write_text(conf)
    proc = subprocess.Popen([nginx, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path),
                             "-e", str(tmp_path / "error.log"), "-g", "daemon off;"])
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        # New browsers are spread over the processes (each first request gets a random route).
        spread = set()
        for _ in range(40):
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:
                spread.add(r.headers["X-Bertviz-Upstream"])
        assert len(spread) == 2, spread
        pids, sessions = {}, []
        for i in range(3):  # three students, each training at once
            ctx, pg = new_page(browser)
            seen = set()
            for _ in range(2):  # a reload in one browser stays on one app process
                pg.goto(f"{url}/instructor")
                settle(pg)
                seen.add(pg.get_by_text("App process").inner_text().split()[-1])
            assert len(seen) == 1, seen
            train_on(pg, url, f"seed={800 + i}")
            pids[i] = seen.pop()
            sessions.append((ctx, pg))
        for ctx, pg in sessions:
            assert wait_done(pg) == "done"  # websockets work through the proxy
            ctx.close()
        # The hostile inputs the single server refuses, through the proxy: path-like and
        # invalid URL values, markup in an uploaded file (an upload through the proxy; every
        # kind of bad file is refused by the single server's tests above).
        ctx, pg = new_page(browser)
        pg.goto(f"{url}/backprop?data=/etc&model=/etc/passwd&batch=0&epochs=-3")
        settle(pg)
        assert not pg.get_by_test_id("stException").count()
        assert "/etc" not in pg.url and "batch=0" not in pg.url
        name, raw, task, expected = next(u for u in BAD_UPLOADS if u[0] == "xss.tsv")
        upload(pg, url, task, name, raw, tmp_path)
        wait_for_text(pg, expected, timeout=20, file=name)
        assert pg.locator(".st-key-bp_train button").is_disabled(), name
        assert not pg.dialogs and not pg.get_by_test_id("stException").count()  # type: ignore
        ctx.close()
        # The run cache is shared: a run finished behind the proxy is a hit on either process,
        # and still after a restart (the same folders and port, a new process).
        backends[0].stop()
        backends[0] = app_server(class_env, port=backends[0].port).start()
        for b in backends:
            ctx, pg = new_page(browser)
            train_on(pg, b.url, "seed=800")
            wait_for_text(pg, "this exact configuration was trained before", timeout=20)
            ctx.close()
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "nginx-sessions.json").write_text(json.dumps(
            {"sessions_to_app_process": pids, "processes": len(set(pids.values())),
             "new_clients_spread_over": sorted(spread)}, indent=2))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for b in backends:
            b.stop()

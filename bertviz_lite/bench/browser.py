"""The app's figures for `bertviz-lite bench`, measured in Chromium against `streamlit run`:
cold start, time from clicking Train to the first gradient bar, how often the live chart
changes, a training step inside the app against the same step from the CLI, memory, and how
long a new visitor waits for the Home page while both job slots train (workers at the
default lower CPU priority against the same priority as the server).

Needs Playwright (`pip install playwright`) and a Chromium at $BERTVIZ_CHROMIUM or
/usr/bin/chromium; without them this section reports why it was skipped.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.training import run_to_record
from bertviz_lite.paths import PACKAGE_DIR

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# The newest step a Backprop page shows for its run: the live stack's own panel (it follows
# every step as it arrives), else the exact-numbers chart's title (the bars, redrawn once a
# second while the run trains); null before the run's first step.
FLOW_STEP = """() => { const r = document.querySelector('.st-key-bp_job_stack .bvs-root');
  const s = r && r.__bvs ? r.__bvs.stats().step : null;
  if (s !== null && s !== undefined) return s;
  const e = document.querySelector('.st-key-bp_job_flow .js-plotly-plot');
  if (!e || !e.layout || !e.layout.title) return null;
  const m = /step (\\d+)/.exec(e.layout.title.text || ''); return m ? Number(m[1]) : null; }"""
READY = "[data-testid='stApp'][data-test-script-state='notRunning']"


def chromium_path() -> str:
    """The system Chromium the browser measurements (and tests) drive: BERTVIZ_CHROMIUM or
    Debian's /usr/bin/chromium (never a browser downloaded by Playwright)."""
    return os.environ.get("BERTVIZ_CHROMIUM", "/usr/bin/chromium")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settle(page: Any, pause_ms: int = 300, timeout_ms: float = 60_000) -> None:
    """Wait until the Streamlit script run has finished, then `pause_ms` for the browser
    to draw what it sent."""
    page.wait_for_selector(READY, timeout=timeout_ms)
    page.wait_for_timeout(pause_ms)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> float:
    """Poll `url`/_stcore/health until it answers "ok"; returns the seconds it took. Raises
    RuntimeError when the process exits first, TimeoutError after `timeout` seconds."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the server behind {url} exited with code {proc.returncode}")
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer its health check within {timeout:.0f} s")


class AppServer:
    """`streamlit run app.py` from the checkout on a loopback port: the one way the benchmark
    and the tests start the app.

    env: added to this process's environment (settings such as BERTVIZ_HOME, BERTVIZ_MAX_JOBS);
    port: default a free one; log: file for the server's output (default: discarded).
    `start()` returns once the health check answers (`healthy_s` says how long that took).
    """

    def __init__(self, env: dict[str, str] | None = None, port: int | None = None,
                 log: Path | None = None) -> None:
        self.env = dict(env or {})
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.healthy_s: float | None = None

    def start(self, timeout: float = 60.0) -> AppServer:
        """Start the server and wait for its health check (the process is killed on failure)."""
        out = open(self.log, "a") if self.log is not None else subprocess.DEVNULL
        env = {**os.environ, "HF_HUB_OFFLINE": "1", **self.env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bertviz_lite.app.run", "app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
            cwd=PACKAGE_DIR.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
        if out is not subprocess.DEVNULL:
            out.close()  # the child keeps its own handle
        try:
            self.healthy_s = wait_healthy(self.url, self.proc, timeout)
        except (RuntimeError, TimeoutError):
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the server (killed when it does not exit within 15 s)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _watch(pg: Any, seconds: float) -> dict[str, Any]:
    """Click Train; sample the gradient chart's step every 20 ms until the run ends."""
    t0 = time.perf_counter()
    pg.locator(".st-key-bp_train button").click()
    first, changes, steps = None, [], []
    done = pg.get_by_role("heading", name="The whole run")
    while time.perf_counter() - t0 < seconds:
        step = pg.evaluate(FLOW_STEP)
        now = time.perf_counter() - t0
        if step is not None and (not steps or steps[-1] != step):
            first = first if first is not None else now
            steps.append(step)
            changes.append(now)
        if done.count():
            break
        pg.wait_for_timeout(20)
    gaps = [b - a for a, b in zip(changes, changes[1:])]
    return {"first_bar_s": None if first is None else round(first, 2),
            "chart_updates": len(changes),
            "updates_per_s": round(len(gaps) / sum(gaps), 2) if gaps else None,
            "median_gap_s": round(statistics.median(gaps), 3) if gaps else None}


def home_page_s(browser: Any, url: str, timeout_ms: float = 120_000) -> float:
    """Seconds a NEW browser session waits for the Home page: from navigation until its
    script run has finished and the diagram is drawn."""
    return page_s(browser, url, timeout_ms=timeout_ms)


HOME_READY = ".bv-diagram"  # the start page's BERT diagram (an inline SVG)
VIEWPORT = {"width": 1400, "height": 1000}  # the window every timed page opens in


def page_s(browser: Any, url: str, ready: str = HOME_READY,
           timeout_ms: float = 120_000, context: Any = None) -> float:
    """Seconds a NEW app session waits for the page at `url`: from navigation until `ready` is
    on it and its script run has finished. Without `context`, a new visitor (a browser
    context of its own: nothing cached); with one, a new tab of a browser that has been
    here (Streamlit's scripts in its cache, as after a reload or on the second page)."""
    ctx = context or browser.new_context(viewport=VIEWPORT)
    pg = ctx.new_page()
    try:
        t0 = time.perf_counter()
        pg.goto(url)
        pg.wait_for_selector(ready, timeout=timeout_ms)
        settle(pg, pause_ms=0, timeout_ms=timeout_ms)
        return round(time.perf_counter() - t0, 2)
    finally:
        pg.close()
        if context is None:
            ctx.close()


def _median(times: list[float]) -> float:
    return round(statistics.median(times), 2)


def page_times(browser: Any, url: str, sessions: int = 3) -> dict[str, Any]:
    """The first visit of a fresh server, then `sessions` new sessions of the start page and
    of the Backprop page, one after another (seconds from navigation to a finished page):
    new visitors (nothing cached), and new tabs of one browser that has been here."""
    first = page_s(browser, url)
    home = [page_s(browser, url) for _ in range(sessions)]
    backprop = [page_s(browser, f"{url}/backprop", ready=".st-key-bp_train")
                for _ in range(sessions)]
    ctx = browser.new_context(viewport=VIEWPORT)
    try:
        page_s(browser, url, context=ctx)  # this browser's first visit fills its cache
        tabs = [page_s(browser, url, context=ctx) for _ in range(sessions)]
    finally:
        ctx.close()
    return {"first_visit_s": first, "new_session_home_s": home,
            "new_session_home_median_s": _median(home),
            "new_tab_home_s": tabs, "new_tab_home_median_s": _median(tabs),
            "new_session_backprop_s": backprop,
            "new_session_backprop_median_s": _median(backprop),
            "targets_s": {"first_visit": 3, "new_session_home": 2, "new_session_backprop": 3,
                          "new_session_home_while_both_slots_train": 5}}


def start_training(browser: Any, url: str, queries: list[str], timeout_s: float = 600.0
                   ) -> list[Any]:
    """One browser session per query on the Backprop page, Train clicked in each; returns the
    (context, page) pairs once every session shows a training step (every slot is busy when
    there are as many queries as job slots)."""
    sessions = []
    for query in queries:
        ctx = browser.new_context(viewport=VIEWPORT)
        pg = ctx.new_page()
        pg.goto(f"{url}/backprop?{query}")
        settle(pg)
        pg.locator(".st-key-bp_train button").click()
        sessions.append((ctx, pg))
    deadline = time.perf_counter() + timeout_s
    for _, pg in sessions:
        while pg.evaluate(FLOW_STEP) is None:
            if time.perf_counter() > deadline:
                raise TimeoutError("the training sessions did not all reach a step")
            pg.wait_for_timeout(100)
    return sessions


def home_page_while_training(chromium: str, nice_levels: tuple[int, ...] = (0, 10),
                             loads: int = 3, model: str = "bundled", epochs: int = 3
                             ) -> dict[str, Any]:
    """For each worker niceness: an app with two job slots, two sessions fine-tuning `model`
    (a label of the server's allowlist: "bundled", or a folder offered as "custom"), their
    live pages open in the same Chromium on the same cores (in a class they would be on the
    students' laptops: this is the harder case); then `loads` new visitors and `loads` new
    tabs of a browser that has been here open Home, alternately; seconds each."""
    from playwright.sync_api import sync_playwright

    label = "bundled" if model == "bundled" else "custom"
    out: dict[str, Any] = {"slots": 2, "training_sessions": 2, "model": model,
                           "epochs": epochs}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for nice in nice_levels:
            with tempfile.TemporaryDirectory() as home:
                env = {"BERTVIZ_HOME": home, "BERTVIZ_MAX_JOBS": "2",
                       "BERTVIZ_WORKER_NICE": str(nice), "BERTVIZ_MODELS": f"{label}={model}"}
                with AppServer(env) as server:
                    home_page_s(browser, server.url)  # the first visit starts the workers
                    returning = browser.new_context(viewport=VIEWPORT)
                    page_s(browser, server.url, context=returning)  # fills its cache
                    sessions = start_training(browser, server.url, [
                        f"model={label}&mode=finetune&epochs={epochs}&seed={40 + i}"
                        for i in range(2)])
                    times, tabs = [], []
                    for _ in range(loads):  # alternated, so both meet the same training
                        times.append(home_page_s(browser, server.url))
                        tabs.append(page_s(browser, server.url, context=returning))
                    still = sum(not pg.get_by_role("heading", name="The whole run").count()
                                for _, pg in sessions)
                    for ctx in [returning, *(c for c, _ in sessions)]:
                        ctx.close()
            out[f"worker_nice_{nice}"] = {"home_page_s": times, "median_s": _median(times),
                                          "new_tab_home_page_s": tabs,
                                          "new_tab_median_s": _median(tabs),
                                          "sessions_still_training_after": still}
        browser.close()
    if len(nice_levels) == 2:
        a, b = (out[f"worker_nice_{n}"]["median_s"] for n in nice_levels)
        out["ratio_equal_over_lower_priority"] = round(a / b, 2) if b else None
    return out


def _memory(proc: subprocess.Popen) -> dict[str, float]:
    """RSS of the app process and of its worker processes, now."""
    p = psutil.Process(proc.pid)
    kids = p.children(recursive=True)
    return {"app_rss_mb": round(p.memory_info().rss / 2**20, 0),
            "workers_rss_mb": round(sum(k.memory_info().rss for k in kids) / 2**20, 0)}


def app_measurements() -> dict[str, Any]:
    """Start the app, open it in Chromium, train frozen and fine-tuned; see the module doc."""
    chromium = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "Playwright is not installed (pip install playwright)"}
    if not Path(chromium).exists():
        return {"skipped": f"no Chromium at {chromium}"}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as home:
        server = AppServer({"BERTVIZ_HOME": home}).start()
        proc, url, healthy_s = server.proc, server.url, server.healthy_s or 0.0
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                out["pages"] = page_times(browser, url)  # the server's first visit included
                out["cold_start"] = {"server_healthy_s": round(healthy_s, 2),
                                     "first_page_drawn_s": round(
                                         healthy_s + out["pages"]["first_visit_s"], 2)}
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.goto(url)
                page.wait_for_selector(HOME_READY, timeout=60_000)  # home diagram drawn
                page.wait_for_timeout(5000)  # the workers load the weights while people read
                for mode in ("frozen", "finetune"):
                    page.goto(f"{url}/backprop?mode={mode}&epochs=1&seed=3")
                    page.wait_for_selector(READY, timeout=60_000)
                    out[mode] = _watch(page, 120)
                    page.wait_for_selector(READY, timeout=60_000)
                    if mode == "finetune":
                        out["memory_with_one_job_done"] = _memory(proc)
                browser.close()
            out["step_app_vs_cli"] = _step_ratio(home)
        finally:
            server.stop()
    out["home_page_while_training"] = home_page_while_training(chromium)
    return out


def _step_ratio(home: str) -> dict[str, Any]:
    """Median fine-tuning step in the app's worker (from its cached record) against the same
    configuration run from the CLI engine in this process, with the same torch threads."""
    records = [json.loads(p.read_text()) for p in Path(home, "cache").glob("*.json")]
    app = next(r for r in records if r["config"]["mode"] == "finetune")
    app_step = statistics.median(s["seconds"] for s in app["steps"][1:])
    import torch

    cores = torch.get_num_threads()
    worker = max(1, cores - 1)  # the pool's default: one core stays with server and browser
    rows = {}
    for n in sorted({worker, cores}):
        torch.set_num_threads(n)
        cli = run_to_record(RunConfig(task="sentiment", mode="finetune", epochs=1, seed=3))
        rows[n] = statistics.median(s.seconds for s in cli.steps[1:])
    torch.set_num_threads(cores)
    return {"app_step_s": round(app_step, 3), "app_worker_threads": worker,
            "cli_same_threads_s": round(rows[worker], 3), "cli_all_cores_s": round(rows[cores], 3),
            "ratio_vs_cli_same_threads": round(app_step / rows[worker], 2),
            "ratio_vs_cli_all_cores": round(app_step / rows[cores], 2)}


CLIPPED_TEXT = """(scope) => {
  const out = [];
  for (const plot of document.querySelectorAll(scope)) {
    const svg = plot.querySelector('svg.main-svg');
    if (!svg) continue;
    const box = svg.getBoundingClientRect();
    const sel = '.gtitle, .g-gtitle text, .legend text, .xtick text, .ytick text, ' +
                '.g-xtitle text, .g-ytitle text, .annotation-text, .bartext';
    for (const t of plot.querySelectorAll(sel)) {
      const r = t.getBoundingClientRect();
      if (!r.width || !t.textContent.trim()) continue;
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 ||
          r.bottom > box.bottom + 1) out.push(t.textContent.trim().slice(0, 40));
    }
  }
  return out; }"""


def clipped_texts(page: Any, scope: str = ".js-plotly-plot") -> list[str]:
    """Texts of the plotly figures matching `scope` (titles, legends, ticks, axis titles,
    annotations, bar labels) that stick out of their figure, where the browser cuts them."""
    return list(page.evaluate(CLIPPED_TEXT, scope))


SCROLL_TOP = """() => { const m = document.querySelector('[data-testid="stMain"]');
  return (m ? m.scrollTop : 0) + (window.scrollY || 0); }"""


def in_viewport(page: Any, selector: str) -> bool:
    """Whether the first element matching `selector` lies wholly inside the viewport, with
    the page scrolled to the top (what a projector shows without scrolling)."""
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    scroll = page.evaluate(SCROLL_TOP)
    if box is None or size is None:
        return False
    top = box["y"] + scroll
    return top >= 0 and box["x"] >= 0 and top + box["height"] <= size["height"] + 1 \
        and box["x"] + box["width"] <= size["width"] + 1

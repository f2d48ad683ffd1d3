"""The app's figures for `bertviz-lite bench`, measured in Chromium against `streamlit run`:
cold start, time from clicking Train to the first gradient bar, how often the live chart
changes, a training step inside the app against the same step from the CLI, and memory.

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
FLOW_STEP = """() => { const e = document.querySelector('.st-key-bp_job_flow .js-plotly-plot');
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


def _start_server(home: str) -> tuple[subprocess.Popen, str, float]:
    """`streamlit run app.py` from the checkout; returns (process, url, seconds to healthy)."""
    port = free_port()
    env = dict(os.environ, BERTVIZ_HOME=home, HF_HUB_OFFLINE="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1"], cwd=PACKAGE_DIR.parent, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t0 < 60:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return proc, url, time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise TimeoutError("the app did not start within 60 s")


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


def _memory(proc: subprocess.Popen) -> dict[str, float]:
    """RSS of the app process and of its worker processes, now."""
    p = psutil.Process(proc.pid)
    kids = p.children(recursive=True)
    return {"app_rss_mb": round(p.memory_info().rss / 2**20, 0),
            "workers_rss_mb": round(sum(k.memory_info().rss for k in kids) / 2**20, 0)}


def app_measurements(quick: bool = False) -> dict[str, Any]:
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
        proc, url, healthy_s = _start_server(home)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                t0 = time.perf_counter()
                page.goto(url)
                page.wait_for_selector(".js-plotly-plot", timeout=60_000)  # home diagram drawn
                out["cold_start"] = {"server_healthy_s": round(healthy_s, 2),
                                     "first_page_drawn_s": round(healthy_s + time.perf_counter()
                                                                 - t0, 2)}
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
            proc.terminate()
            proc.wait(timeout=20)
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

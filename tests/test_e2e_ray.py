"""The app in real Chromium with `backend = "ray"`: frozen and fine-tuned training from the
Backprop page on a local Ray cluster, with the checks tests/test_e2e.py makes on the local
workers (the live chart appears, updates, Stop); the time from Train to the first gradient bar
is written to test-artifacts/. (The local half of this comparison ran here too until the suite
had to fit 25 minutes: it repeated test_e2e.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the Ray tests need pip install 'bertviz-lite[ray]'")

from bertviz_lite.bench.browser import CHROMIUM_ARGS, AppServer, chromium_path, settle  # noqa: E402
from bertviz_lite.bench.raycluster import LOOPBACK_ENV  # noqa: E402
from tests.test_e2e import ARTIFACTS, no_exceptions, shot, watch_training  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.ray]


def _train_both_modes(browser, url: str, tag: str) -> dict:
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = ctx.new_page()
    try:
        page.goto(f"{url}/backprop?epochs=1&seed=7")
        settle(page)
        page.wait_for_timeout(4000)  # workers (or actors) warm up when the app opens
        frozen = watch_training(page, 120)
        settle(page)
        no_exceptions(page)
        assert frozen["first_bar_s"] is not None, f"{tag}: the gradient chart appeared"
        page.get_by_test_id("stButtonGroup").get_by_text("finetune", exact=True).click()
        settle(page)
        finetune = watch_training(page, 150, stop_after_steps=5)
        page.wait_for_timeout(1500)
        settle(page)
        no_exceptions(page)
        assert finetune["distinct_updates"] >= 3, finetune
        shot(page, f"ray-e2e-{tag}")
        return {"frozen": frozen, "finetune": finetune}
    finally:
        ctx.close()


def test_backprop_trains_on_ray_like_on_local_workers(ray_cluster, tmp_path):
    chromium = chromium_path()
    if not Path(chromium).exists():
        pytest.skip(f"Chromium not found at {chromium}")
    from playwright.sync_api import sync_playwright

    # the session's cluster (tests/conftest.py): its actors' home holds no features of the
    # bundled model (the other Ray tests train the tiny one), so the frozen run trains live
    # on Ray as it does on the local workers
    address = ray_cluster[0]
    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        env = {"BERTVIZ_HOME": str(tmp_path / "ray"), "BERTVIZ_BACKEND": "ray",
               "BERTVIZ_RAY_ADDRESS": address, "BERTVIZ_RAY_NUM_CPUS": "1", **LOOPBACK_ENV}
        with AppServer(env, log=tmp_path / "ray.log") as server:
            results["ray"] = _train_both_modes(browser, server.url, "ray")
        browser.close()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "e2e-ray-metrics.json").write_text(json.dumps(results, indent=2))
    print({b: r["frozen"]["first_bar_s"] for b, r in results.items()})

"""Browser helpers shared by the lesson's end-to-end tests (not a test module)."""

from __future__ import annotations

from bertviz_lite.bench.browser import settle


def rerun(pg, pause_ms: int = 300) -> None:
    """After a click: wait for the script run it starts, then for it to finish."""
    try:
        pg.wait_for_selector("[data-testid='stApp'][data-test-script-state='running']",
                             timeout=1500)
    except Exception:  # noqa: BLE001 - a fast run may have finished already
        pass
    settle(pg, pause_ms)


def predict_by_mouse(pg, step) -> None:
    """Answer a lesson step's prediction with the mouse: the head for "layers", 30% along a
    log-number track, the first choice, the groups in their order."""
    key = f".st-key-lesson_pred_{step.id}"
    kind = step.prediction.kind
    if kind == "layers":
        pg.locator(f"{key} button").filter(has_text="head").click()
        rerun(pg)
    elif kind == "log-number":
        track = pg.locator(f"{key} [role='group'] > div").first.bounding_box()
        pg.mouse.click(track["x"] + track["width"] * 0.3, track["y"] + track["height"] / 2)
    elif kind == "choice":
        pg.locator(f"{key} [role='radiogroup'] label").first.click()
    elif kind == "order":  # click the groups one after another
        n = pg.locator(f"{key} button").count() - 1  # the last one is Undo
        for k in range(n):
            pick = pg.locator(f".st-key-lesson_pred_{step.id}_pick_{k} button")
            pick.click()
            # until this pick is numbered: a second click while the first one's script run
            # was still starting was merged into it and lost (a loaded machine, 3 of 7 picks)
            pick.filter(has_text=f"{k + 1}. ").wait_for(timeout=30_000)
            settle(pg, 100)
    settle(pg, 300)

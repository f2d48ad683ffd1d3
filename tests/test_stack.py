"""The animated stack's data and HTML (pure functions), the stage's sizes from the screen,
and the progress estimate that covers training and evaluation. Milliseconds each; the
animation itself is measured in Chromium (tests/test_stage_e2e.py)."""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bertviz_lite.figures import stack as S
from bertviz_lite.figures.curves import eval_points, run_progress
from bertviz_lite.figures.theme import (
    DEFAULT_THEME,
    PRESENTER_DARK_THEME,
    PRESENTER_THEME,
    dark,
    mode_colour,
    presenter_theme,
)
from bertviz_lite.record.runs import RunRecord

RUNS = Path(__file__).resolve().parents[1] / "assets" / "runs"


def recorded(task: str = "sentiment") -> list[RunRecord]:
    names = [f"{task}-{m}" for m in ("finetune", "frozen", "top-2")]
    missing = [n for n in names if not (RUNS / f"{n}.json").exists()]
    if missing:
        pytest.skip(f"recorded runs missing from assets/runs: {missing}")
    return [RunRecord.load(RUNS / f"{n}.json") for n in names]


def test_panels_come_from_the_records_ordered_frozen_top_k_finetuned() -> None:
    runs = recorded()
    panels = S.recorded_panels(runs)
    assert [p["mode"] for p in panels] == ["frozen", "top-2", "finetune"]
    assert [p["title"] for p in panels] == ["Frozen", "Top-2", "Fine-tuned"]
    for p, r in zip(panels, sorted(runs, key=lambda r: ["frozen", "top-2", "finetune"]
                                   .index(r.mode))):
        assert p["groups"] == r.groups  # names and count from the model that was recorded
        assert p["frozen"] == r.frozen_groups
        assert len(p["norms"]) == len(r.steps) == len(p["steps"]) == len(p["seconds"])
        assert all(len(row) == len(r.groups) for row in p["norms"])
        # frozen groups carry exactly 0.0 (drawn as nothing), trainable ones a positive norm
        for row in p["norms"]:
            for g, v in zip(r.groups, row):
                assert (v == 0.0) if g in r.frozen_groups else (v is not None and v > 0)
        assert p["colour"] == mode_colour(r.mode, DEFAULT_THEME, 0)


def test_a_not_finite_norm_becomes_none_and_live_panels_keep_the_newest_steps() -> None:
    run = recorded()[0]
    run.steps[3].grad_norm = {**run.steps[3].grad_norm, "head": float("nan")}
    panel = S.stack_panel(run, source="live", max_steps=10)
    assert panel["steps"] == [s.step for s in run.steps[-10:]]
    full = S.stack_panel(run)
    assert full["norms"][3][run.groups.index("head")] is None
    json.dumps(S.stack_data([full]), allow_nan=False)  # strict JSON: no NaN reaches the page


def test_range_covers_every_positive_norm_in_whole_decades() -> None:
    panels = S.recorded_panels(recorded())
    lo, hi = S.stack_range(panels)
    values = [v for p in panels for row in p["norms"] for v in row if v]
    assert lo <= math.log10(min(values)) and hi >= math.log10(max(values))
    assert lo == int(lo) and hi == int(hi) and hi > lo
    assert S.stack_range([]) == (-4.0, 1.0)


def test_the_stack_in_words_says_where_the_gradient_stops() -> None:
    data = S.stack_data(S.recorded_panels(recorded()))
    words = S.stack_text(data)
    frozen, top2, tuned = words.split(". ")
    assert frozen.startswith("Frozen, step 90: head ")
    assert "stops at head, embeddings to layer.5 frozen" in frozen
    assert "stops at layer.4" in top2 and "layer.3 frozen" in top2
    assert "embeddings" in tuned and "frozen" not in tuned
    assert "nan" not in words.lower()


def test_html_is_self_contained_offline_and_escapes_user_text() -> None:
    evil = "</script><img src=x onerror=alert(1)>"
    runs = recorded()
    panels = S.recorded_panels(runs)
    panels[0]["title"] = evil
    page = S.stack_html(S.stack_data(panels, theme=dark(PRESENTER_THEME)))
    assert page.startswith("<!DOCTYPE html>") and "class BertvizStack" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # no CDN, no network
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert evil not in page and "</script><img" not in page
    payload = page[page.index("new BertvizStack("):]
    assert json.dumps(evil)[1:-1].replace("<", "\\u003c").replace(">", "\\u003e") in payload
    assert "<style>" in page and ".bvs-root" in page


def test_the_player_ships_in_the_package() -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"bertviz_lite.figures" = ["stack_player.js", "stack_player.css"]' in pyproject
    js = S.player_js()
    assert "requestAnimationFrame" in js and "import " not in js.split("*/", 1)[1]
    assert "bvs-root" in S.player_css()


@pytest.mark.parametrize(("size", "floor"), [((1280, 720), 18), ((1920, 1080), 24),
                                              ((3840, 2160), 48)])
def test_presenter_type_grows_with_the_screen(size: tuple[int, int], floor: int) -> None:
    th = presenter_theme(*size)
    assert min(th.tick_size, th.font_size, th.title_size) >= floor
    assert th.presenter and dark(th).dark and dark(th).tick_size == th.tick_size
    assert presenter_theme(800, 600).tick_size >= 18  # never below the 720p sizes


def test_progress_estimate_covers_evaluation_and_never_grows_while_evaluating() -> None:
    assert eval_points(90, 30, 1) == [30, 60, 90]
    assert eval_points(10, 4, 2) == [2, 4, 6, 8, 10]
    # step 30 of 90 done, 15 s of steps, 20 s since the first step: one evaluation is running
    during = [run_progress(30, 90, 20.0, 15.0, 0, 3, True, since) for since in (0, 1, 2, 4)]
    assert all(p["phase"] == "evaluating" for p in during)
    assert "evaluating on the validation set after step 30 / 90" in during[0]["text"]
    etas = [p["eta_seconds"] for p in during]
    assert etas == sorted(etas, reverse=True) and etas[0] > etas[-1]
    # the estimate counts the steps left and the evaluations left at their measured pace
    after = run_progress(31, 90, 26.0, 15.5, 1, 3, False, 0.0)
    per_step, per_eval = 15.5 / 31, (26.0 - 15.5) / 1
    assert after["eta_seconds"] == pytest.approx(per_step * 59 + per_eval * 2)
    assert after["text"].startswith("training: step 31 / 90") and "evaluation" in after["text"]
    assert 0 < after["fraction"] < 1
    assert run_progress(0, 90, 0.0, 0.0, 0, 3, False)["eta_seconds"] is None


def test_screen_reports_parse_and_fall_back() -> None:
    from bertviz_lite.ui.viewport import Screen, parse

    assert parse("1920x1080d") == Screen(1920, 1080, True, True)
    assert parse("1280x720l") == Screen(1280, 720, False, True)
    for bad in (None, "", "x", "0x720l", "axbl", "1280x720q"):
        assert parse(bad) == Screen()


def test_the_notebook_shows_the_same_stack() -> None:
    pytest.importorskip("IPython")
    import bertviz_lite as bv

    out = bv.stack(*recorded())
    html = out.data
    assert "class BertvizStack" in html and "new BertvizStack(" in html
    assert '"Frozen"' in html and '"Fine-tuned"' in html


def test_an_upload_says_what_was_read_before_train() -> None:
    from bertviz_lite.data.examples import PairExample, SentenceExample, TaskData, TokenExample

    data = TaskData("sentiment", [SentenceExample("good", 1), SentenceExample("bad", 0),
                                  SentenceExample("fine", 1)], [SentenceExample("ok", 1)],
                    ["negative", "positive"])
    assert data.read_summary() == ("Read 4 examples: 3 to train on, 1 held out for validation; "
                                   "classes in training: negative 1, positive 2.")
    sim = TaskData("similarity", [PairExample("a", "b", 1.0), PairExample("c", "d", 4.0)], [])
    assert "scores from 1 to 4 (mean 2.50)" in sim.read_summary()
    ner = TaskData("ner", [TokenExample(("Ada", "ran"), (1, 0))], [], ["O", "B-PER"])
    assert "word tags in training: B-PER 1, O 1" in ner.read_summary() or \
        "word tags in training: O 1, B-PER 1" in ner.read_summary()


def test_attribution_key_names_the_class_each_colour_pushes_towards() -> None:
    from bertviz_lite.figures import token_attribution_html

    two = token_attribution_html(["good"], [0.5], towards="'negative'", away="'positive'")
    assert "pushes towards &#x27;negative&#x27;" in two and "towards &#x27;positive&#x27;" in two
    many = token_attribution_html(["Ada"], [0.5], towards="'B-PER'")
    assert "away from it" in many


WALL_CLEARANCE = """() => {
  const root = document.querySelector('.bvs-root');
  const boxes = [...root.querySelectorAll('.bvs-panel rect[rx="6"]')].map(r => r.getBBox());
  const out = [];
  for (const w of root.querySelectorAll('.bvs-wall')) {
    const b = w.getBBox(), half = Number(w.getAttribute('stroke-width')) / 2;
    const top = b.y - half, bottom = b.y + b.height + half;
    for (const x of boxes) {
      const xTop = x.y - 0.75, xBottom = x.y + x.height + 0.75;  // the boxes' own strokes
      if (b.x < x.x + x.width && x.x < b.x + b.width)  // a box in the wall's column:
        out.push(Math.max(xTop - bottom, top - xBottom));  // its distance (< 0: overlap)
    }
  }
  return out; }"""


@contextlib.contextmanager
def stack_in_chromium(tmp_path: Path, size: tuple[int, int] = (1280, 720), *,
                      autoplay: bool = False, dark_room: bool = False) -> Iterator[Any]:
    """A Chromium browser and the recorded sentiment stacks' self-contained HTML page (in
    presenter type for `size`, the dark theme with `dark_room`), as a file: yields (browser,
    the page's file URI)."""
    from bertviz_lite.bench.browser import CHROMIUM_ARGS, chromium_path

    if not Path(chromium_path()).exists():
        pytest.skip(f"Chromium not found at {chromium_path()}")
    sync_api = pytest.importorskip("playwright.sync_api")
    th = presenter_theme(*size, base=PRESENTER_DARK_THEME if dark_room else PRESENTER_THEME)
    data = S.stack_data(S.recorded_panels(recorded(), th), theme=th, fit_screen=True,
                        autoplay=autoplay)
    page = tmp_path / "stack.html"
    page.write_text(S.stack_html(data), encoding="utf-8")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser, page.as_uri()
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (1024, 600)])
def test_the_wall_never_covers_a_box(size: tuple[int, int], tmp_path: Path) -> None:
    """The hatched wall sits in the gap between the lowest group that learns and the highest
    frozen one, clear of both boxes, on a projector's screen where the stack fits it."""
    with stack_in_chromium(tmp_path, size) as (browser, uri):
        pg = browser.new_page(viewport={"width": size[0], "height": size[1]})
        pg.goto(uri)
        pg.wait_for_selector(".bvs-wall")
        pg.wait_for_timeout(300)
        gaps = pg.evaluate(WALL_CLEARANCE)
    assert gaps and min(gaps) >= 1.0, gaps  # at least a pixel clear of every box


def test_panel_titles_use_the_registry_labels() -> None:
    assert [S.mode_title(m) for m in ("frozen", "finetune", "top-2", "lora", "bitfit",
                                      "adapters", "lp-ft", "gradual", "mystery")] == [
        "Frozen", "Fine-tuned", "Top-2", "LoRA", "BitFit", "Adapters", "LP-FT",
        "Gradual unfreezing", "Mystery"]


@pytest.mark.browser
def test_an_idle_stack_asks_for_no_frames_and_a_click_wakes_it(tmp_path: Path) -> None:
    """At rest the player requests no animation frames (a laptop's battery, eight tabs on
    one projector machine); a backward sweep animates again, then the stack rests again."""
    frames = "() => document.querySelector('.bvs-root').__bvs.stats().frames"
    with stack_in_chromium(tmp_path) as (browser, uri):
        pg = browser.new_page(viewport={"width": 1280, "height": 720})
        pg.goto(uri)
        pg.wait_for_selector(".bvs-wall")
        pg.wait_for_timeout(500)
        at_rest = pg.evaluate(frames)
        pg.wait_for_timeout(1000)
        still = pg.evaluate(frames)
        lit = pg.evaluate("() => [...document.querySelectorAll('.bvs-num')]"
                          ".map((e) => e.textContent)")
        pg.locator(".bvs-sweep").click()
        pg.wait_for_timeout(800)
        sweeping = pg.evaluate(frames)
    assert still == at_rest, (at_rest, still)  # no frame drawn for a second at rest
    assert sweeping > still + 10, (still, sweeping)  # the sweep animates
    assert any(t and t.strip() for t in lit)  # at rest the numbers are drawn all the same


@pytest.mark.browser
def test_reduced_motion_stops_autoplay_and_play_still_animates(tmp_path: Path) -> None:
    """Where the system asks for reduced motion, the recorded replay does not start by
    itself, the legend says how to animate, and Play still plays."""
    stats = "() => document.querySelector('.bvs-root').__bvs.stats()"
    seen = {}
    with stack_in_chromium(tmp_path, autoplay=True) as (browser, uri):
        for motion in ("no-preference", "reduce"):
            pg = browser.new_page(viewport={"width": 1280, "height": 720},
                                  reduced_motion=motion)
            pg.goto(uri)
            pg.wait_for_selector(".bvs-wall")
            pg.wait_for_timeout(400)
            seen[motion] = {"stats": pg.evaluate(stats),
                            "note": pg.locator(".bvs-note").inner_text()}
            if motion == "reduce":
                pg.locator(".bvs-play").click()
                pg.wait_for_timeout(400)
                seen["pressed"] = pg.evaluate(stats)
            pg.close()
    assert seen["no-preference"]["stats"]["playing"]
    assert "Motion is reduced" not in seen["no-preference"]["note"]
    assert not seen["reduce"]["stats"]["playing"] and seen["reduce"]["stats"]["cycles"] == 0
    assert "Motion is reduced" in seen["reduce"]["note"]
    assert seen["pressed"]["playing"] and seen["pressed"]["cycles"] >= 1


@pytest.mark.browser
def test_the_legend_names_the_colour_change_of_its_background(tmp_path: Path) -> None:
    """A larger gradient is drawn brighter on a dark background and deeper on a light one:
    the legend says which (a light stage said "Brighter" beside darker boxes)."""
    notes = {}
    for dark_room in (False, True):
        with stack_in_chromium(tmp_path, dark_room=dark_room) as (browser, uri):
            pg = browser.new_page(viewport={"width": 1280, "height": 720})
            pg.goto(uri)
            pg.wait_for_selector(".bvs-wall")
            notes[dark_room] = pg.locator(".bvs-note").inner_text()
    assert notes[False].startswith("Deeper colour: a larger weight gradient"), notes
    assert notes[True].startswith("Brighter: a larger weight gradient"), notes


LIVE_UPDATES = """async () => {
  const b = document.querySelector('.bvs-root').__bvs;
  const base = JSON.parse(JSON.stringify(b.data));
  const cut = (n) => {  // the first panel as a live run that has reached its n-th step
    const d = JSON.parse(JSON.stringify(base));
    d.live = true; d.autoplay = false;
    const p = d.panels[0];
    p.source = 'live';
    for (const k of ['steps', 'seconds', 'loss', 'norms']) p[k] = p[k].slice(0, n);
    return d;
  };
  const rest = () => new Promise((ok) => setTimeout(ok, 3500));
  b.update(cut(1)); await rest();
  const newest = cut(5);
  b.update(newest); await rest();
  const v = b.views[0];
  return {sub: v.sub.textContent, reads: v.p === newest.panels[0], idx: b.idx,
          shown: b.shown[0].idx};
}"""


@pytest.mark.browser
def test_a_live_panel_reads_each_new_update(tmp_path: Path) -> None:
    """The views drawn at the first update kept that update's panels: a live run's panel then
    said 'waiting' or 'done at step 1' under a run at step 5, and drew the old steps (the
    app's page moved often enough to redraw them, most of the time)."""
    with stack_in_chromium(tmp_path) as (browser, uri):
        pg = browser.new_page(viewport={"width": 1280, "height": 720})
        pg.goto(uri)
        pg.wait_for_selector(".bvs-wall")
        seen = pg.evaluate(LIVE_UPDATES)
    assert seen["reads"] and seen["idx"] == 4 and seen["shown"] == 4, seen
    assert seen["sub"].startswith("live · ") and "waiting" not in seen["sub"] \
        and "done at" not in seen["sub"], seen

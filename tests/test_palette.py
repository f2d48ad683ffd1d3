"""Colour accessibility of the figure themes: contrast (WCAG 2.x) and colour-blind safety.

Contrast uses WCAG 2.x relative luminance, (L1 + 0.05) / (L2 + 0.05): text and lines need
4.5:1 on the background (success criterion 1.4.3, AA) in the normal theme and 7:1 (1.4.6, AAA)
in presenter mode; filled bars that carry a pattern need 3:1 (1.4.11, non-text contrast).

Distinctness: every pair of colours that share a figure is simulated for full-severity
deuteranopia, protanopia and tritanopia (Machado, Oliveira & Fernandes 2009, as implemented by
colorspacious) and compared in CAM02-UCS (Luo, Cui & Li 2006), where one unit is about one
just-noticeable difference between large adjacent patches. Thin lines and small marks need
much more than that (Szafir 2018, "Modeling Color Difference for Visualization Design", IEEE
TVCG 24(1): the difference needed grows steeply as marks shrink), so we require
DELTA_E_MIN = 10 units, under normal vision and each simulation.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bertviz_lite.engine.modes import all_modes
from bertviz_lite.figures import theme as T
from bertviz_lite.figures.theme import DEFAULT_THEME, PRESENTER_THEME, Theme, mode_colour

colorspacious = pytest.importorskip("colorspacious")

DELTA_E_MIN = 10.0  # CAM02-UCS units; see the module docstring for the source
AA, AAA, NON_TEXT = 4.5, 7.0, 3.0
CVD = ("deuteranomaly", "protanomaly", "tritanomaly")  # at severity 100: the -opias
THEMES = {"normal": (DEFAULT_THEME, AA), "presenter": (PRESENTER_THEME, AAA),
          "dark": (T.DARK_THEME, AA), "presenter dark": (T.PRESENTER_DARK_THEME, AAA)}
# Colours drawn as text or lines (curves, arrows, outlines, hatch, labels).
INK = ("text", "frozen", "forward", "backward", "train_curve", "val_curve", "alert", "trainable")


def _rgb(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    return np.array([int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)])


def luminance(hex_colour: str) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""
    c = _rgb(hex_colour)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(lin @ np.array([0.2126, 0.7152, 0.0722]))


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio, 1 to 21."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def delta_e(a: str, b: str, cvd: str | None = None) -> float:
    """CAM02-UCS distance of two colours, as seen with `cvd` (None: normal vision)."""
    x, y = _rgb(a), _rgb(b)
    if cvd is not None:
        space = {"name": "sRGB1+CVD", "cvd_type": cvd, "severity": 100}
        x = np.clip(colorspacious.cspace_convert(x, space, "sRGB1"), 0, 1)
        y = np.clip(colorspacious.cspace_convert(y, space, "sRGB1"), 0, 1)
    return float(colorspacious.deltaE(x, y, input_space="sRGB1", uniform_space="CAM02-UCS"))


def worst_delta_e(a: str, b: str) -> float:
    return min(delta_e(a, b, c) for c in (None, *CVD))


def figure_sets(th: Theme) -> dict[str, tuple[str, ...]]:
    """Colours whose difference carries meaning in one figure, by figure. (The diagram's green
    forward arrow and blue trainable boxes differ by shape and label, not by colour.)"""
    modes = tuple(mode_colour(m, th, i) for i, m in
                  enumerate(("frozen", "finetune", "top-2", "top-4")))
    # Compare can show every registered mode at once (top-K twice: its two colours)
    spectrum = tuple(dict.fromkeys(mode_colour(m.spell(2 + 2 * i), th, i) for m in all_modes()
                                   for i in range(2 if m.takes_k else 1)))
    return {
        "gradient flow (trainable, frozen, its fill, alert)":
            (th.trainable, th.frozen, th.frozen_fill, th.alert),
        "compare: ours vs paper": (th.ours, th.paper),
        "each split (train, validation)": (th.train_curve, th.val_curve),
        "diagram: forward vs backward arrows": (th.forward, th.backward),
        "diagram: trainable vs frozen boxes": (th.trainable, th.frozen, th.frozen_fill),
        "each mode (frozen, finetune, top-K, top-K)": modes,
        "modes against text": (*modes, th.text),
        "every registered mode, and text": (*spectrum, th.text),
    }


def test_wcag_formula_matches_known_ratios():
    """The formula itself: black on white is 21:1, #767676 the lightest AA grey on white."""
    assert contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast("#767676", "#FFFFFF") == pytest.approx(4.54, abs=0.01)
    assert contrast("#777777", "#FFFFFF") < AA  # one step lighter fails


@pytest.mark.parametrize("name", THEMES)
def test_text_and_lines_contrast(name):
    th, need = THEMES[name]
    low = {f: round(contrast(getattr(th, f), th.background), 2) for f in INK
           if contrast(getattr(th, f), th.background) < need}
    every = {mode_colour(m.spell(2) if m.takes_k else m.spell(), th, i)
             for m in all_modes() for i in range(len(m.colours))}
    modes = {c: round(contrast(c, th.background), 2) for c in (*th.mode_palette, *every)
             if contrast(c, th.background) < need}
    assert not low and not modes, f"{name}: below {need}:1 on {th.background}: {low} {modes}"
    # the diagram writes on trainable boxes (white on the light themes' dark blue)
    assert contrast(th.on_trainable, th.trainable) >= need


@pytest.mark.parametrize("name", THEMES)
def test_patterned_fills_have_non_text_contrast(name):
    th, _ = THEMES[name]
    for colour in (th.paper, th.ours):
        assert contrast(colour, th.background) >= NON_TEXT, colour


@pytest.mark.parametrize("name", THEMES)
def test_palette_distinct_under_colour_blindness(name):
    th, _ = THEMES[name]
    bad = []
    for figure, colours in figure_sets(th).items():
        for a, b in itertools.combinations(colours, 2):
            d = worst_delta_e(a, b)
            if d < DELTA_E_MIN:
                bad.append(f"{figure}: {a} vs {b} ΔE {d:.1f}")
    assert not bad, bad


def test_simulation_can_fail():
    """The check has teeth: dark orange and vermillion, distinct to normal vision, merge for a
    deutan or protan (which is why they never carry two meanings in one figure)."""
    assert delta_e(T.ORANGE_AA, T.VERMILLION_AA) > DELTA_E_MIN
    assert delta_e(T.ORANGE_AA, T.VERMILLION_AA, "deuteranomaly") < DELTA_E_MIN / 2
    assert worst_delta_e(T.ORANGE_AA, T.BLUE) > 4 * DELTA_E_MIN


def test_no_figure_relies_on_colour_alone():
    """Frozen groups are empty rows behind a drawn wall, labelled; the paper's bars patterned and named; splits
    differ by dash as well as colour."""
    from bertviz_lite.figures import compare_bars, compare_curves, grad_flow_bars
    from bertviz_lite.record.runs import EvalRecord, RunRecord

    groups = ["embeddings", "layer.0", "layer.1", "head"]
    for th in (DEFAULT_THEME, PRESENTER_THEME):
        fig = grad_flow_bars(groups, {"head": 0.5}, groups[:-1], theme=th)
        # frozen rows are empty behind a drawn wall (a line, not a colour) and labelled
        assert [s for s in fig.layout.shapes if s.type == "line"]
        assert any("no gradient" in (a.text or "") for a in fig.layout.annotations)
        bars = compare_bars([{"mode": "frozen", "value": 0.8, "baseline": 0.5, "paper": 93.0,
                              "paper_matches": True, "paper_note": "the paper's frozen"}],
                            "accuracy", th, setup="bundled data", model="bundled")
        paper = [t for t in bars.data if "paper" in (t.name or "")]
        assert paper and paper[0].marker.pattern.shape
    evals = [EvalRecord(1, 1.0, s, "accuracy", 0.7, 0.5) for s in ("val", "train")]
    rec = RunRecord(config={"task": "sentiment", "mode": "frozen"}, groups=groups,
                    frozen_groups=groups[:-1], trainable_params=1, total_params=2,
                    device="cpu", evals=evals)
    dashes = {t.line.dash for t in compare_curves({"frozen": rec}).data if t.mode != "text"}
    assert len(dashes) >= 2

"""Downloads: a figure as one self-contained HTML file, a run's steps as a table (CSV)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go

from bertviz_lite.figures._steps import field
from bertviz_lite.figures.text import is_finite
from bertviz_lite.record.runs import RunRecord

if TYPE_CHECKING:  # pandas is imported when a table is asked for, not with the figures
    import pandas

STEP_COLUMNS = ("step", "epoch", "loss", "lr", "seconds")


def figure_html(fig: go.Figure) -> str:
    """A complete HTML page with plotly.js inlined: opens offline, loads nothing from a CDN.

    fig: any figure (animations keep their frames and buttons).
    """
    return fig.to_html(include_plotlyjs=True, include_mathjax=False, full_html=True,
                       config={"displaylogo": False, "responsive": True})


def _number(v: object) -> float:
    """A finite number, or NaN (what pandas writes as an empty CSV cell)."""
    return float(v) if is_finite(v) else float("nan")


def steps_table(record: RunRecord) -> pandas.DataFrame:
    """One row per recorded step: step, epoch, loss, lr, seconds, grad_norm/<g>, update_ratio/<g>.

    record: a RunRecord with G groups and S steps; returns an (S, 5 + 2G) DataFrame, NaN where
    a value was not measured (update ratios of large models every 50th step only) or diverged.
    """
    import pandas as pd

    columns = list(STEP_COLUMNS)
    columns += [f"grad_norm/{g}" for g in record.groups]
    columns += [f"update_ratio/{g}" for g in record.groups]
    rows = []
    for s in record.steps:
        grad = field(s, "grad_norm") or {}
        ratio = field(s, "update_ratio") or {}
        row = [field(s, "step"), field(s, "epoch")]
        row += [_number(field(s, k)) for k in ("loss", "lr", "seconds")]
        row += [_number(grad.get(g)) for g in record.groups]
        row += [_number(ratio.get(g)) for g in record.groups]
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)

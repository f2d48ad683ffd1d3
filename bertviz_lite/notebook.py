"""The notebook API: build a config, `train` it, draw any of the app's figures from the record.

    import bertviz_lite as bv
    rec = bv.train(bv.RunConfig(task="sentiment", mode="frozen", epochs=1))
    bv.flow(rec)            # gradient flow of the last step
    bv.replay(rec)          # one frame per step, press play

In a Jupyter kernel `train` shows a live gradient-flow chart that is updated in place after
each step (one output, through an IPython display handle) and a `tqdm.auto` progress bar; the
kernel's stop button (KeyboardInterrupt) ends the run and keeps the steps done (the record's
status is "stopped"). It runs the same `Trainer` as the CLI and the app: there is no second
training loop here. Plotly renders offline: `use_offline_plotly()` picks renderers that embed
plotly.js (never a CDN one). Nothing here imports streamlit.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from bertviz_lite.engine.config import RunConfig
from bertviz_lite.figures.theme import DEFAULT_THEME, Theme
from bertviz_lite.record.runs import EvalRecord, Progress, RunRecord, StepRecord

if TYPE_CHECKING:
    from bertviz_lite.engine.models import Backbone

log = logging.getLogger(__name__)

# Jupyter renderers that need no network: "plotly_mimetype" (JupyterLab, VS Code and nbconvert
# carry plotly.js themselves) and OFFLINE_HTML (plotly.js embedded once in the notebook's
# output, as plotly's "notebook" renderer does). Never "notebook_connected" or "cdn", which
# load plotly.js from a CDN and break offline.
OFFLINE_HTML = "bertviz_offline"
OFFLINE_RENDERERS = f"plotly_mimetype+{OFFLINE_HTML}"
X_RANGE = (-5.0, 2.0)  # log10 axis of the live chart, fixed so the bars do not jump


def in_notebook() -> bool:
    """True inside a Jupyter kernel (an IPython shell that has a kernel), not a plain REPL."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None  # type: ignore[attr-defined]
    return shell is not None and getattr(shell, "kernel", None) is not None


def use_offline_plotly() -> str:
    """Make plotly's default renderer one that embeds plotly.js (offline); returns its name.

    Google Colab draws each output in its own sandboxed frame and has its own renderer
    ("colab"); Colab is online by nature, so there we leave plotly's choice alone.
    """
    import plotly.io as pio

    if "google.colab" not in sys.modules:
        if OFFLINE_HTML not in pio.renderers:
            pio.renderers[OFFLINE_HTML] = _offline_notebook_renderer()
        pio.renderers.default = OFFLINE_RENDERERS
    return str(pio.renderers.default)


def _offline_notebook_renderer() -> Any:
    """Plotly's "notebook" renderer (plotly.js embedded when activated), except that each
    figure's HTML loads no MathJax from a CDN (plotly 7 always adds it; no figure here uses
    LaTeX)."""
    import plotly.io as pio
    from plotly.io.base_renderers import NotebookRenderer

    class OfflineNotebookRenderer(NotebookRenderer):  # type: ignore[misc]
        def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, str]:
            html = pio.to_html(fig_dict, config=self.config, auto_play=self.auto_play,
                               include_plotlyjs=self.include_plotlyjs, include_mathjax=False,
                               full_html=False, animation_opts=self.animation_opts,
                               default_width="100%", default_height=525, validate=False)
            return {"text/html": html}

    return OfflineNotebookRenderer(connected=False)


def modes() -> list[dict[str, Any]]:
    """Every mode a run can use (the registry's entries): name, how to spell it, label, what
    learns, whether frozen features are cached, what a checkpoint holds, its options.

        bv.train(task="sentiment", mode="lora", lora_rank=4, steps=20)
    """
    from bertviz_lite.engine.modes import all_modes

    return [{"name": m.name, "spelling": m.cli, "label": m.label, "what learns": m.summary,
             "caches features": m.cache_features, "checkpoint": m.checkpoint,
             "options": list(m.options), "source": m.citation} for m in all_modes()]


def config(**fields: Any) -> RunConfig:
    """A RunConfig from keyword fields (task, mode, epochs, steps, device, ...), validated:
    a wrong type, value or name is a ConfigError naming the argument."""
    return RunConfig.make(**fields)


@lru_cache(maxsize=2)
def _backbone(name: str) -> Backbone:
    """Pretrained weights loaded once per kernel (each run copies them, never modifies them)."""
    from bertviz_lite.engine.models import load_backbone

    return load_backbone(name)


class LiveFlow:
    """The live gradient-flow chart: one display output, updated in place after each step.

    min_interval: seconds between two redraws (frozen steps take milliseconds; a browser
    cannot draw that fast); the last step is always drawn. 0 draws every step.
    """

    def __init__(self, theme: Theme = DEFAULT_THEME, min_interval: float = 0.2) -> None:
        self.theme, self.min_interval = theme, min_interval
        self.handle: Any = None
        self.groups: list[str] = []
        self.frozen: list[str] = []
        self.updates = 0
        self._last = 0.0
        self._pending: StepRecord | None = None

    def ready(self, info: Mapping[str, Any]) -> None:
        """The model is built: draw the empty chart (every group, none lit yet)."""
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.display import display

        if not InteractiveShell.initialized():  # a plain script: display() would print
            log.info("live=True needs IPython (a notebook); training without the live chart")
            return
        self.groups = list(info.get("groups", []))
        self.frozen = list(info.get("frozen_groups", []))
        self.handle = display(_bundle(self.figure(None)), raw=True, display_id=True)

    def step(self, rec: StepRecord, force: bool = False) -> None:
        """Redraw with this step's norms (at most once per min_interval unless forced)."""
        if self.handle is None:
            return
        now = time.perf_counter()
        if not force and now - self._last < self.min_interval:
            self._pending = rec
            return
        self.handle.update(_bundle(self.figure(rec)), raw=True)
        self.updates += 1
        self._last, self._pending = now, None

    def flush(self) -> None:
        """Draw the newest step if the throttle held it back."""
        if self._pending is not None:
            self.step(self._pending, force=True)

    def figure(self, rec: StepRecord | None) -> go.Figure:
        """The app's gradient-flow bars for one step (None: before the first step)."""
        from bertviz_lite.figures.gradflow import grad_flow_bars

        return grad_flow_bars(self.groups, rec.grad_norm if rec else {}, self.frozen,
                              step=rec.step if rec else None, x_range=X_RANGE, theme=self.theme)


def _bundle(fig: go.Figure) -> dict[str, Any]:
    """The figure as a display mimebundle with the current (offline) renderers. A plotly
    Figure passed to display() shows itself and ignores display_id, so it could not be
    updated in place; its bundle can."""
    return dict(fig._repr_mimebundle_())


def train(cfg: RunConfig | None = None, *, live: bool | None = None, progress: bool = True,
          theme: Theme = DEFAULT_THEME, min_interval: float = 0.2, **fields: Any) -> RunRecord:
    """Train one run and return its RunRecord (the same record the CLI and the app write).

    cfg: a RunConfig, or None to build one from `fields` (task=, mode= (any of `modes()`:
      frozen, finetune, top-2, bitfit, lora, adapters, lp-ft, gradual; lora_rank=,
      lora_alpha=, lora_dropout=, lora_targets=, adapter_size=, lp_fraction= are their
      options), steps=, device=,
      head="linear" | "scalar-mix" | "task-model" (frozen only; see config.head_title)...);
    live: draw the live gradient-flow chart (default: when running in a Jupyter kernel);
    progress: show a tqdm.auto progress bar of the steps. KeyboardInterrupt (the kernel's stop
    button) ends the run after the steps done: the returned record has status "stopped".
    """
    from bertviz_lite.engine.config import ConfigError
    from bertviz_lite.engine.training import Trainer

    if cfg is not None and not isinstance(cfg, RunConfig):
        raise ConfigError(f"train() takes a RunConfig (from bv.config(...)) or keyword "
                          f"settings, not a {type(cfg).__name__}: {cfg!r:.40}")
    for name, value in (("live", live), ("progress", progress)):
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"{name} must be True or False; got {value!r:.40}")
    cfg = cfg.replace(**fields) if cfg is not None and fields else cfg or RunConfig.make(**fields)
    live = in_notebook() if live is None else live
    if live:
        use_offline_plotly()
    trainer = Trainer(cfg, backbone=_backbone(cfg.model))
    view = LiveFlow(theme, min_interval) if live else None
    bar = _Bar(progress)
    try:
        return _consume(trainer, view, bar)
    except KeyboardInterrupt:
        return _stopped(trainer)
    finally:
        bar.close()
        if view is not None:
            view.flush()


def _consume(trainer: Any, view: LiveFlow | None, bar: _Bar) -> RunRecord:
    """Drive `trainer.events()`: live chart and progress bar per event; returns the record."""
    from bertviz_lite.engine.events import drain

    def on_event(event: Any) -> None:
        if isinstance(event, Progress):
            if event.phase == "ready" and view is not None:
                view.ready(event.info)
            elif event.phase == "train":
                bar.start(event.total)
        elif isinstance(event, StepRecord):
            bar.step(event)
            if view is not None:
                view.step(event)
        elif isinstance(event, EvalRecord) and event.split == "val":
            bar.note(event)

    return drain(trainer.events(), on_event)


def _stopped(trainer: Any) -> RunRecord:
    """The record of a run interrupted by KeyboardInterrupt: the steps done, status stopped.

    The interrupt may land inside the engine's generator (which then closes), so the record
    is finished here from the trainer's state, the same way the engine finishes a stopped run.
    """
    from bertviz_lite.engine.cost import PeakRSS

    if getattr(trainer, "record", None) is None:
        raise KeyboardInterrupt  # interrupted while loading: nothing was done to keep
    trainer.status = "stopped"
    trainer.reason = (f"Stopped by the user (KeyboardInterrupt) after step {trainer.step}."
                      if trainer.step else "Stopped by the user before the first step.")
    rss = PeakRSS()
    rss.sample()
    log.info("run stopped after %d steps", trainer.step)
    return trainer.finish(rss)


class _Bar:
    """A tqdm.auto bar over the training steps (a widget in Jupyter, text elsewhere)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.postfix: dict[str, str] = {}

    def start(self, total: int) -> None:
        if self.enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="step", desc="training")

    def step(self, rec: StepRecord) -> None:
        if self.bar is not None:
            self.postfix["loss"] = f"{rec.loss:.3f}"
            self.bar.set_postfix(self.postfix, refresh=False)
            self.bar.update(1)

    def note(self, ev: EvalRecord) -> None:
        if self.bar is not None:
            self.postfix[f"val {ev.metric}"] = f"{ev.value:.3f}"
            self.bar.set_postfix(self.postfix)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def compare(records: Iterable[RunRecord] | Mapping[str, RunRecord]) -> Any:
    """A Comparison of runs (mode -> record): rows, cost ratio; draw it with `compare_figures`."""
    from bertviz_lite.experiments.compare import Comparison
    from bertviz_lite.figures.records import need_record

    if isinstance(records, (str, bytes)) or not isinstance(records, (Mapping, Iterable)):
        raise TypeError(f"compare() takes a list of RunRecords or a dict label -> RunRecord, "
                        f"not {type(records).__name__}")
    if isinstance(records, Mapping):
        recs = {str(k): need_record(r, "compare") for k, r in records.items()}
    else:
        recs = {}
        for r in records:
            mode = need_record(r, "compare").mode
            if mode in recs:  # it silently kept the last of two runs of one mode
                raise ValueError(f"compare() got two {mode!r} runs; name them with a dict, "
                                 "e.g. bv.compare({'frozen seed 0': a, 'frozen seed 1': b})")
            recs[mode] = r
    if len(recs) < 2:
        raise ValueError(f"compare() needs at least two runs; got {len(recs)}")
    return Comparison(recs)


def compare_figures(comparison: Any, theme: Theme = DEFAULT_THEME) -> dict[str, go.Figure]:
    """The Compare page's figures of a Comparison: "scores" (ours beside the paper's numbers,
    labelled as the paper's), "cost" and "curves" (train vs validation per mode)."""
    from bertviz_lite.figures.records import comparison_figures

    return comparison_figures(comparison.rows(), comparison.records, theme)


def stack(*records: RunRecord, theme: Theme = DEFAULT_THEME) -> Any:
    """The animated stack of recorded runs side by side (frozen, top-k, fine-tuned on one
    step clock), the app's signature view, as a notebook output: `bv.stack(frozen, tuned)`.

    Returns an IPython HTML object (the player's script and data inline, nothing loaded from
    a network); `bertviz_lite.figures.stack.stack_html` writes the same view as a file.
    """
    from IPython.display import HTML

    from bertviz_lite.figures.stack import recorded_panels, stack_data, stack_fragment

    data = stack_data(recorded_panels(list(records), theme), theme=theme)
    return HTML(stack_fragment(data, element_id=f"bvs-{id(data):x}"))

"""True answers, computed from recorded artefacts (never typed into a lesson file).

Each computation takes the loaded artefacts of a step and returns an `Answer`: the value the
prediction is compared with, the options a widget offers (read from the artefact: the model's
own group names, the tasks that were measured), a `how` sentence saying what was computed
from which file, and `detail` fields for the explanation templates.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bertviz_lite.record.paper import frozen_head_words
from bertviz_lite.record.repro_result import ReproduceResult
from bertviz_lite.record.runs import RunRecord


@dataclass(frozen=True)
class Answer:
    """value: list of groups (layers, order), a number (log-number) or an option (choice)."""

    value: Any
    options: tuple[str, ...] = ()
    how: str = ""
    detail: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # option -> words on the widget


@dataclass(frozen=True)
class Compute:
    """A named computation: the prediction kind it answers and the artefacts it reads."""

    kind: str
    n_artefacts: int
    example: str  # an artefact reference, for error messages
    fields: frozenset[str]  # detail placeholders it provides
    fn: Callable[[Sequence[Any]], Answer]
    extra_runs: int = 0  # further run artefacts it accepts (setup facts and figures, not the answer)


def _record(obj: Any, what: str) -> RunRecord:
    if not isinstance(obj, RunRecord):
        raise ValueError(f"{what} must be a recorded run (runs/<task>-<mode>)")
    return obj


def _reproduce(obj: Any) -> ReproduceResult:
    if not isinstance(obj, ReproduceResult):
        raise ValueError("this computation needs runs/reproduce (bertviz-lite reproduce)")
    return obj


def _with_gradient(rec: RunRecord, key: str) -> list[str]:
    """Groups with a non-zero `key` ("grad_norm" or "update_ratio") at any step."""
    got = {g for s in rec.steps for g, v in getattr(s, key).items()
           if v is not None and math.isfinite(v) and v > 0}
    return [g for g in rec.groups if g in got]


def _layers_answer(rec: RunRecord, key: str, what: str) -> Answer:
    if not rec.steps:
        raise ValueError("the run has no recorded steps")
    got = _with_gradient(rec, key)
    stop = got[0] if got else "the loss"
    return Answer(got, tuple(rec.groups),
                  f"{what} at any of the {len(rec.steps)} recorded steps of this run "
                  f"({rec.task}, {rec.mode}, {rec.model.get('name', '?')} model, "
                  f"{rec.model.get('layers', '?')} layers)",
                  {"stop": stop, "frozen": ", ".join(rec.frozen_groups) or "none",
                   "steps": str(len(rec.steps)), "task": rec.task, "mode": rec.mode})


def grad_groups(arts: Sequence[Any]) -> Answer:
    """Groups whose gradient norm was non-zero at some step."""
    return _layers_answer(_record(arts[0], "the artefact"), "grad_norm",
                          "Groups with a non-zero gradient norm")


def updated_groups(arts: Sequence[Any]) -> Answer:
    """Groups whose weights changed (update ratio > 0) at some step."""
    return _layers_answer(_record(arts[0], "the artefact"), "update_ratio",
                          "Groups whose weights changed (‖Δw‖/‖w‖ > 0)")


def weight_fraction(arts: Sequence[Any]) -> Answer:
    """Total weights / trainable weights: "1 in N weights learns"."""
    rec = _record(arts[0], "the artefact")
    if rec.trainable_params <= 0:
        raise ValueError("the run records no trainable parameters")
    n = rec.total_params / rec.trainable_params
    return Answer(n, how=f"total_params / trainable_params of {rec.task}-{rec.mode}: "
                  f"{rec.total_params:,} / {rec.trainable_params:,}",
                  detail={"trainable": f"{rec.trainable_params:,}",
                          "total": f"{rec.total_params:,}", "mode": rec.mode})


def wall_ratio(arts: Sequence[Any]) -> Answer:
    """Wall time of the first run / wall time of the second."""
    a, b = (_record(x, f"artefact {i + 1}") for i, x in enumerate(arts))
    ta, tb = a.cost.get("wall_seconds"), b.cost.get("wall_seconds")
    if not ta or not tb:
        raise ValueError("both runs need cost.wall_seconds")
    return Answer(ta / tb, how=f"wall time of {a.task}-{a.label} ({ta:.1f} s) / "
                  f"{b.task}-{b.label} ({tb:.1f} s), measured on {a.device}",
                  detail={"slow": a.label, "fast": b.label, "slow_s": f"{ta:.1f}",
                          "fast_s": f"{tb:.1f}", "device": a.device})


def _gain(arts: Sequence[Any], key: str, whose: str) -> Answer:
    res = _reproduce(arts[0])
    rows = [r for r in res.rows if r.get(key) is not None]
    if not rows:
        raise ValueError(f"no row of the reproduce result has {key}")
    best = max(rows, key=lambda r: float(r[key]))
    labels = {r["task"]: f"{r['task']} ({r.get('dataset', '')})" for r in rows}
    gains = ", ".join(f"{r['task']} {float(r[key]):+.1f}" for r in rows)
    return Answer(best["task"], tuple(labels), f"{whose} fine-tuned minus frozen, per task: "
                  f"{gains} (points, {best.get('metric', 'metric')} etc.)",
                  {"gain": f"{float(best[key]):.1f}", "dataset": str(best.get("dataset", "")),
                   "gains": gains}, labels)


def largest_gain(arts: Sequence[Any]) -> Answer:
    """The task where our fine-tuned model beats our frozen one by most (reproduce.json)."""
    return _gain(arts, "ours_gap", "Ours (bundled MiniLM, real data):")


def paper_largest_gain(arts: Sequence[Any]) -> Answer:
    """The task where the paper's fine-tuned BERT beats its frozen one by most."""
    return _gain(arts, "paper_gap", "The paper's (BERT-base):")


def _train_val_gap(rec: RunRecord) -> float:
    """Last train-split evaluation minus last validation evaluation (metric units)."""
    train, val = rec.eval_curve("train"), rec.eval_curve("val")
    if not train or not val:
        raise ValueError(f"{rec.task}-{rec.label} has no train and val evaluations")
    return float(train[-1].value) - float(val[-1].value)


def most_overfit(arts: Sequence[Any]) -> Answer:
    """The run (by mode) with the larger final train-minus-validation gap."""
    recs = [_record(x, f"artefact {i + 1}") for i, x in enumerate(arts)]
    gaps = {r.label: _train_val_gap(r) for r in recs}
    best = max(gaps, key=lambda k: gaps[k])
    listed = ", ".join(f"{k} {v:+.3f}" for k, v in gaps.items())
    n = recs[0].data.get("train", "?")
    return Answer(best, tuple(gaps), f"final train minus validation {recs[0].final.get('metric')}"
                  f" on {n} training examples ({recs[0].task}): {listed}",
                  {"gap": f"{gaps[best]:.3f}", "gaps": listed, "examples": str(n)})


TIE = "tie"


def sweep_winner(arts: Sequence[Any]) -> Answer:
    """At the smallest training-set size of a sweep, the mode with the higher median over seeds
    (the README table's statistic), or "tie" when the medians differ by no more than the
    seeds' spread (the larger max - min of the two modes): one mode wins only beyond it."""
    from bertviz_lite.lesson.artefacts import Sweep

    sw = arts[0]
    if not isinstance(sw, Sweep):
        raise ValueError("this computation needs a learning-curve sweep (sweeps/<name>)")
    size = sw.sizes()[0]
    vals = {m: v for m in sw.modes() if (v := sw.values(m, size))}
    if not vals:
        raise ValueError(f"no finite values at {size} examples")
    med = {m: statistics.median(v) for m, v in vals.items()}
    ranked = sorted(med, key=lambda m: -med[m])
    spread = max(max(v) - min(v) for v in vals.values())
    margin = med[ranked[0]] - med[ranked[1]] if len(ranked) > 1 else math.inf
    best = ranked[0] if margin > spread else TIE
    seeds = max(len(v) for v in vals.values())
    listed = ", ".join(f"{m} {med[m]:.3f} (seeds {min(v):.3f}-{max(v):.3f})"
                       for m, v in vals.items())
    labels = {TIE: "neither: a tie within the seeds' spread"}
    return Answer(best, (*vals, TIE), f"median {sw.metric} over {seeds} seeds at {size} "
                  f"training examples: {listed}; medians {margin:.3f} apart, seed spread "
                  f"{spread:.3f}", {"size": str(size), "seeds": str(seeds), "means": listed,
                                    "medians": listed, "margin": f"{margin:.3f}",
                                    "spread": f"{spread:.3f}"}, labels)


def _order_answer(change: dict[str, float], groups: Sequence[str], how: str) -> Answer:
    order = sorted(groups, key=lambda g: -change[g])
    return Answer(order, tuple(groups), how,
                  {"most": order[0], "least": order[-1],
                   "values": ", ".join(f"{g} {change[g]:.3g}" for g in order)})


def change_order(arts: Sequence[Any]) -> Answer:
    """Layer groups ordered by their net relative weight change ‖W_t − W_0‖/‖W_0‖ (an inside-BERT
    analysis; a run artefact after it only supplies setup facts and figures)."""
    from bertviz_lite.lesson.artefacts import Changes

    ch = arts[0]
    if not isinstance(ch, Changes):
        raise ValueError("this computation needs an inside-BERT analysis (changes/<name>)")
    groups = [g for g in ch.groups if g in ch.change]
    return _order_answer(ch.change, groups, f"{ch.measure or 'change'} per group, largest first")


def _mode_rows(obj: Any, needs: str, ref: str) -> list[dict[str, Any]]:
    """The rows of a ModeTable's task that recorded `needs` (ValueError when none did)."""
    from bertviz_lite.lesson.artefacts import as_mode_table

    rows = as_mode_table(obj, ref).rows_with(needs)
    if not rows:
        raise ValueError(f"no row of {ref} has {needs}")
    return rows


def step_ratio(arts: Sequence[Any]) -> Answer:
    """Fine-tuning's time per training step / LoRA's (runs/modes: the same task, data, batch
    and machine for every mode); the trainable weights of both beside it."""
    rows = {r["mode"]: r for r in _mode_rows(arts[0], "step_s", "runs/modes")}
    if "finetune" not in rows or "lora" not in rows:
        raise ValueError("runs/modes needs a finetune and a lora row")
    ft, lora = rows["finetune"], rows["lora"]
    ratio = ft["step_s"] / lora["step_s"]
    weights = ft["trainable"] / lora["trainable"] if lora.get("trainable") else math.nan
    setup, where = arts[0].setup, arts[0].machine
    return Answer(ratio, how=f"time per step of fine-tuned / LoRA on {ft.get('task', '?')}: "
                  f"{ft['step_s'] * 1000:.0f} ms / {lora['step_s'] * 1000:.0f} ms "
                  f"(batch {setup.get('batch_size', '?')}, {where})",
                  detail={"ft_ms": f"{ft['step_s'] * 1000:.0f}",
                          "lora_ms": f"{lora['step_s'] * 1000:.0f}",
                          "ft_trainable": f"{ft['trainable']:,}",
                          "lora_trainable": f"{lora['trainable']:,}",
                          "weight_ratio": f"{weights:,.0f}", "device": where,
                          "ft_state_mb": _mb(ft.get("optimizer_mb")),
                          "lora_state_mb": _mb(lora.get("optimizer_mb")),
                          "ft_checkpoint_mb": _mb(ft.get("checkpoint_mb")),
                          "lora_checkpoint_mb": _mb(lora.get("checkpoint_mb"))})


def _mb(v: Any) -> str:
    """Megabytes in words: 172 MB, 0.57 MB; "?" where nothing was measured."""
    if not isinstance(v, (int, float)) or not math.isfinite(v):
        return "? MB"
    return f"{v:.0f} MB" if v >= 10 else f"{v:.2g} MB"


def least_forgetting(arts: Sequence[Any]) -> Answer:
    """Of the modes that train BERT's own weights or weights inside it (every mode but
    frozen, which forgets nothing by construction), the one whose pretrained skill dropped
    least (runs/forgetting-modes: Pearson r on a similarity probe before and after)."""
    from bertviz_lite.lesson.artefacts import ModeTable

    label = ModeTable.label
    rows = [r for r in _mode_rows(arts[0], "drop", "runs/forgetting-modes")
            if r["mode"] != "frozen"]
    if len(rows) < 2:
        raise ValueError("runs/forgetting-modes needs two modes besides frozen")
    best = min(rows, key=lambda r: r["drop"])
    worst = max(rows, key=lambda r: r["drop"])
    setup = arts[0].setup
    listed = ", ".join(f"{label(r)} {r['drop']:.4f}" for r in sorted(rows, key=lambda r: r["drop"]))
    labels = {r["mode"]: label(r) for r in rows}
    return Answer(best["mode"], tuple(labels), f"drop of Pearson r on {setup.get('skill', '?')} "
                  f"after training on {setup.get('task', '?')}, smallest first: {listed}",
                  {"drop": f"{best['drop']:.4f}", "drops": listed, "worst": label(worst),
                   "worst_drop": f"{worst['drop']:.4f}", "skill": str(setup.get("skill", "?")),
                   "before": f"{float(setup.get('pearson_pretrained', math.nan)):.3f}"}, labels)


_LAYERS = frozenset({"stop", "frozen", "steps", "task", "mode"})
COMPUTE: dict[str, Compute] = {
    "grad_groups": Compute("layers", 1, "runs/sentiment-frozen", _LAYERS, grad_groups),
    "updated_groups": Compute("layers", 1, "runs/sentiment-frozen", _LAYERS, updated_groups),
    "weight_fraction": Compute("log-number", 1, "runs/sentiment-frozen",
                               frozenset({"trainable", "total", "mode"}), weight_fraction),
    "wall_ratio": Compute("log-number", 2, "runs/sentiment-finetune",
                          frozenset({"slow", "fast", "slow_s", "fast_s", "device"}), wall_ratio),
    "largest_gain": Compute("choice", 1, "runs/reproduce",
                            frozenset({"gain", "dataset", "gains"}), largest_gain),
    "paper_largest_gain": Compute("choice", 1, "runs/reproduce",
                                  frozenset({"gain", "dataset", "gains"}), paper_largest_gain),
    "most_overfit": Compute("choice", 2, "runs/sentiment-frozen",
                            frozenset({"gap", "gaps", "examples"}), most_overfit),
    "sweep_winner": Compute("choice", 1, "sweeps/sentiment",
                            frozenset({"size", "seeds", "means", "medians", "margin", "spread"}),
                            sweep_winner),
    "step_ratio": Compute("log-number", 1, "runs/modes",
                          frozenset({"ft_ms", "lora_ms", "ft_trainable", "lora_trainable",
                                     "weight_ratio", "device", "ft_state_mb", "lora_state_mb",
                                     "ft_checkpoint_mb", "lora_checkpoint_mb"}),
                          step_ratio, extra_runs=1),
    "least_forgetting": Compute("choice", 1, "runs/forgetting-modes",
                                frozenset({"drop", "drops", "worst", "worst_drop", "skill",
                                           "before"}), least_forgetting),
    "change_order": Compute("order", 1, "changes/sentiment-finetune",
                            frozenset({"most", "least", "values"}), change_order, extra_runs=1),
}


FACT_NAMES = frozenset({"task", "mode", "model", "layers", "train_examples", "epochs", "lr",
                        "head_lr", "total_params", "trainable_params", "seed", "lr_ratio",
                        "frozen_head"})


def facts(arts: Sequence[Any]) -> dict[str, str]:
    """Setup facts a step's text may quote ({layers}, {train_examples}, ...), read from the
    first artefact that has them: the model and data in use, never typed into the lesson."""
    for a in arts:
        if isinstance(a, RunRecord):
            c = a.config
            lr, head_lr = float(c.get("lr", 0) or 0), float(c.get("head_lr", 0) or 0)
            return {"task": a.task, "mode": a.mode, "model": str(a.model.get("name", "?")),
                    "layers": str(a.model.get("layers", "?")),
                    "train_examples": f"{a.data.get('train', '?'):,}", "epochs": str(c.get(
                        "epochs", "?")), "lr": f"{lr:g}", "head_lr": f"{head_lr:g}",
                    "total_params": f"{a.total_params:,}",
                    "trainable_params": f"{a.trainable_params:,}", "seed": str(c.get("seed")),
                    "lr_ratio": f"{head_lr / lr:.0f}" if lr else "?",
                    "frozen_head": frozen_head_words(str(c.get("head", "linear")), a.task)}
        if isinstance(a, ReproduceResult):
            s = a.setup
            head = str(s.get("frozen_head", "linear"))
            return {"model": str(s.get("model", "?")), "layers": str(s.get("layers", "?")),
                    "train_examples": f"{s.get('max_train', '?'):,}",
                    "epochs": str(s.get("epochs", "?")), "seed": str(s.get("seed", "?")),
                    "frozen_head": frozen_head_words(head)}
    return {}


KIND_FIELDS: dict[str, frozenset[str]] = {
    "layers": frozenset({"prediction", "answer", "missed", "extra"}),
    "log-number": frozenset({"prediction", "answer", "factor", "direction", "tolerance"}),
    "choice": frozenset({"prediction", "answer"}),
    "order": frozenset({"prediction", "answer", "predicted_most", "rho"}),
    "none": frozenset(),
}


def placeholders(spec: Compute) -> set[str]:
    """Names an explanation template may use for steps answered by `spec`."""
    return {"score", *KIND_FIELDS[spec.kind], *spec.fields}

"""What a learning-curve sweep shows, computed from its JSON: medians over seeds, where the
modes' medians cross, the seed spread, the cost, the ETA of what is left, and the results
table of docs/results.md.

Pure Python (no torch): the figures and the app import it.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

Point = tuple[str, int, int]  # (mode, size, seed)
MODE_NAMES = {"frozen": "frozen", "finetune": "fine-tuned"}


def point_key(p: Point | Mapping[str, Any]) -> Point:
    """(mode, size, seed) of a planned point or of a point dict."""
    if isinstance(p, Mapping):
        return (str(p["mode"]), int(p["size"]), int(p["seed"]))
    return (str(p[0]), int(p[1]), int(p[2]))


def mode_name(mode: str) -> str:
    """A mode for people: frozen, fine-tuned, top-2."""
    return MODE_NAMES.get(mode, mode)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and v == v and abs(v) != float("inf")


def values_at(points: Sequence[Mapping[str, Any]], mode: str, size: int, field: str = "value"
              ) -> list[float]:
    """`field` of every seed's point of (mode, size) that has a number."""
    return [float(p[field]) for p in points if p["mode"] == mode and p["size"] == size
            and _finite(p.get(field))]


def medians(points: Sequence[Mapping[str, Any]], mode: str, field: str = "value"
            ) -> dict[int, float]:
    """size -> median over seeds of `field` for one mode (sizes with no value left out)."""
    sizes = sorted({int(p["size"]) for p in points if p["mode"] == mode})
    out = {}
    for s in sizes:
        vals = values_at(points, mode, s, field)
        if vals:
            out[s] = statistics.median(vals)
    return out


def modes_of(points: Sequence[Mapping[str, Any]]) -> list[str]:
    """Modes in first-seen order."""
    return list(dict.fromkeys(str(p["mode"]) for p in points))


def crossings(points: Sequence[Mapping[str, Any]], a: str, b: str) -> list[dict[str, Any]]:
    """Where the median of mode `b` passes mode `a` (or back), between consecutive sizes.

    Returns [{"leader": b or a, "behind": ..., "after": s1, "at": s2}]: `leader` is ahead at
    size s2 and was level or behind at s1. Only sizes where both modes have a median count.
    """
    ma, mb = medians(points, a), medians(points, b)
    sizes = sorted(set(ma) & set(mb))
    out = []
    for s1, s2 in zip(sizes, sizes[1:]):
        d1, d2 = mb[s1] - ma[s1], mb[s2] - ma[s2]
        if d1 <= 0 < d2:
            out.append({"leader": b, "behind": a, "after": s1, "at": s2})
        elif d2 < 0 <= d1:
            out.append({"leader": a, "behind": b, "after": s1, "at": s2})
    return out


def overtake_size(points: Sequence[Mapping[str, Any]], a: str = "frozen", b: str = "finetune"
                  ) -> int | None:
    """The smallest size from which `b`'s median stays above `a`'s to the largest size, or
    None when `b` is not ahead at the largest size."""
    ma, mb = medians(points, a), medians(points, b)
    sizes = sorted(set(ma) & set(mb))
    found = None
    for s in reversed(sizes):
        if mb[s] > ma[s]:
            found = s
        else:
            break
    return found


def crossing_text(points: Sequence[Mapping[str, Any]]) -> list[str]:
    """One sentence per crossing of any two modes' medians (what the figure says)."""
    modes = modes_of(points)
    lines = []
    for i, a in enumerate(modes):
        for b in modes[i + 1:]:
            for c in crossings(points, a, b):
                lines.append(f"{mode_name(c['leader'])} overtakes {mode_name(c['behind'])} "
                             f"between {c['after']} and {c['at']} examples")
    return lines


def spread(points: Sequence[Mapping[str, Any]], mode: str, size: int) -> dict[str, Any]:
    """Seed spread of one (mode, size): min, median, max, max - min, how many seeds."""
    vals = values_at(points, mode, size)
    if not vals:
        return {"n": 0, "min": None, "median": None, "max": None, "range": None}
    return {"n": len(vals), "min": min(vals), "median": statistics.median(vals),
            "max": max(vals), "range": max(vals) - min(vals)}


def _cost_model(done: Sequence[Mapping[str, Any]], mode: str) -> tuple[float, float] | None:
    """(fixed seconds, seconds per example) of one mode from its trained points: a straight
    line through the timed points (two sizes or more), else proportional to the size."""
    pts = [(int(p["size"]), float(p["wall_seconds"])) for p in done
           if p["mode"] == mode and not p.get("cached") and _finite(p.get("wall_seconds"))]
    if not pts:
        return None
    if len({n for n, _ in pts}) < 2:
        return 0.0, statistics.median(t / max(1, n) for n, t in pts)
    slope, fixed = statistics.linear_regression([n for n, _ in pts], [t for _, t in pts])
    if slope <= 0:  # noisy timings: fall back to the mean rate
        return 0.0, sum(t for _, t in pts) / sum(max(1, n) for n, _ in pts)
    return max(0.0, fixed), slope


def eta_seconds(done: Sequence[Mapping[str, Any]], left: Sequence[Point]) -> float | None:
    """Expected seconds for the points `left`, from the trained (not cached) points so far:
    per mode, fixed cost + seconds per example x size (None before anything was timed)."""
    if not left:
        return 0.0
    models = {m: _cost_model(done, m) for m in {p[0] for p in left}}
    known = [c for c in models.values() if c is not None]
    if not known:
        return None
    fallback = (statistics.median(c[0] for c in known), statistics.median(c[1] for c in known))
    total = 0.0
    for mode, size, _ in left:
        fixed, rate = models[mode] or fallback
        total += fixed + rate * size
    return total


def sweep_cost(sweep: Mapping[str, Any]) -> dict[str, float]:
    """Seconds of the whole sweep (as run, cache hits included at their original cost)."""
    pts = sweep.get("points", [])
    by_mode: dict[str, float] = {}
    for p in pts:
        if _finite(p.get("wall_seconds")):
            by_mode[p["mode"]] = by_mode.get(p["mode"], 0.0) + float(p["wall_seconds"])
    cpu = [float(p["cpu_seconds"]) for p in pts if _finite(p.get("cpu_seconds"))]
    return {"elapsed_s": float(sweep.get("elapsed_seconds", 0.0)),
            "points_s": sum(by_mode.values()), "cpu_s": sum(cpu), "cpu_runs": len(cpu),
            **{f"{m}_s": v for m, v in by_mode.items()}}


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}" if _finite(v) else "-"


def _spread_cell(s: Mapping[str, Any]) -> str:
    if not s["n"]:
        return "-"
    return f"{_pct(s['median'])} ({_pct(s['min'])} to {_pct(s['max'])})"


def summary_row(name: str, sweep: Mapping[str, Any]) -> dict[str, str]:
    """One results-table row of a sweep: setup, crossing, spreads at the smallest and largest size."""
    st, pts = sweep["setup"], sweep["points"]
    sizes = [s for s in st["sizes"] if any(p["size"] == s for p in pts)]
    modes = [m for m in st["modes"] if any(p["mode"] == m for p in pts)]
    if not sizes:
        return {"sweep": name}
    small, large = sizes[0], sizes[-1]
    over = overtake_size(pts) if {"frozen", "finetune"} <= set(modes) else None
    cost = sweep_cost(sweep)
    planned = len(st["sizes"]) * len(st["seeds"]) * len(st["modes"])
    runs = f"{len(pts)}" + ("" if len(pts) >= planned else f" of {planned} (incomplete)")
    row = {"sweep": name, "runs": runs, "data": str(st["data"]).rsplit("/", 1)[-1],
           "metric": st["metric"],
           "sizes": ", ".join(map(str, sizes)), "seeds": str(len(st["seeds"])),
           "epochs": str(st["steps"] and f"{st['steps']} steps" or st["epochs"]),
           "eval": str(st["eval_size"]),
           "fine-tuned overtakes frozen": ("no" if over is None else "ahead at every size"
                                           if over == small else f"from {over}")}
    for m in modes:
        row[f"{mode_name(m)} at {small}"] = _spread_cell(spread(pts, m, small))
        row[f"{mode_name(m)} at {large}"] = _spread_cell(spread(pts, m, large))
    row["wall time"] = f"{cost['points_s'] / 60:.1f} min"
    return row


def readme_table(sweeps: Mapping[str, Mapping[str, Any]]) -> str:
    """The table of recorded sweeps (docs/results.md) (markdown), one row per sweep."""
    rows = [summary_row(name, sw) for name, sw in sweeps.items()]
    cols = ["sweep", "runs", "data", "metric", "sizes", "seeds", "epochs", "eval",
            "fine-tuned overtakes frozen", "frozen at smallest", "frozen at largest",
            "fine-tuned at smallest", "fine-tuned at largest", "wall time"]  # of all runs
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for c in cols:
            if c.endswith(("smallest", "largest")):
                m, which = c.split(" at ")
                size = r.get("sizes", "").split(", ")[0 if which == "smallest" else -1]
                cells.append(f"n={size}: {r.get(f'{m} at {size}', '-')}")
            else:
                cells.append(str(r.get(c, "-")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


README_MARK = "learning-curves"


def load_sweeps(folder: str | Path) -> dict[str, dict[str, Any]]:
    """The sweep JSON files of a folder, by file stem, sorted by name."""
    out = {}
    for path in sorted(Path(folder).glob("*.json")):
        sweep = json.loads(path.read_text(encoding="utf-8"))
        if sweep.get("kind") == "learning-curves":
            out[path.stem] = sweep
    return out


def _cpu_text(cost: Mapping[str, float]) -> str:
    """The CPU time of the runs a sweep trained, or that none was recorded (never "0 CPU
    seconds" for runs whose CPU time nobody measured)."""
    if not cost["cpu_runs"]:
        return "no CPU time recorded"
    return f"the {cost['cpu_runs']} runs it trained used {cost['cpu_s']:.0f} CPU seconds"


def readme_section(sweeps: Mapping[str, Mapping[str, Any]]) -> str:
    """What goes between the markers of docs/results.md: the table, the crossings and the
    engine."""
    lines = [readme_table(sweeps), ""]
    for name, sw in sweeps.items():
        said = crossing_text(sw["points"]) or ["the medians of the modes do not cross"]
        e = sw.get("engine", {})
        cost = sweep_cost(sw)
        parts = ", ".join(f"{mode_name(m)} {cost[f'{m}_s'] / 60:.1f} min" for m in
                          sw["setup"]["modes"] if f"{m}_s" in cost)
        lines.append(f"- `{name}`: {'; '.join(said)}. {len(sw['points'])} runs: {parts} "
                     f"(sum of the runs' wall times; the sweep itself ran "
                     f"{cost['elapsed_s'] / 60:.1f} min, runs found in the cache cost it "
                     f"nothing; {_cpu_text(cost)}) on {e.get('cores')} cores "
                     f"({e.get('device')}, torch "
                     f"{e.get('torch')}, bertviz-lite {e.get('bertviz_lite')}).")
    return "\n".join(lines)


def replace_between_markers(text: str, name: str, body: str) -> str:
    """`text` with the part between `<!-- BEGIN name -->` and `<!-- END name -->` replaced."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    if begin not in text or end not in text:
        raise ValueError(f"the page has no {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def write_readme(readme: str | Path, folder: str | Path) -> bool:
    """Regenerate the learning-curve table of `readme` (docs/results.md) from the sweeps in
    `folder`; True if it changed."""
    path = Path(readme)
    old = path.read_text(encoding="utf-8")
    new = replace_between_markers(old, README_MARK, readme_section(load_sweeps(folder)))
    if new != old:
        path.write_text(new, encoding="utf-8")
    return new != old


if __name__ == "__main__":  # python -m bertviz_lite.experiments.learning_summary [DOC [DIR]]
    import sys

    from bertviz_lite.paths import results_doc

    write_readme(sys.argv[1] if len(sys.argv) > 1 else results_doc(),
                 sys.argv[2] if len(sys.argv) > 2 else "assets/sweeps")

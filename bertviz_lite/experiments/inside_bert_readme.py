"""The "What changed inside BERT?" tables of docs/results.md, generated from the recorded
analyses in assets/changes (never typed in): `update_readme()` rewrites the block between
`<!-- BEGIN changes -->` and `<!-- END changes -->`; a test checks that they match."""

from __future__ import annotations

import math
from pathlib import Path

from bertviz_lite.experiments.inside_bert_result import ChangesResult

TASKS = ("sentiment", "paraphrase", "similarity", "ner")
MODES = ("frozen", "top-2", "finetune")
BEGIN, END = "<!-- BEGIN changes -->", "<!-- END changes -->"


def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def load_recorded(folder: Path) -> dict[tuple[str, str], ChangesResult]:
    """(task, mode) -> recorded analysis, for every file in `folder`."""
    out = {}
    for path in sorted(folder.glob("*-*.json")):
        r = ChangesResult.load(path)
        out[(str(r.setup["task"]), str(r.setup["mode"]))] = r
    return out


def change_table(results: dict[str, ChangesResult]) -> list[str]:
    """Rows: layer groups; per task: CKA and relative weight change of the fine-tuned run."""
    tasks = list(results)
    head = "| group | " + " | ".join(f"{t} CKA | {t} weight change" for t in tasks) + " |"
    out = [head, "|---" * (1 + 2 * len(tasks)) + "|"]
    for i, g in enumerate(next(iter(results.values())).groups):
        cells = [f"{_f(results[t].groups[i].cka, 3)} | {_f(results[t].groups[i].weight_change, 4)}"
                 for t in tasks]
        out.append(f"| {g.group} | " + " | ".join(cells) + " |")
    return out


def probe_table(results: dict[str, ChangesResult]) -> list[str]:
    """Rows: layer groups; per task: probe score pretrained -> fine-tuned, with the baseline."""
    tasks = list(results)
    metric = {t: results[t].baseline.get("metric", "") for t in tasks}
    out = ["| group | " + " | ".join(f"{t} ({metric[t]}): pretrained → tuned" for t in tasks)
           + " |", "|---" * (1 + len(tasks)) + "|"]
    for i, g in enumerate(next(iter(results.values())).groups):
        cells = [f"{_f(results[t].groups[i].probe_pretrained)} → "
                 f"{_f(results[t].groups[i].probe_tuned)}" for t in tasks]
        out.append(f"| {g.group} | " + " | ".join(cells) + " |")
    out.append("| baseline (ignores the input) | "
               + " | ".join(_f(results[t].baseline.get("value")) for t in tasks) + " |")
    out.append("| the fine-tuned run's own head | "
               + " | ".join(_f(results[t].run_final.get("value")) for t in tasks) + " |")
    return out


def forgetting_table(rec: dict[tuple[str, str], ChangesResult]) -> list[str]:
    """Rows: the task tuned on; columns: zero-shot similarity (Pearson / Spearman) per model."""
    out = ["| tuned on | pretrained | " + " | ".join(MODES) + " |", "|---" * (2 + len(MODES))
           + "|"]
    for t in TASKS:
        runs = [rec.get((t, m)) for m in MODES]
        first = next((r for r in runs if r is not None), None)
        if first is None:
            continue
        pre = first.forgetting[0]["pretrained"]
        cells = [f"{_f(r.forgetting[0]['tuned']['pearson'])} / "
                 f"{_f(r.forgetting[0]['tuned']['spearman'])}" if r else "-" for r in runs]
        out.append(f"| {t} | {_f(pre['pearson'])} / {_f(pre['spearman'])} | "
                   + " | ".join(cells) + " |")
    return out


def findings(fine: dict[str, ChangesResult], rec: dict[tuple[str, str], ChangesResult]
             ) -> list[str]:
    """One generated line per task: where it changed most, and what the probes read before."""
    out = []
    for t, r in fine.items():
        low = min(r.groups, key=lambda g: g.cka)
        moved = max(r.groups, key=lambda g: g.weight_change or 0.0)
        best_pre = max(r.groups, key=lambda g: g.probe_pretrained
                       if math.isfinite(g.probe_pretrained) else -1.0)
        f = r.forgetting[0]
        out.append(f"- {t}: lowest CKA at {low.group} ({_f(low.cka)}), largest weight change "
                   f"at {moved.group} ({_f(moved.weight_change, 4)}); best pretrained probe at "
                   f"{best_pre.group}: {_f(best_pre.probe_pretrained)} (fine-tuned run: "
                   f"{_f(r.run_final.get('value'))}, baseline {_f(r.baseline.get('value'))}); "
                   f"zero-shot similarity Pearson {_f(f['pretrained']['pearson'])} → "
                   f"{_f(f['tuned']['pearson'])} after fine-tuning")
    return out


def readme_block(folder: Path) -> str:
    """The generated block of docs/results.md (between the markers)."""
    rec = load_recorded(folder)
    fine = {t: rec[(t, "finetune")] for t in TASKS if (t, "finetune") in rec}
    if not fine:
        return "(no recorded analyses: run scripts/record-changes.sh)"
    s = next(iter(fine.values())).setup
    f0 = next(iter(fine.values())).forgetting[0]
    lines = [f"Ours: {s['model']} ({s['layers']} layers, width {s['hidden']}), bundled data, "
             f"default settings, seed 0; {s['engine']}. Analyses on the validation split "
             "(CKA) and the training split (probe fits); fine-tuned runs.", "",
             "**Representation (CKA, 1 = unchanged) and weights (relative change)**", "",
             *change_table(fine), "", "**Linear probe per layer, validation score in the "
             "task's metric**", "", *probe_table(fine), "",
             f"**Zero-shot similarity on {f0['set']} ({f0['pairs']} pairs), Pearson / "
             "Spearman of cosine vs gold**", "", *forgetting_table(rec), "",
             "**In one line per task (generated)**", "", *findings(fine, rec)]
    return "\n".join(lines)


def update_readme(readme: Path | None = None, folder: Path | None = None) -> bool:
    """Rewrite the block in docs/results.md (or `readme`) from assets/changes; True if it
    changed."""
    from bertviz_lite.paths import assets_dir, results_doc

    readme = readme or results_doc()
    folder = folder or assets_dir() / "changes"
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    new = text[:start] + "\n" + readme_block(folder) + "\n" + text[end:]
    readme.write_text(new, encoding="utf-8")
    return new != text

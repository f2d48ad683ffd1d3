"""reproduce.md: the markdown table of a `ReproduceResult`, ours beside the paper's (the
tables of docs/results.md are made beside it, in `record.readme`)."""

from __future__ import annotations

from collections.abc import Callable

from bertviz_lite.names import head_title
from bertviz_lite.record.paper import PAPER_CITATION, PAPER_FROZEN_SETUP, frozen_setup_note
from bertviz_lite.record.repro_result import ReproduceResult, result_heads
from bertviz_lite.record.repro_rows import row_heads


def result_markdown(result: ReproduceResult, cell: Callable[[object], str] = str) -> str:
    """The comparison as a markdown table with its setup, ours and theirs labelled: one
    column per frozen head (each named), the fine-tuned run, the paper's two columns.

    cell: how a value from the file is written; the app passes a function that makes it
    inert text (a setup field or cell of an uploaded file may hold markdown links).
    """
    s = {k: cell(v) for k, v in result.setup.items() if k != "total_minutes"}
    s["total_minutes"] = result.setup.get("total_minutes", 0)
    heads = result_heads(result)
    recipe = ", ".join(f"{k} {s[k]}" for k in ("lr", "batch_size", "warmup", "weight_decay",
                                                 "max_grad_norm") if k in s)
    lines = [
        f"Ours: {s.get('model')} ({s.get('layers')} layers), {s.get('max_train')} training "
        f"examples per task (stratified subsample), {s.get('epochs')} epochs, seed "
        f"{s.get('seed')}, frozen heads: {', '.join(cell(h) for h in heads)}; fine-tuned: all "
        f"layers + a linear layer ({recipe}); evaluated on the full dev/valid split; "
        f"{s.get('hardware')}; total {_minutes(s['total_minutes'])} min.",
        f"Paper: {PAPER_CITATION} (BERT-base, full training sets, frozen: "
        f"{PAPER_FROZEN_SETUP}).",
        "",
        "| task | metric | " + " | ".join(f"ours frozen ({cell(h)})" for h in heads)
        + " | ours fine-tuned | paper frozen | paper fine-tuned | paper gap | "
        + " | ".join(f"cost ratio ({cell(h)})" for h in heads) + " |",
        "|---|---|" + "---|" * (2 * len(heads) + 4),
    ]
    for r in result.rows:
        by_head = row_heads(r)
        cells: list[object] = [f"{r['task']} ({r['dataset']})", r["metric"]]
        cells += [by_head.get(h, {}).get("value") for h in heads]
        cells += [r["ours_finetune"], r["paper_frozen"], r["paper_finetune"], r["paper_gap"]]
        cells += [_times(by_head.get(h, {}).get("cost_ratio")) for h in heads]
        lines.append("| " + " | ".join("-" if c is None else cell(c) for c in cells) + " |")
    lines += ["", "Beside the paper's frozen column: " + "; ".join(
        f"{cell(head_title(h))}: {frozen_setup_note(h)}" for h in heads) + "."]
    return "\n".join(lines)


def _times(ratio: object) -> str | None:
    return f"{ratio}x" if isinstance(ratio, (int, float)) and ratio else None


def _minutes(value: object) -> str:
    return f"{value:.0f}" if isinstance(value, (int, float)) else "?"

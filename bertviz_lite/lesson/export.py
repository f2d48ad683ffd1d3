"""The lesson as a static folder that runs from `file://` or any static web host: no server,
no CDN, no network (`bertviz-lite lesson export --out DIR`).

What is written:

    DIR/index.html                 the page (the lesson's title; the steps are drawn by lesson.js)
    DIR/assets/plotly.min.js       plotly.js, once, from the installed plotly package
    DIR/assets/lesson.js, .css     the player: steps, predictions, reveal, explanation, summary
    DIR/assets/lesson-data.js      the lesson's numbers: `window.BERTVIZ_LESSON = {...}`
    DIR/assets/stack.js, .css      the animated stack's player (the app's and the notebook's)

The data is a script, not a JSON file, because a page opened from `file://` may not fetch
files. Each step carries its text (markdown rendered here), its prediction widget's options,
the true answer computed from the recorded artefact (`answers.py`: the same numbers the app
uses), the explanation templates, and its figures as plotly JSON (the app's own figures).
The browser compares the prediction with the answer and fills the templates (lesson.js ports
`explain.compare` and `figures.text.plain_number`; the export test checks that the words
match Python's for every step).

Where a step shows the gradient per group, its first view is the animated stack, as in the
app: the step's recorded runs side by side, replayed at their recorded pace (a view with
`stack` data, drawn by the same player as the app's).

Hook for more views: a function added
to `EXTRA_VIEWS` gets each step and its loaded artefacts and returns `ExportView`s, drawn
after the step's figures; an `html` view is inserted as it is (it may carry its own inline
script; keep it offline).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.io as pio
from markdown_it import MarkdownIt

from bertviz_lite.figures.theme import DEFAULT_THEME, Theme
from bertviz_lite.lesson import ArtefactStore, Lesson, answer_for, read_lessons
from bertviz_lite.lesson.answers import FACT_NAMES, facts
from bertviz_lite.lesson.format import Step, log_values
from bertviz_lite.lesson.glossary import TERMS, WHY_GROW, link_terms
from bertviz_lite.lesson.observe import LABELS, observation

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
GLOSSARY_HREF = "#glossary-{id}"  # a term's entry in the page's own glossary
PLAYER_FILES = ("lesson.js", "lesson.css")
STACK_LABEL = "The gradient flowing down"  # the app's label of the stack view


@dataclass(frozen=True)
class ExportView:
    """One more view of a step in the export: a plotly figure (as a dict) or trusted HTML."""

    name: str
    label: str
    figure: dict[str, Any] | None = None
    html: str = ""


ViewHook = Callable[[Step, Sequence[Any]], list[ExportView]]
EXTRA_VIEWS: list[ViewHook] = []  # more views, appended by the module that draws them


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote: the folder, its files and their total size in bytes."""

    out: Path
    files: tuple[Path, ...]
    bytes: int
    steps: int
    seconds: float = 0.0
    sizes: dict[str, int] = field(default_factory=dict)


def plotly_js() -> Path:
    """plotly.min.js of the installed plotly package (the version the figures were made for)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall plotly")
    return path


def _markdown(text: str) -> str:
    """A lesson's markdown as HTML (no raw HTML from the lesson file passes through)."""
    return MarkdownIt("commonmark", {"html": False}).render(text.strip())


def _fill(text: str, found: dict[str, str]) -> str:
    return text.format_map({k: found.get(k, "?") for k in FACT_NAMES})


def figure_json(fig: Any) -> dict[str, Any]:
    """A plotly figure as plain JSON data (numpy arrays as lists)."""
    return json.loads(pio.to_json(fig, validate=False, engine="json"))


def step_data(step: Step, store: ArtefactStore, theme: Theme = DEFAULT_THEME
              ) -> dict[str, Any]:
    """Everything the browser needs to run one step, as JSON-ready data."""
    refs = step.answer.artefacts if step.answer else ()
    arts = [store.load(r) for r in refs]
    found = facts(arts)
    answer = answer_for(step, store)
    p = step.prediction
    data: dict[str, Any] = {
        "id": step.id, "title": step.title,
        "html": _markdown(link_terms(_fill(step.text, found), href=GLOSSARY_HREF)),
        "kind": p.kind if answer is not None else "none",
        "question": _fill(p.question, found), "unit": p.unit,
        "explain": {"right": step.explain.right, "wrong": step.explain.wrong,
                    "why": step.explain.why},
        "tolerance": step.answer.tolerance if step.answer else 2.0,
        "try_it": step.try_it, "views": [],
    }
    if p.kind == "log-number":
        data["stops"] = log_values(p.low, p.high)
    if answer is not None:
        data["answer"] = {"value": answer.value, "options": list(answer.options),
                          "labels": dict(answer.labels), "detail": dict(answer.detail),
                          "how": answer.how}
        data["views"].extend(_stack_view(step, arts, theme))
        for name, fig in observation(step.figures, arts, theme):
            data["views"].append({"name": name, "label": LABELS.get(name, name),
                                  "figure": figure_json(fig)})
    for hook in EXTRA_VIEWS:
        for view in hook(step, arts):
            data["views"].append({"name": view.name, "label": view.label,
                                  "figure": view.figure, "html": view.html})
    return data


def _stack_view(step: Step, arts: Sequence[Any], theme: Theme) -> list[dict[str, Any]]:
    """The animated stack of a step that shows the gradient per group (none otherwise)."""
    from bertviz_lite.figures.stack import recorded_panels, stack_data
    from bertviz_lite.record.runs import RunRecord

    runs = [a for a in arts if isinstance(a, RunRecord) and a.steps]
    if "grad-flow" not in step.figures or not runs:
        return []
    data = stack_data(recorded_panels(runs, theme), theme=theme, autoplay=True,
                      fit_screen=True, reserve_rem=4.0, note="Recorded runs of this step.")
    return [{"name": "stack", "label": STACK_LABEL, "stack": data}]


def lesson_data(lesson: Lesson, store: ArtefactStore, theme: Theme = DEFAULT_THEME
                ) -> dict[str, Any]:
    """The whole lesson for the player: title, intro and every step."""
    return {"version": 1, "id": lesson.id, "title": lesson.title,
            "intro": _markdown(lesson.intro),
            "steps": [step_data(s, store, theme) for s in lesson.steps],
            "glossary": [{"id": t.id, "name": t.name, "text": t.text} for t in TERMS],
            "why_grow": WHY_GROW}


INDEX = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="assets/lesson.css">
<link rel="stylesheet" href="assets/stack.css">
</head>
<body class="bv-page">
<main id="lesson" class="bv-lesson" aria-live="polite"><noscript>This lesson needs JavaScript.</noscript></main>
<script src="assets/plotly.min.js"></script>
<script src="assets/stack.js"></script>
<script src="assets/lesson-data.js"></script>
<script src="assets/lesson.js"></script>
</body>
</html>
"""


def _lesson(lesson_id: str | None, store: ArtefactStore) -> Lesson:
    files = [f for f in read_lessons(store=store) if f.lesson is not None]
    if not files:
        raise ValueError("no usable lesson in assets/lessons/: run `bertviz-lite lesson "
                         "export` from a checkout or an installed copy with its assets")
    chosen = next((f for f in files if lesson_id in (None, f.lesson.id)), None)
    if chosen is None:
        raise ValueError(f"no lesson {lesson_id!r}; lessons: "
                         + ", ".join(f.lesson.id for f in files))
    return chosen.lesson


def check_out(out: Path) -> None:
    """Refuse, before any work, a place the export cannot go: a file, a folder that holds
    something else, a folder under a file, or one this user cannot write into (ValueError
    with what to do)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder: give a new folder for the export")
    if out.is_dir():
        if any(out.iterdir()) and not (out / "assets" / "lesson-data.js").is_file():
            raise ValueError(f"{out} is not empty: give a new folder (or an earlier export's)")
        base = out
    else:
        base = next((a for a in out.absolute().parents if a.exists()), Path("/"))
        if not base.is_dir():
            raise ValueError(f"{base} is a file, so {out} cannot be made: give another folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write into {base}: give a folder you can write to")


def export_lesson(out: str | Path, lesson_id: str | None = None,
                  store: ArtefactStore | None = None, theme: Theme = DEFAULT_THEME
                  ) -> ExportReport:
    """Write the lesson (default: the first usable one) as a static folder at `out`.

    An existing `out` is only written into when it is empty or an earlier export."""
    t0 = time.perf_counter()
    out = Path(out)
    check_out(out)
    store = store or ArtefactStore()
    lesson = _lesson(lesson_id, store)
    data = lesson_data(lesson, store, theme)
    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plotly_js(), assets / "plotly.min.js")
    for name in PLAYER_FILES:
        shutil.copyfile(STATIC / name, assets / name)
    from bertviz_lite.figures.stack import player_css, player_js

    (assets / "stack.js").write_text(player_js(), encoding="utf-8")
    (assets / "stack.css").write_text(player_css(), encoding="utf-8")
    blob = json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")
    (assets / "lesson-data.js").write_text(f"window.BERTVIZ_LESSON = {blob};\n",
                                           encoding="utf-8")
    import html

    (out / "index.html").write_text(INDEX.format(title=html.escape(lesson.title)),
                                    encoding="utf-8")
    files = tuple(sorted(p for p in out.rglob("*") if p.is_file()))
    sizes = {str(p.relative_to(out)): p.stat().st_size for p in files}
    report = ExportReport(out, files, sum(sizes.values()), len(lesson.steps),
                          time.perf_counter() - t0, sizes)
    log.info("exported %s (%d steps, %.1f MB) to %s", lesson.id, report.steps,
             report.bytes / 1e6, out)
    return report

"""The app's pages, in one place (no streamlit here).

The navigation (`bertviz_lite.ui.navigation`), the start page's Explore links, the README's
page table (`bertviz_lite.app.readme`) and the tests all read this list. Adding a page is its
script under `PAGES_DIR` plus one entry in `PAGES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

PAGES_DIR = Path(__file__).resolve().parent / "pages"


@dataclass(frozen=True)
class Page:
    """One page of the app.

    name: the script's file name without `.py` (`PAGES_DIR/<name>.py`), also the tests' key.
    title: the navigation's entry and the browser tab's title.
    url_path: the address (`/forward`); the default page is served at "/" instead.
    summary: what the page shows, one line (the README's table).
    label: a shorter name for links and the README (default: the title).
    icon: an emoji or ":material/name:" beside the title; "" for none.
    explore: linked from the start page's Explore row.
    stage: laid out for a projector in presenter mode (the stage).
    visibility: "hidden" keeps it out of the navigation; its address still works.
    default: the start page, served at "/".
    path: the script when it is not `PAGES_DIR/<name>.py`.
    """

    name: str
    title: str
    url_path: str
    summary: str
    label: str = ""
    icon: str = ""
    explore: bool = False
    stage: bool = False
    visibility: Literal["visible", "hidden"] = "visible"
    default: bool = False
    path: Path | None = None

    @property
    def script(self) -> Path:
        """The page's script."""
        return self.path or PAGES_DIR / f"{self.name}.py"

    @property
    def link_label(self) -> str:
        """The page's name on a link: the short label, else the title."""
        return self.label or self.title


# In navigation order. The start page's url_path is one nobody types: the default page is
# served at "/", and the address it reserves would answer "page not found" (see ALIASES).
PAGES: tuple[Page, ...] = (
    Page("home", "To tune or not to tune?", "start", default=True,
         summary="BERT as a stack of layers with forward and backward arrows, frozen and "
                 "fine-tuned side by side; the paper's table, labelled as the paper's; the way "
                 "into the lesson"),
    Page("forward", "Forward pass", "forward", explore=True,
         summary="a sentence (or pair) as word pieces, each layer's hidden-state norms as a "
                 "heatmap and an animation, the tensor shapes, the prediction"),
    Page("lesson", "Lesson: predict, observe, explain", "lesson", label="Lesson", explore=True,
         stage=True,
         summary="the lecture step by step: predict, reveal, explain; progress kept in the "
                 "browser; in a class, students follow the instructor's step and vote"),
    Page("backprop", "Backprop: train live", "backprop", explore=True, stage=True,
         summary="the training form; the animated stack (the gradient travelling down BERT "
                 "to a wall at the frozen layers, your run beside the recorded frozen, top-2 "
                 "and fine-tuned runs), the exact numbers, loss and metric curves, progress, "
                 "Stop; afterwards a replay, a layers x steps heatmap, the backward sweep of one "
                 "step and exports"),
    Page("compare", "Compare frozen vs fine-tuned", "compare", label="Compare", explore=True,
         summary="frozen, top-k and fine-tuned on the same data and seed beside the paper's "
                 "numbers, the measured cost ratio beside the slide's \"~10x\", train vs "
                 "validation curves, learning curves over data size"),
    Page("attention", "Attention", "attention", explore=True,
         summary="every layer and head as a token x token heatmap, pretrained beside "
                 "fine-tuned or the shipped LoRA-tuned model (ready at once)"),
    Page("attribution", "Attribution", "attribution", explore=True,
         summary="Integrated Gradients on the embeddings, frozen beside fine-tuned or the "
                 "shipped LoRA-tuned model"),
    Page("changes", "What changed inside BERT?", "changes", explore=True,
         summary="CKA, weight change and linear probes per layer, zero-shot similarity before "
                 "and after"),
    Page("glossary", "Glossary", "glossary",
         summary="the words a student can look up (gradient norm, update ratio, head, scalar "
                 "mix, task model, CKA, probe, span F1, Pearson r), linked from where they "
                 "appear"),
    Page("instructor", "Instructor: the class", "instructor", label="Instructor",
         summary="for the instructor (the link printed at start): the class's join link and QR "
                 "code, who joined, the current step, the class's answers of each step; the "
                 "server's workers, queue, cache and settings below"),
)

# Hidden addresses that open another page: url_path -> the target page's name. /home is what
# people type for the start page, whose own address is "/".
ALIASES: dict[str, str] = {"home": "home"}


def pages() -> tuple[Page, ...]:
    """Every page, in navigation order (read at call time: a test may add one)."""
    return PAGES


def page(name: str) -> Page:
    """The page called `name` (its script's stem); KeyError names the known ones."""
    for p in pages():
        if p.name == name:
            return p
    raise KeyError(f"no page {name!r}; pages: {', '.join(p.name for p in pages())}")


def by_url(url_path: str) -> Page:
    """The page served at `/url_path` (the start page also at its alias /home)."""
    url_path = url_path.strip("/")
    target = ALIASES.get(url_path)
    for p in pages():
        if p.url_path == url_path or p.name == target:
            return p
    raise KeyError(f"no page at /{url_path}")


def explore_pages() -> list[Page]:
    """The pages the start page links under "Explore", in navigation order."""
    return [p for p in pages() if p.explore]


def visible_pages() -> list[Page]:
    """The pages the navigation lists (hidden ones left out)."""
    return [p for p in pages() if p.visibility == "visible"]

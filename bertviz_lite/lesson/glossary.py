"""Words a student can look up: the glossary, and links to it wherever a term appears.

`TERMS` is the glossary (each entry says what the app means by the word, in the app's
terms); `link_terms` turns the first mention of each term in a piece of markdown into a link
to its entry whose title is the definition (a tooltip on hover). Pure: no Streamlit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One glossary entry: its anchor, its name, the words that mention it, its text."""

    id: str
    name: str
    mentions: tuple[str, ...]
    text: str


TERMS: tuple[Term, ...] = (
    Term("gradient-norm", "Gradient norm", ("gradient norms", "gradient norm"),
         "The size of a gradient: the square root of the sum of its squared entries (the L2 "
         "norm). A group's gradient norm is taken over the gradients of all the weights of "
         "that group that train, after one backward pass; it is exactly 0 where no gradient "
         "arrives (a frozen group)."),
    Term("weight-vs-output-gradient", "‖∂L/∂W‖ vs the gradient at a group's output",
         ("‖∂L/∂W‖", "gradient at a group's output", "backward sweep"),
         "‖∂L/∂W‖ is the gradient of the loss with respect to a group's weights: what the "
         "optimizer uses, and what the bars on Backprop show. The gradient at a group's output, "
         "‖∂L/∂h‖, is the backward signal arriving at the group's output activations (the "
         "backward sweep). A weight's gradient is that signal multiplied by what came into the "
         "weight, so the two need not agree. A frozen group has ‖∂L/∂W‖ = 0, and below the "
         "lowest group that trains no signal is computed at all."),
    Term("update-ratio", "Update ratio", ("update ratios", "update ratio"),
         "How much one optimizer step changed a group's weights, relative to their size: "
         "‖W after − W before‖ / ‖W after‖ for that step; 0 for a frozen group."),
    Term("head", "Head", ("task head", "head"),
         "The task head: the small layer on top of BERT that turns its features into the "
         "task's output (here one linear layer on the sentence vector, on the pair vector, or "
         "on each word's first word piece). It trains in every mode. Not to be confused with "
         "an attention head: one of the parallel attention maps inside each layer (the "
         "Attention page)."),
    Term("scalar-mix", "Scalar mix", ("scalar mix",),
         "A learned weighted average of every layer's hidden states, γ · Σⱼ softmax(w)ⱼ hⱼ, "
         "instead of the last layer only: how Peters et al. fed frozen BERT to their task "
         "models, so the task picks the layers it needs."),
    Term("task-model", "Task model", ("task models", "task model"),
         "In the paper's frozen setup, a task-specific network trained on frozen BERT features: "
         "a BiLSTM-CRF for NER, BCN for sentiment, ESIM for sentence pairs. The app's frozen "
         "task models are smaller versions of these (BiLSTM-CRF, BiLSTM pool, ESIM-lite)."),
    Term("cka", "CKA", ("CKA",),
         "Centered kernel alignment: the similarity of two representations of the same "
         "sentences (here a layer before and after fine-tuning), from 0 (unrelated) to 1 (the "
         "same up to a rotation and a scale)."),
    Term("probe", "Probe", ("probes", "probe"),
         "A small classifier (here linear: logistic or ridge regression) trained on one "
         "layer's frozen features to ask what that layer makes easy to read off; its score "
         "says how linearly available the information is in that layer."),
    Term("span-f1", "Span F1", ("span F1",),
         "The NER metric: F1 over entity spans, where a predicted entity counts only when its "
         "type and its exact first and last word match a gold entity (CoNLL exact match)."),
    Term("pearson", "Pearson r", ("Pearson r", "Pearson"),
         "The sentence-similarity metric (STS-B): the linear correlation between the predicted "
         "and the gold similarity scores, from −1 to 1 (1: they rise and fall together exactly)."),
)

# Why the weight-gradient norms grow towards the embeddings in a fine-tuned run: what the
# recorded runs show (tests/test_glossary.py checks every claim against assets/runs).
WHY_GROW = (
    "Why do the weight-gradient norms grow towards the embeddings in a fine-tuned run? In the "
    "recorded sentiment, NER and paraphrase runs, by the last step the gradient reaching each "
    "layer's output is itself several times larger at layer.0 than at layer.5 (at step 1 the "
    "groups were within a factor 2 of each other), and ‖∂L/∂W‖ is larger at the embeddings "
    "than at layer.5 too. It is what these runs did, not a law: in the similarity run the "
    "norms shrink towards the embeddings.")


def term(term_id: str) -> Term:
    """The entry with this anchor; KeyError if there is none."""
    for t in TERMS:
        if t.id == term_id:
            return t
    raise KeyError(term_id)


def _pattern(mention: str) -> re.Pattern[str]:
    flags = 0 if any(c.isupper() for c in mention) else re.IGNORECASE
    return re.compile(r"(?<![\w/#-])" + re.escape(mention) + r"(?![\w-])", flags)


def link_terms(markdown: str, href: str = "/glossary#{id}", terms: tuple[Term, ...] = TERMS
               ) -> str:
    """The first mention of each term in `markdown` as a link to its entry, the definition as
    the link's title (a tooltip). Code spans and existing links are left alone."""
    parts = re.split(r"(`[^`]*`|\[[^\]]*\]\([^)]*\))", markdown)
    links: list[str] = []
    for t in terms:
        for mention in t.mentions:
            found = next(((i, m) for i in range(0, len(parts), 2)  # even parts: plain text
                          if (m := _pattern(mention).search(parts[i]))), None)
            if found is None:
                continue
            i, m = found
            title = t.text.replace('"', "'")
            links.append(f'[{m.group(0)}]({href.format(id=t.id)} "{title}")')
            parts[i] = f"{parts[i][:m.start()]}\x00{len(links) - 1}\x00{parts[i][m.end():]}"
            break
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], "".join(parts))

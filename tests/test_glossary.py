"""The glossary: every term the issue names has an entry, mentions link to it with the
definition as a tooltip (code spans and links left alone), and the line on why the
weight-gradient norms grow towards the embeddings says only what the recorded runs show."""

from __future__ import annotations

import pytest

from bertviz_lite.lesson.glossary import TERMS, WHY_GROW, link_terms, term
from bertviz_lite.paths import recorded_runs_dir
from bertviz_lite.record.runs import load_recorded_runs

NAMED = ["gradient-norm", "weight-vs-output-gradient", "update-ratio", "head", "scalar-mix",
         "task-model", "cka", "probe", "span-f1", "pearson"]


def test_every_named_term_has_an_entry():
    assert [t.id for t in TERMS] == NAMED
    assert all(len(t.text) > 60 for t in TERMS)


def test_the_first_mention_links_to_the_entry_with_its_definition_as_tooltip():
    text = link_terms("The gradient norm of `head`, then the task head and the gradient norm.")
    assert text.count("](/glossary#gradient-norm") == 1
    assert text.startswith('The [gradient norm](/glossary#gradient-norm "The size of a')
    assert "`head`" in text and "[task head](/glossary#head " in text
    assert link_terms("[CKA](x) and CKA") == \
        f'[CKA](x) and [CKA](/glossary#cka "{term("cka").text}")'
    assert link_terms("heads of the model") == "heads of the model"  # whole words only
    assert "#glossary-probe" in link_terms("a probe", href="#glossary-{id}")


@pytest.fixture(scope="module")
def finetuned():
    runs = load_recorded_runs(recorded_runs_dir())
    return {t: runs[f"{t}-finetune"] for t in ("sentiment", "ner", "paraphrase", "similarity")}


def test_why_the_norms_grow_towards_the_embeddings_is_what_the_recorded_runs_show(finetuned):
    """Each claim of WHY_GROW, checked in the shipped fine-tuned runs."""
    assert "sentiment, NER and paraphrase" in WHY_GROW and "similarity run" in WHY_GROW
    for task, run in finetuned.items():
        first, last = run.sweeps[0], run.sweeps[-1]
        assert first["step"] == 1 and last["step"] == run.steps[-1].step
        body = [first["signal"][g] for g in run.groups if g != "head"]
        assert max(body) / min(body) < 2, task  # "within a factor 2 of each other" at step 1
        w = run.steps[-1].grad_norm
        if task == "similarity":  # "the norms shrink towards the embeddings"
            assert w["embeddings"] < w["layer.5"] and w["layer.0"] < w["layer.5"]
            continue
        assert last["signal"]["layer.0"] > 3 * last["signal"]["layer.5"], task  # "several times"
        assert w["embeddings"] > w["layer.5"], task

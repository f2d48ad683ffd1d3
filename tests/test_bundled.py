"""The lesson on the real bundled BERT and bundled data: every task learns in both modes.

These train the real 6-layer model (about 2 s frozen, 15-25 s fine-tuned per task on 2 cores).
"""

from __future__ import annotations

import pytest

from bertviz_lite.engine.config import RunConfig
from bertviz_lite.engine.training import run_to_record

pytestmark = pytest.mark.slow

MARGIN = {"sentiment": 0.1, "paraphrase": 0.05, "similarity": 0.3, "ner": 0.2}


@pytest.mark.parametrize("task", ["sentiment", "paraphrase", "similarity", "ner"])
@pytest.mark.parametrize("mode", ["frozen", "finetune"])
def test_task_beats_baseline_on_bundled_data(task, mode, bundled_backbone):
    # Fine-tuning for 1 epoch, not the lecture's 3: every task is past its margin after the
    # first epoch in the recorded runs (assets/runs/*-finetune.json), and this is the suite's
    # costliest training on a CPU without native bf16.
    config = RunConfig(task=task, mode=mode, **({"epochs": 1} if mode == "finetune" else {}))
    record = run_to_record(config, backbone=bundled_backbone)
    assert record.status == "completed"
    value, base = record.final["value"], record.baseline["value"]
    assert value > base + MARGIN[task], (task, mode, value, record.baseline)
    if mode == "frozen":
        assert record.trainable_params < 5000
        assert all(s.grad_norm[g] == 0.0 for s in record.steps for g in record.frozen_groups)
    else:
        assert record.frozen_groups == []

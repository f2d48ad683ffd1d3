"""Learning curves: the metric against training-set size, for each mode, over several seeds.

One point is one ordinary training run (the one engine, `training.Trainer`) of a mode on a
stratified subsample of the training split. The subsamples are nested (the 50 examples of a
seed contain its 25: `data.load.stratified_order`), and every point is scored on the same
validation split. A sweep

- reuses finished runs from a `RunCache` (the cache key is the config plus the data's content),
- writes its JSON after every point and skips the points it already holds (stop and resume),
- lets the frozen runs of one seed share one feature pass: the features of the largest
  subsample serve every smaller one (`PrefixFeatureStore`), since a smaller subsample is a
  prefix of the larger one.

The sweep JSON: {"version", "kind": "learning-curves", "setup", "engine", "points": [...],
"elapsed_seconds", "complete"}; one point: mode, size, seed, metric, value, train_value, gap,
wall_seconds, baseline, cached, ... (see `point_summary`).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertviz_lite.data.examples import TaskData
from bertviz_lite.data.load import load_task_data, stratified_order
from bertviz_lite.engine.config import ConfigError, RunConfig, config_hash, parse_mode
from bertviz_lite.engine.features import Cache, FeatureStore
from bertviz_lite.engine.tasks import TASK_SPECS
from bertviz_lite.experiments.learning_summary import eta_seconds, point_key
from bertviz_lite.record.jsonfile import write_json
from bertviz_lite.record.runcache import RunCache
from bertviz_lite.record.runs import RunRecord

log = logging.getLogger(__name__)

SWEEP_VERSION = 1
SUBSAMPLE = "nested-stratified"  # recorded in each point's config (config.extra)
Point = tuple[str, int, int]  # (mode, size, seed)


class SweepMismatch(ConfigError):
    """The output file holds a different sweep; resuming it would mix two experiments."""


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep runs: `base` names task, model, data, epochs, learning rates (its mode,
    seed and max_train are replaced per point); `frozen_head` is the head of frozen points."""

    base: RunConfig
    sizes: tuple[int, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    modes: tuple[str, ...] = ("frozen", "finetune")
    frozen_head: str = "linear"

    def __post_init__(self) -> None:
        if not self.sizes or any(not isinstance(s, int) or s < 2 for s in self.sizes):
            raise ConfigError(f"sizes must be whole numbers of at least 2, e.g. 25,50,100; "
                              f"got {list(self.sizes)}")
        if not self.seeds or not self.modes:
            raise ConfigError("a sweep needs at least one seed and one mode")
        for mode in self.modes:
            parse_mode(mode)
        self.base.replace(head=self.frozen_head)  # validates the head name

    def setup(self, pool: TaskData) -> dict[str, Any]:
        """What the sweep's numbers depend on, for the JSON (resume compares it)."""
        b = self.base
        return {"task": b.task, "metric": TASK_SPECS[b.task].metric, "model": b.model,
                "data": pool.source, "train_pool": len(pool.train), "eval_size": len(pool.val),
                "eval_fingerprint": TaskData(b.task, [], pool.val, pool.label_names).fingerprint(),
                "sizes": list(effective_sizes(self.sizes, len(pool.train))),
                "seeds": list(self.seeds), "modes": list(self.modes), "epochs": b.epochs,
                "steps": b.steps, "batch_size": b.batch_size, "lr": b.lr, "head_lr": b.head_lr,
                "frozen_head": self.frozen_head, "head": b.head, "pooling": b.pooling,
                "max_length": b.max_length, "subsample": SUBSAMPLE,
                "evaluation": "once, after the last step, on the same validation split"}


def effective_sizes(sizes: Sequence[int], pool_size: int) -> tuple[int, ...]:
    """Sizes sorted, those beyond the training pool replaced by the whole pool."""
    return tuple(sorted({min(int(s), pool_size) for s in sizes}))


def plan(spec: SweepSpec, pool_size: int) -> list[Point]:
    """Every (mode, size, seed) in running order: per seed, frozen from the largest size down
    (its feature pass serves the smaller ones), then the other modes from small to large."""
    sizes = effective_sizes(spec.sizes, pool_size)
    out: list[Point] = []
    for seed in spec.seeds:
        for mode in spec.modes:
            order = sorted(sizes, reverse=parse_mode(mode) == 0)
            out += [(mode, size, seed) for size in order]
    return out


def load_pool(spec: SweepSpec) -> TaskData:
    """The whole training split (subsamples are drawn from it) and the validation split."""
    b = spec.base
    return load_task_data(b.task, b.data, b.train_file, b.eval_file, max_eval=b.max_eval)


def point_data(pool: TaskData, order: Sequence[int], size: int, seed: int) -> TaskData:
    """The training set of one point: the first `size` of a seed's stratified order."""
    train = [pool.train[i] for i in order[:size]]
    note = (f"training on a nested stratified subsample of {len(train)} of {len(pool.train)} "
            f"(seed {seed})")
    return TaskData(pool.task, train, pool.val, list(pool.label_names), pool.source,
                    [*pool.notes, note])


def point_config(spec: SweepSpec, mode: str, size: int, seed: int) -> RunConfig:
    """The run config of one point; scored once, at the end (that is all a point needs)."""
    head = spec.frozen_head if parse_mode(mode) == 0 else spec.base.head
    extra = {**dict(spec.base.extra), "sweep_size": size, "subsample": SUBSAMPLE}
    return spec.base.replace(mode=mode, seed=seed, head=head, max_train=None,
                             evals_per_epoch=0, extra=tuple(sorted(extra.items())))


def point_summary(record: RunRecord, mode: str, size: int, seed: int, cached: bool
                  ) -> dict[str, Any]:
    """One point of the sweep JSON from its run record."""
    train = record.eval_curve("train")
    value = record.final.get("value")
    train_value = train[-1].value if train else None
    gap = train_value - value if train_value is not None and value is not None else None
    c = record.cost
    return {"mode": mode, "size": size, "seed": seed, "metric": record.final.get("metric"),
            "value": value, "train_value": train_value, "gap": gap,
            "wall_seconds": c.get("wall_seconds"), "cpu_seconds": c.get("cpu_seconds"),
            "feature_seconds": c.get("feature_cache_seconds"),
            "features_reused": int(c.get("features_reused", 0) or 0),
            "steps": len(record.steps), "train_examples": record.data.get("train"),
            "baseline": record.baseline.get("value"), "baseline_name": record.baseline.get("name"),
            "status": record.status, "key": record.key, "cached": cached,
            "device": record.device}


def engine_info(device: str = "", threads: int | None = None) -> dict[str, Any]:
    """Which code and machine produced the numbers.

    threads: the torch threads the points run with (the config's `threads`); None: torch's
    default in this process, which is what a point gets when its config sets none.
    """
    import torch
    import transformers

    from bertviz_lite import __version__

    return {"bertviz_lite": __version__, "torch": torch.__version__,
            "transformers": transformers.__version__, "device": device,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": threads or torch.get_num_threads(),
            "python": platform.python_version()}


def threads_used(recorded: int | None, point: int | None) -> int | None:
    """The sweep's torch threads after one more point: unchanged while every trained point
    ran with the recorded count (a cached point, None, ran elsewhere: no news); None once a
    resumed sweep's points ran with different counts (there is no single true number)."""
    if point is None:
        return recorded
    return recorded if recorded == point else None


class PrefixFeatureStore(FeatureStore):
    """A FeatureStore that also answers for a subsample that is a prefix of a stored one.

    `register(data, family)` names the training set of a point; a lookup for a set with no
    features of its own gets the first n training features (and all validation features) of
    the largest stored set of the same family (one seed's nested subsamples).
    """

    def __init__(self, max_bytes: int = 2 * 2**30) -> None:
        super().__init__(max_bytes)
        self._sets: dict[str, tuple[str, int]] = {}  # fingerprint -> (family, n train)

    def register(self, data: TaskData, family: str) -> None:
        """Remember that `data` is a prefix subsample of `family`."""
        self._sets[data.fingerprint()] = (family, len(data.train))

    def get(self, key: tuple) -> Cache | None:
        """The stored cache of `key`, or one sliced from a larger prefix set."""
        return super().get(key) or self._derive(key)

    def _derive(self, key: tuple) -> Cache | None:
        fp = next((k for k in key if isinstance(k, str) and k in self._sets), None)
        if fp is None:
            return None
        family, n = self._sets[fp]
        larger = sorted(((m, other) for other, (fam, m) in self._sets.items()
                         if fam == family and m > n), reverse=True)
        for _, other in larger:
            parent = super().get(tuple(other if k == fp else k for k in key))
            if parent is not None:
                return {split: list(feats[:n] if split == "train" else feats)
                        for split, feats in parent.items()}
        return None


@dataclass
class SweepProgress:
    """What a sweep reports after each point."""

    done: int
    total: int
    point: dict[str, Any]
    eta_s: float | None
    elapsed_s: float


@dataclass
class Sweep:
    """Runs a SweepSpec; `run()` returns the sweep JSON (also written to `out` per point)."""

    spec: SweepSpec
    out: Path | None = None
    cache: RunCache | None = None
    backbone: Any = None
    pool: TaskData | None = None
    stop: Any = None  # anything with is_set(), checked between points and inside runs
    on_point: Callable[[SweepProgress], None] | None = None
    on_event: Callable[[Point, Any], None] | None = None
    features: PrefixFeatureStore = field(default_factory=PrefixFeatureStore)

    def run(self) -> dict[str, Any]:
        """Every planned point not yet in `out`: trained, or taken from the cache."""
        import torch

        from bertviz_lite.engine.models import load_backbone

        pool = self.pool or load_pool(self.spec)
        result = self._start(pool)
        finished = {point_key(q) for q in _points_as_keys(result)}
        todo = [p for p in plan(self.spec, len(pool.train)) if point_key(p) not in finished]
        backbone = self.backbone or load_backbone(self.spec.base.model)
        orders = {seed: stratified_order(pool.train, seed) for seed in self.spec.seeds}
        t0, elapsed0 = time.perf_counter(), float(result.get("elapsed_seconds", 0.0))
        for n, (mode, size, seed) in enumerate(todo):
            if self.stop is not None and self.stop.is_set():
                break
            data = point_data(pool, orders[seed], size, seed)
            cpu0 = time.process_time()
            record, cached = self._run_point(self.spec, (mode, size, seed), data, backbone)
            cpu_s = None if cached else time.process_time() - cpu0
            threads = None if cached else torch.get_num_threads()  # as the point's run set it
            if record.status != "completed":
                log.warning("%s n=%d seed %d ended %s: %s", mode, size, seed, record.status,
                            record.reason)
                if record.status == "stopped":
                    break
            point = {**point_summary(record, mode, size, seed, cached), "cpu_seconds": cpu_s,
                     "torch_threads": threads}
            result["points"].append(point)
            engine = result["engine"]
            engine["device"] = engine["device"] or record.device
            engine["torch_threads"] = threads_used(engine.get("torch_threads"), threads)
            result["elapsed_seconds"] = elapsed0 + time.perf_counter() - t0
            result["complete"] = n == len(todo) - 1
            self._save(result)
            if self.on_point is not None:
                left = todo[n + 1:]
                self.on_point(SweepProgress(len(result["points"]),
                                            len(result["points"]) + len(left), point,
                                            eta_seconds(result["points"], left),
                                            result["elapsed_seconds"]))
        result["complete"] = result["complete"] or not todo
        self._save(result)
        return result

    def _start(self, pool: TaskData) -> dict[str, Any]:
        """The sweep so far (from `out` when it holds this sweep), or a new one."""
        setup = self.spec.setup(pool)
        if self.out is not None and self.out.is_file():
            old = json.loads(self.out.read_text(encoding="utf-8"))
            if old.get("setup") != setup:
                raise SweepMismatch(
                    f"{self.out} holds a different sweep (other task, data, sizes or settings); "
                    "write to another --out file, or delete it to start again")
            # a diverged point is a result (fine-tuning can fail on small data); keep it
            old["points"] = [p for p in old.get("points", [])
                             if p.get("status") in ("completed", "diverged")]
            return old
        return {"version": SWEEP_VERSION, "kind": "learning-curves", "setup": setup,
                "engine": engine_info(threads=self.spec.base.threads), "points": [], "elapsed_seconds": 0.0,
                "complete": False}

    def _run_point(self, spec: SweepSpec, p: Point, data: TaskData, backbone: Any
                   ) -> tuple[RunRecord, bool]:
        """One point's record: from the run cache, or trained now (frozen ones share features)."""
        from bertviz_lite.engine.events import drain
        from bertviz_lite.engine.training import Trainer

        mode, size, seed = p
        config = point_config(spec, mode, size, seed)
        key = config_hash(config, data.fingerprint())
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is not None and hit.status == "completed":
            return hit, True
        self.features.register(data, f"seed={seed}")
        trainer = Trainer(config, backbone=backbone, data=data, stop=self.stop,
                          features=self.features)
        report = self.on_event
        record = drain(trainer.events(), None if report is None else lambda e: report(p, e))
        if self.cache is not None and record.status == "completed":
            self.cache.put(record)
        return record, False

    def _save(self, result: dict[str, Any]) -> None:
        if self.out is not None:
            write_json(self.out, result)


def _points_as_keys(result: dict[str, Any]) -> list[Point]:
    return [(str(p["mode"]), int(p["size"]), int(p["seed"])) for p in result["points"]]


def run_sweep(spec: SweepSpec, out: str | Path | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run (or resume) a sweep; see `Sweep`."""
    return Sweep(spec, Path(out) if out is not None else None, **kwargs).run()

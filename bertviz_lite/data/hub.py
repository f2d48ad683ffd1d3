"""Hugging Face Hub datasets through the optional `datasets` package (needs the network).

`hub:glue/sst2` loads `load_dataset("glue", "sst2")`; `hub:conll2003` loads `conll2003`.
Class-label columns are turned back into their names so the usual label checks apply.
"""

from __future__ import annotations

import logging
from typing import Any

from bertviz_lite.data.examples import DataError
from bertviz_lite.data.formats import Table

log = logging.getLogger(__name__)

VAL_SPLITS = ("validation", "dev", "valid", "test")


def _split_name(name: str) -> tuple[str, str | None]:
    path, _, config = name.partition("/")
    if path == "glue" and config:
        return "glue", config
    return name, None


def load_hub_tables(name: str, max_rows: int) -> tuple[Table, Table | None]:
    """Download a Hub dataset and return its train and validation splits as tables."""
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        raise DataError(
            "Hub datasets need the optional 'datasets' package: pip install 'bertviz-lite[hub]'",
            file=f"hub:{name}",
        ) from None
    path, config = _split_name(name)
    try:
        ds: Any = datasets.load_dataset(path, config)
    except Exception as err:  # network, unknown name, gated dataset: all user-facing
        raise DataError(
            f"could not load the Hub dataset ({type(err).__name__}: {err}). It needs the network "
            "(HF_HUB_OFFLINE must not be set); offline, use a local file instead",
            file=f"hub:{name}",
        ) from None
    if "train" not in ds:
        raise DataError(f"the dataset has no 'train' split (it has {list(ds)})", file=f"hub:{name}")
    val_name = next((s for s in VAL_SPLITS if s in ds), None)
    train = _to_table(ds["train"], f"hub:{name}[train]", max_rows)
    val = _to_table(ds[val_name], f"hub:{name}[{val_name}]", max_rows) if val_name else None
    return train, val


def _to_table(split: Any, label: str, max_rows: int) -> Table:
    """A `datasets.Dataset` -> Table, with ClassLabel ints mapped to names."""
    features = split.features
    names: dict[str, list[str]] = {}
    for col, feat in features.items():
        inner = getattr(feat, "feature", feat)  # Sequence(ClassLabel) for NER tags
        if hasattr(inner, "names"):
            names[col] = list(inner.names)
    n = min(len(split), max_rows)
    rows: list[tuple[int, dict[str, object]]] = []
    for i, rec in enumerate(split.select(range(n))):
        row = dict(rec)
        for col, col_names in names.items():
            value = row.get(col)
            if isinstance(value, list):
                row[col] = [col_names[v] for v in value]
            elif isinstance(value, int) and value >= 0:
                row[col] = col_names[value]
        rows.append((i + 1, row))
    log.info("loaded %d rows from %s", n, label)
    return Table(label, list(features), rows, class_names=names)

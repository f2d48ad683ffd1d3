"""Task data: example types, file formats, loaders and subsampling."""

from bertviz_lite.data.examples import (
    DataError,
    Example,
    PairExample,
    SentenceExample,
    TaskData,
    TokenExample,
)
from bertviz_lite.data.formats import ColumnMap
from bertviz_lite.data.load import load_bytes, load_file, load_task_data, subsample
from bertviz_lite.data.text import Limits

__all__ = [
    "ColumnMap",
    "DataError",
    "Example",
    "Limits",
    "PairExample",
    "SentenceExample",
    "TaskData",
    "TokenExample",
    "load_bytes",
    "load_file",
    "load_task_data",
    "subsample",
]

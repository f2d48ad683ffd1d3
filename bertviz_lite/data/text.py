"""Reading a data file as text, safely: size, encoding, binary content and row limits."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

from bertviz_lite.data.examples import DataError
from bertviz_lite.data.validate import text_problem


@dataclass(frozen=True)
class Limits:
    """What a loader accepts. The CLI is generous; a class server sets these lower."""

    max_bytes: int = 512 * 1024 * 1024  # whole file
    max_rows: int = 5_000_000  # examples (sentences for CoNLL)
    max_chars_per_field: int = 100_000  # one sentence or token


DEFAULT_LIMITS = Limits()


def _human(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"


def decode_bytes(raw: bytes, name: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """Bytes of an uploaded or local file -> text, refusing what no loader can parse.

    Strips a UTF-8 byte-order mark (GLUE's MRPC files have one) and normalises line ends.
    """
    if len(raw) > limits.max_bytes:
        raise DataError(
            f"file is {_human(len(raw))}, over the limit of {_human(limits.max_bytes)}; "
            "use a smaller file (a subsample is enough to see the effect)",
            file=name,
        )
    if not raw.strip():
        raise DataError("file is empty; it needs a header line and at least one example", file=name)
    if raw.startswith(UNICODE_BOMS):  # Excel's "Unicode text" is UTF-16 with a BOM
        return _decode_unicode(raw, name)
    if _looks_utf16(raw[:8192]):
        raise DataError("file looks like UTF-16 text without a byte-order mark; save it as "
                        "UTF-8 (in Excel: CSV UTF-8) and try again", file=name)
    if b"\x00" in raw[:8192]:
        raise DataError(
            "file looks binary (it contains NUL bytes); expected UTF-8 text such as TSV, CSV, "
            "JSONL or CoNLL columns",
            file=name,
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"not valid UTF-8 (byte 0x{raw[err.start]:02x}); save the file as UTF-8 and try again",
            file=name,
            line=line,
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


UNICODE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE,
                codecs.BOM_UTF16_BE)


def _decode_unicode(raw: bytes, name: str) -> str:
    """UTF-16 or UTF-32 text with a byte-order mark (UTF-32's comes first: it starts with
    UTF-16's) -> text with normalised line ends."""
    codec = "utf-32" if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)) else "utf-16"
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError:
        raise DataError(f"file starts like {codec.upper()} text but is not valid "
                        f"{codec.upper()}: save it as UTF-8 and try again", file=name) from None
    if "\x00" in text:
        raise DataError("file looks binary (it contains NUL characters); expected text such "
                        "as TSV, CSV, JSONL or CoNLL columns", file=name)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _looks_utf16(head: bytes) -> bool:
    """Text of ASCII letters in UTF-16 without a BOM: every other byte is NUL."""
    if len(head) < 16:
        return False
    even, odd = head[0::2], head[1::2]
    return odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even) or \
        even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd)


def checked_size(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> int:
    """A local file's size in bytes, once it is known to exist, to be a regular file and to
    be within `limits.max_bytes` (DataError otherwise, naming the file)."""
    p = Path(path)
    if not p.exists():
        raise DataError("file not found; check the path", file=str(p))
    if not p.is_file():
        raise DataError("not a regular file", file=str(p))
    size = p.stat().st_size
    if size > limits.max_bytes:
        raise DataError(
            f"file is {_human(size)}, over the limit of {_human(limits.max_bytes)}", file=str(p)
        )
    return size


def read_text(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> str:
    """Read a local file as text with the checks of `checked_size` and `decode_bytes`."""
    checked_size(path, limits)
    return decode_bytes(Path(path).read_bytes(), str(path), limits)


def check_field(value: str, name: str, line: int, what: str, limits: Limits,
                need_visible: bool = True) -> str:
    """Strip a text field and refuse an empty, oversized or invalid (lone surrogate) one, and
    one without a visible character unless `need_visible` is False (NER tokens)."""
    value = value.strip()
    if not value:
        raise DataError(f"{what} is empty", file=name, line=line)
    problem = text_problem(value, need_visible)
    if problem:
        raise DataError(f"{what} {problem}", file=name, line=line)
    if len(value) > limits.max_chars_per_field:
        raise DataError(
            f"{what} has {len(value):,} characters, over the limit of "
            f"{limits.max_chars_per_field:,}",
            file=name,
            line=line,
        )
    return value


def check_rows(n: int, name: str, limits: Limits) -> None:
    """Refuse files with more examples than allowed."""
    if n > limits.max_rows:
        raise DataError(
            f"file has more than {limits.max_rows:,} examples; use a smaller file", file=name
        )

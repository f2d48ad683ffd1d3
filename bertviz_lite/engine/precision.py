"""Numeric precision of a run: which one, decided from what the hardware can do, and the
autocast context every forward pass of the engine runs in.

bf16 here is *autocast only*: weights, gradients and optimizer state stay fp32. Under
`torch.autocast(..., dtype=torch.bfloat16)` matrix multiplies read bf16 copies of the fp32
weights and activations; the backward pass accumulates the weight gradients into the fp32
`p.grad`, so the gradient norms a run records are still norms of the real gradients.

`choose_precision` is a pure function of (requested, device type, capabilities), so a CPU
without bf16 is tested by passing capabilities, not by patching torch.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from bertviz_lite.engine.config import PRECISIONS, ConfigError

log = logging.getLogger(__name__)



# "0": `auto` treats this CPU as one without native bf16 and runs fp32 (the test suite sets it,
# so its cost and its numbers are the same on every CPU; a lecturer may want the same).
CPU_BF16_ENV = "BERTVIZ_CPU_BF16"


def cpu_bf16_turned_off() -> bool:
    """True where BERTVIZ_CPU_BF16=0 asks `auto` never to pick bf16 on the CPU."""
    return os.environ.get(CPU_BF16_ENV, "").strip() == "0"


class PrecisionError(ConfigError):
    """A precision this device cannot run; the message says what to use instead."""


@dataclass(frozen=True)
class Capabilities:
    """What the hardware offers for fast bf16 (detected by `detect_capabilities`)."""

    cuda_bf16: bool = False  # torch.cuda.is_bf16_supported() (Ampere and later)
    cpu_amx: bool = False  # Intel AMX tiles (Sapphire Rapids and later Xeons)
    cpu_avx512_bf16: bool = False  # AVX512-BF16 dot products (Cooper Lake, Zen 4 and later)

    @property
    def cpu_bf16(self) -> bool:
        """A CPU with native bf16 matrix instructions."""
        return self.cpu_amx or self.cpu_avx512_bf16


def choose_precision(requested: str, device_type: str, caps: Capabilities) -> str:
    """`auto` -> bf16 where the device runs bf16 matmuls natively, else fp32.

    requested: auto | fp32 | bf16; device_type: cpu | cuda | mps. An explicit choice is kept
    (bf16 on a CPU without it runs, emulated and slower; on a GPU without it is an error).
    """
    if requested not in PRECISIONS:
        raise PrecisionError(f"precision must be one of {', '.join(PRECISIONS)}; got {requested!r}")
    if requested == "bf16" and device_type == "cuda" and not caps.cuda_bf16:
        raise PrecisionError("this GPU has no bf16 support; use --precision fp32 or auto")
    if requested != "auto":
        return requested
    if device_type == "cuda":
        return "bf16" if caps.cuda_bf16 else "fp32"
    if device_type == "cpu":
        return "bf16" if caps.cpu_bf16 else "fp32"
    return "fp32"  # mps and anything else: fp32 (no fast bf16 path we rely on)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return set()


def _torch_cpu_check(name: str) -> bool | None:
    """torch's own CPU check (private API: None where this torch lacks it or it fails)."""
    check = getattr(torch.cpu, name, None)
    if check is None:
        return None
    try:
        return bool(check())
    except Exception:  # noqa: BLE001 - a private API may break in any way; fall back
        return None


@lru_cache(maxsize=4)
def detect_capabilities(device_type: str) -> Capabilities:
    """What this machine offers for the device type (torch's checks, /proc/cpuinfo fallback);
    on the CPU nothing where BERTVIZ_CPU_BF16=0. Cached: read once per process."""
    if device_type == "cuda":
        ok = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return Capabilities(cuda_bf16=bool(ok))
    if device_type != "cpu" or cpu_bf16_turned_off():
        return Capabilities()
    flags = cpu_flags()
    amx = _torch_cpu_check("_is_amx_tile_supported")
    avx = _torch_cpu_check("_is_avx512_bf16_supported")
    return Capabilities(
        cpu_amx=amx if amx is not None else bool({"amx_bf16", "amx_tile"} & flags),
        cpu_avx512_bf16=avx if avx is not None else "avx512_bf16" in flags)


def vector_flags(flags: set[str]) -> list[str]:
    """The CPU's vector-instruction flags (sse4/avx/avx2/avx512*/amx*/fma, sorted): what a
    report names when it says why bf16 was or was not measured."""
    keep = ("avx", "amx", "fma", "sse4", "f16c")
    return sorted(f for f in flags if f.startswith(keep))


def emulated_bf16_note(requested: str, device_type: str,
                       caps: Capabilities, flags: set[str]) -> str | None:
    """One line for a person who asked for bf16 on a CPU that only emulates it, else None.

    requested: the precision asked for (auto | fp32 | bf16); `auto` never picks emulated bf16.
    """
    if requested != "bf16" or device_type != "cpu" or caps.cpu_bf16:
        return None
    seen = ", ".join(vector_flags(flags)) or "none reported"
    return ("bf16 on this CPU is emulated (no AMX or AVX512-BF16; vector flags seen: "
            f"{seen}): it runs, many times slower than fp32; use --precision auto or fp32")


@lru_cache(maxsize=8)
def _warn_once(note: str) -> None:
    """Log `note` once per process (a sweep of 30 runs says it once, not 30 times)."""
    log.warning(note)


def resolve_precision(requested: str, device: torch.device) -> str:
    """The precision a run on `device` uses: fp32 or bf16 (never auto)."""
    caps = detect_capabilities(device.type)
    chosen = choose_precision(requested, device.type, caps)
    note = emulated_bf16_note(requested, device.type, caps, cpu_flags())
    if note:
        _warn_once(note)
    return chosen


def feature_dtype(precision: str) -> torch.dtype:
    """dtype frozen features are kept in: the precision they were computed in."""
    return torch.bfloat16 if precision == "bf16" else torch.float32


@contextlib.contextmanager
def autocast(precision: str, device: torch.device) -> Iterator[None]:
    """bf16 autocast for `precision == "bf16"`, nothing for fp32 (weights stay fp32)."""
    if precision != "bf16":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        yield

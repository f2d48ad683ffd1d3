"""The modes: what trains in a run. One registry entry per mode; everything else asks it.

A mode says which parameters train (per phase: LP-FT and gradual unfreezing change the set as
the run goes), which modules it adds to the encoder (LoRA, adapters), whether the encoder's features can
be computed once and reused (only when no encoder weight ever trains), its label, colours and
caption, how its checkpoint is saved, its CLI spelling and how a spelling is parsed.

Modes act only through `requires_grad` and the optimizer's parameter groups (every parameter
that trains in any phase is in the optimizer; AdamW skips a parameter without a gradient), so
there is one training loop for all of them. `ModePlan` applies a mode to one model's groups.

Adding a mode is one `register(Mode(...))` call: the config, the CLI, the app's mode picker,
the figures' colours, checkpoints and the run record all read it from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bertviz_lite.engine.errors import ConfigError

if TYPE_CHECKING:  # the registry itself imports no torch (figures and the CLI read it)
    from torch import nn

    from bertviz_lite.engine.groups import LayerGroup

RunConfig = Any  # a RunConfig (engine/config.py sits above this registry and imports it)

FROZEN = "frozen"  # the lecture's two points: BERT fixed, only the head learns ...
FINETUNE = "finetune"  # ... and every layer learns

ParamFilter = Callable[[str, str], bool]  # (group name, parameter name in the group) -> trains
Checkpoint = Literal["head", "trained", "full"]  # what a saved checkpoint holds


@dataclass(frozen=True)
class Phase:
    """One stretch of a run with a fixed set of trainable parameters.

    start: the fraction of the run's steps done when the phase begins (0.0 for the first);
    label: what trains, in words; trains: the filter over (group, parameter name).
    """

    start: float
    label: str
    trains: ParamFilter


PhaseRule = Callable[[str, "RunConfig", Sequence[str]], list[Phase]]  # (spelling, config, groups)


def _no_modules(encoder: nn.Module, config: RunConfig) -> None:
    """Most modes add nothing to the encoder."""


@dataclass(frozen=True)
class Mode:
    """One registry entry: a mode, or a family of modes with a parameter (top-K).

    name: the key, the picker's option and the URL value ("top-k"); label: for people;
    summary: the picker's caption; cli: how the CLI help spells it ("top-K (e.g. top-2)");
    pattern: a regex that matches exactly the mode strings of this entry (group 1: its
    parameter); colours: (default, presenter) hex pairs, cycled by a mode's position where a
    family shows several (top-2 beside top-4); phases: what trains, phase by phase;
    cache_features: the encoder never trains, so its outputs can be computed once;
    checkpoint: "head" (the head only, the encoder is the pretrained one), "trained" (the
    parameters that trained, the rest pretrained) or "full" (the whole task model);
    options: the RunConfig fields only this mode reads (left out of other modes' run keys);
    adds: puts the mode's own modules into the encoder (LoRA's matrices), before it trains
    and before a checkpoint loads; takes_k: the picker asks for K (spelled by `spell`);
    dark: its colour on the dark themes' background (at least 7:1), or None for its own
    colour lightened until it reads there.
    """

    name: str
    label: str
    summary: str
    cli: str
    pattern: str
    colours: tuple[tuple[str, str], ...]
    phases: PhaseRule
    cache_features: bool = False
    checkpoint: Checkpoint = "full"
    options: tuple[str, ...] = ()
    adds: Callable[[nn.Module, RunConfig], None] = _no_modules
    takes_k: bool = False
    citation: str = ""
    dark: str | None = None

    def matches(self, spelling: str) -> re.Match[str] | None:
        """The match of a mode string of this entry, or None."""
        return re.fullmatch(self.pattern, spelling)

    def spell(self, k: int | None = None) -> str:
        """The mode string the picker makes: the name, or with K for a family (top-2)."""
        return self.name.replace("-k", f"-{k}") if self.takes_k and k is not None else self.name

    def colour(self, presenter: bool = False, index: int = 0) -> str:
        """The mode's colour on a figure (presenter: the darker 7:1 variant); index: its
        position among the modes shown, to tell two of one family apart."""
        pair = self.colours[index % len(self.colours)]
        return pair[1] if presenter else pair[0]


_REGISTRY: dict[str, Mode] = {}


def register(mode: Mode) -> Mode:
    """Add a mode (its name must be new); returns it."""
    if mode.name in _REGISTRY:
        raise ValueError(f"mode {mode.name!r} is registered already")
    _REGISTRY[mode.name] = mode
    return mode


def unregister(name: str) -> None:
    """Remove a mode (tests add toy modes and take them away again)."""
    _REGISTRY.pop(name, None)


@contextmanager
def registered(mode: Mode) -> Iterator[Mode]:
    """A mode registered for the duration of a `with` block."""
    register(mode)
    try:
        yield mode
    finally:
        unregister(mode.name)


def all_modes() -> list[Mode]:
    """Every registered mode, in the order registered (the picker's order)."""
    return list(_REGISTRY.values())


def cli_spellings() -> list[str]:
    """How the CLI help spells each mode: frozen, finetune, top-K (e.g. top-2), lora, ..."""
    return [m.cli for m in _REGISTRY.values()]


def find_mode(spelling: str) -> Mode | None:
    """The entry a mode string belongs to, or None."""
    if not isinstance(spelling, str):
        return None
    return next((m for m in _REGISTRY.values() if m.matches(spelling)), None)


def mode_of(spelling: str) -> Mode:
    """The entry a mode string belongs to; ConfigError naming every spelling otherwise."""
    found = find_mode(spelling)
    if found is None:
        raise ConfigError(f"mode must be one of {', '.join(cli_spellings())}; "
                          f"not {spelling!r:.60}")
    if found.takes_k and int(found.matches(spelling).group(1)) == 0:  # type: ignore[union-attr]
        # it ran as frozen under another name, and its tables then showed a "top-0" mode
        raise ConfigError(f"{spelling} trains no BERT layer: that is frozen (the head alone); "
                          "use frozen, or top-1 and up")
    return found


def top_layers(spelling: str) -> int | None:
    """How many top encoder layers train as whole layers: 0 frozen, K top-K, None otherwise
    (every layer trains, or part of every layer: BitFit, LoRA, a schedule). Raises
    ConfigError for an unknown mode (this is `parse_mode`)."""
    mode = mode_of(spelling)
    if mode.name == FROZEN:
        return 0
    if mode.takes_k:
        return int(mode.matches(spelling).group(1))  # type: ignore[union-attr]
    return None


def label_of(spelling: str) -> str:
    """A mode string in words for legends and tables: "LoRA", "top-2 layers", "frozen"."""
    mode = find_mode(spelling)
    if mode is None:
        return spelling
    return mode.label.replace("K", spelling.split("-")[-1]) if mode.takes_k else mode.label


# -- phase rules ---------------------------------------------------------------------------
def _layers(groups: Sequence[str]) -> list[str]:
    return [g for g in groups if g.startswith("layer.")]


def top_k_groups(groups: Sequence[str], k: int | None) -> set[str]:
    """engine.groups.top_k_groups (imported when a run is planned: it needs torch)."""
    from bertviz_lite.engine.groups import top_k_groups as groups_of_top_k

    return groups_of_top_k(groups, k)


def _whole(groups: set[str]) -> ParamFilter:
    return lambda group, name: group in groups


def _frozen(spelling: str, config: RunConfig, groups: Sequence[str]) -> list[Phase]:
    return [Phase(0.0, "the head only", _whole({"head"}))]


def _finetune(spelling: str, config: RunConfig, groups: Sequence[str]) -> list[Phase]:
    return [Phase(0.0, "every group", _whole(set(groups)))]


def _top_k(spelling: str, config: RunConfig, groups: Sequence[str]) -> list[Phase]:
    k = top_layers(spelling)
    return [Phase(0.0, f"the top {k} layers and the head", _whole(top_k_groups(groups, k)))]


def _bitfit(spelling: str, config: RunConfig, groups: Sequence[str]) -> list[Phase]:
    return [Phase(0.0, "every bias and the head",
                  lambda group, name: group == "head" or name.endswith("bias"))]


def _lora(spelling: str, config: RunConfig, groups: Sequence[str]) -> list[Phase]:
    return [Phase(0.0, "the LoRA matrices and the head",
                  lambda group, name: group == "head" or ".lora_" in f".{name}")]


def _adapters(spelling: str, config: RunConfig, groups: Sequence[str]) -> list[Phase]:
    """Houlsby et al. train the adapters, every layer norm and the head."""
    from bertviz_lite.engine.adapters import is_adapter_param

    return [Phase(0.0, "the adapters, the layer norms and the head",
                  lambda group, name: group == "head" or is_adapter_param(name)
                  or "LayerNorm" in name)]


def _lp_ft(spelling: str, config: RunConfig, groups: Sequence[str]) -> list[Phase]:
    return [Phase(0.0, "linear probe: the head only", _whole({"head"})),
            Phase(config.lp_fraction, "fine-tune: every group", _whole(set(groups)))]


def _gradual(spelling: str, config: RunConfig, groups: Sequence[str]) -> list[Phase]:
    """Head only, then one more layer from the top per 1/(L+1) of the steps; the last phase
    trains everything (the embeddings too)."""
    n = len(_layers(groups))
    out = [Phase(k / (n + 1), f"the top {k} layers and the head" if k else "the head only",
                 _whole(top_k_groups(groups, k))) for k in range(n)]
    return [*out, Phase(n / (n + 1), "every group", _whole(set(groups)))]


def _add_lora(encoder: nn.Module, config: RunConfig) -> None:
    """LoRA matrices (Hu et al. 2021) beside the target projections of every layer, by peft."""
    from peft import LoraConfig, inject_adapter_in_model

    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=list(config.lora_targets),
                      bias="none")
    try:
        inject_adapter_in_model(lora, encoder)
    except ValueError as err:
        raise ConfigError(f"LoRA target modules {', '.join(config.lora_targets)} are not in "
                          f"this model ({err}); name its attention projections, e.g. query,value "
                          "for BERT or q_lin,v_lin for DistilBERT") from None


def _add_adapters(encoder: nn.Module, config: RunConfig) -> None:
    """Bottleneck adapters (Houlsby et al. 2019) after each block's output projection."""
    from bertviz_lite.engine.adapters import add_adapters

    add_adapters(encoder, config.adapter_size)


# Colours: Okabe-Ito hues (Okabe & Ito 2008), darkened to WCAG AA (default) and 7:1
# (presenter) on white; tests/test_palette.py checks contrast and colour-vision distinctness.
FROZEN_COLOURS = (("#167DAD", "#0E5E83"),)  # sky blue
FINETUNE_COLOURS = (("#C0570B", "#8F430F"),)  # vermillion
TOP_K_COLOURS = (("#004D38", "#00382A"), ("#5B2A4E", "#45203D"))  # dark green, plum
# On the dark themes (#0E1117): the lecture's modes take the dark palette's Okabe-Ito hues
# (figures/theme.py); the spectrum's modes these, each in its light colour's hue family, at
# least 7:1, and picked together (a search over a 16-step RGB grid) so that every registered
# mode and the text stay 10 CAM02-UCS units apart under normal vision, deuteranopia,
# protanopia and tritanopia (10.2 at the closest pair).
DARK_COLOURS = {"bitfit": "#CC9977", "lora": "#BBBBCC", "adapters": "#EEBBBB",
                "lp-ft": "#AA99BB", "gradual": "#CCDDFF"}

for _mode in (
    Mode(FROZEN, "frozen", "Only the task head learns; BERT's weights stay fixed.", FROZEN,
         FROZEN, FROZEN_COLOURS, _frozen, cache_features=True, checkpoint="head"),
    Mode("top-k", "top-K layers", "The top k BERT layers and the head learn; the rest stay "
         "fixed.", "top-K (e.g. top-2)", r"top-(\d+)", TOP_K_COLOURS, _top_k, takes_k=True),
    Mode(FINETUNE, "fine-tuned", "Every BERT layer and the head learn.", FINETUNE, FINETUNE,
         FINETUNE_COLOURS, _finetune),
    Mode("bitfit", "BitFit", "Only the biases of every layer (and the head) learn: about 0.1% "
         "of BERT's weights.", "bitfit", "bitfit", (("#8F3600", "#662600"),), _bitfit,
         checkpoint="trained", citation="Ben Zaken, Ravfogel & Goldberg (2022)",
         dark=DARK_COLOURS["bitfit"]),
    Mode("lora", "LoRA", "Small low-rank matrices beside each layer's query and value "
         "projections (and the head) learn; BERT's own weights stay fixed, yet the gradient "
         "travels through every layer to reach them.", "lora (--lora-rank, --lora-alpha, "
         "--lora-dropout, --lora-targets)", "lora", (("#5700AD", "#7500EB"),), _lora,
         checkpoint="trained", adds=_add_lora,
         options=("lora_rank", "lora_alpha", "lora_dropout", "lora_targets"),
         citation="Hu et al. (2021), via the peft library", dark=DARK_COLOURS["lora"]),
    Mode("adapters", "adapters", "Small bottleneck layers after each layer's attention and "
         "feed-forward blocks (with the layer norms and the head) learn; BERT's own weights "
         "stay fixed.", "adapters (--adapter-size)", "adapters", (("#996666", "#665555"),),
         _adapters, checkpoint="trained", adds=_add_adapters, options=("adapter_size",),
         citation="Houlsby et al. (2019)", dark=DARK_COLOURS["adapters"]),
    Mode("lp-ft", "LP-FT", "First the head learns on the frozen encoder (a linear probe), then "
         "everything learns.", "lp-ft (--lp-fraction)", "lp-ft", (("#3D0036", "#29001F"),),
         _lp_ft, options=("lp_fraction",), citation="Kumar et al. (2022)",
         dark=DARK_COLOURS["lp-ft"]),
    Mode("gradual", "gradual unfreezing", "The head learns first; one more layer from the top "
         "joins at each 1/(L+1) of the steps, the embeddings last.", "gradual",
         "gradual", (("#1432FF", "#0014A3"),), _gradual, citation="Howard & Ruder (2018), ULMFiT",
         dark=DARK_COLOURS["gradual"]),
):
    register(_mode)

__all__ = ["FINETUNE", "FROZEN", "Mode", "ModePlan", "Phase", "all_modes", "cli_spellings",
           "find_mode", "label_of", "mode_of", "register", "registered", "top_layers",
           "unregister"]


# -- a mode applied to one model -----------------------------------------------------------
@dataclass
class ModePlan:
    """A mode applied to one model's groups: each phase's trainable parameters, the phases
    placed on the run's steps, and `requires_grad` switched as the run enters each phase."""

    spelling: str
    phases: list[Phase]
    groups: list[LayerGroup]
    sets: list[set[int]] = field(default_factory=list)  # ids of the parameters per phase
    starts: list[int] = field(default_factory=list)  # 0-based first step of each phase
    current: int = -1

    @classmethod
    def build(cls, config: RunConfig, groups: list[LayerGroup]) -> ModePlan:
        """The plan of `config.mode` over `groups` (the mode's modules already added)."""
        names = [g.name for g in groups]
        plan = cls(config.mode, mode_of(config.mode).phases(config.mode, config, names), groups)
        plan.sets = [{id(p) for g in groups for n, p in g.named_parameters() if ph.trains(g.name, n)}
                     for ph in plan.phases]
        plan.starts = [0] * len(plan.phases)
        return plan

    @property
    def union(self) -> set[int]:
        """Ids of every parameter that trains in some phase (the optimizer holds these)."""
        return set().union(*self.sets) if self.sets else set()

    def schedule(self, total_steps: int) -> None:
        """Place the phases on a run of `total_steps` steps."""
        self.starts = [min(total_steps, round(ph.start * total_steps)) for ph in self.phases]

    def phase_at(self, step: int) -> int:
        """The phase a 0-based step is in."""
        return max(i for i, s in enumerate(self.starts) if s <= step) if self.starts else 0

    def set_union(self) -> None:
        """`requires_grad` on every parameter that trains in any phase (to build the optimizer
        and the gradient instruments over all of them)."""
        self._set(self.union)

    def enter(self, step: int) -> bool:
        """Switch `requires_grad` to the phase of `step`; True when the phase changed."""
        phase = self.phase_at(step)
        if phase == self.current:
            return False
        self.current = phase
        self._set(self.sets[phase])
        return True

    def _set(self, ids: set[int]) -> None:
        for g in self.groups:
            for p in g.parameters():
                p.requires_grad_(id(p) in ids)

    def trainable_groups(self, phase: int | None = None) -> list[str]:
        """Groups with at least one parameter that trains in `phase` (None: in any phase)."""
        ids = self.union if phase is None else self.sets[phase]
        return [g.name for g in self.groups if any(id(p) in ids for p in g.parameters())]

    def frozen_modules(self, phase: int | None = None) -> list[nn.Module]:
        """Modules of groups with nothing to train in `phase` (kept in eval mode: no dropout)."""
        learning = set(self.trainable_groups(phase))
        return [m for g in self.groups if g.name not in learning for m in g.modules]

    def trained(self) -> dict[str, dict[str, Any]]:
        """{group: {"params": scalar weights that train, "tensors": their names}} over every
        phase; a group where nothing trains is {"params": 0, "tensors": []}."""
        ids = self.union
        out: dict[str, dict[str, Any]] = {}
        for g in self.groups:
            named = [(n, p) for n, p in g.named_parameters() if id(p) in ids]
            out[g.name] = {"params": sum(p.numel() for _, p in named),
                           "tensors": [n for n, _ in named]}
        return out

    def record_phases(self) -> list[dict[str, Any]]:
        """The phases as the run record writes them: first step (1-based), words, groups."""
        return [{"step": s + 1, "label": ph.label, "trainable_groups": self.trainable_groups(i)}
                for i, (s, ph) in enumerate(zip(self.starts, self.phases))]

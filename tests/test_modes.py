"""The mode registry (engine/modes.py): one entry drives the config, the CLI, the app's mode
picker, the figures' colours and the run keys; the lecture's modes keep their old keys."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from bertviz_lite.cli.main import build_parser
from bertviz_lite.engine import modes
from bertviz_lite.engine.config import ConfigError, RunConfig, config_hash, parse_mode
from bertviz_lite.engine.modes import FINETUNE, FROZEN, Mode, Phase, mode_of, registered
from bertviz_lite.figures.theme import DEFAULT_THEME, PRESENTER_THEME, mode_colour
from bertviz_lite.record.provenance import engine_version
from bertviz_lite.record.runs import RunRecord
from tests.conftest import REPO, app_settings, page_path

# the toy mode: the top layer's LayerNorms and the head train (one entry, nothing else)
TOY = Mode("toy-norms", "toy: norms", "Only the top layer's LayerNorm weights and the head learn.",
           "toy-norms", "toy-norms", (("#222222", "#111111"),),
           lambda spelling, config, groups: [Phase(0.0, "top LayerNorms and the head", lambda g, n:
                                                   g == "head" or (g == groups[-2] and "LayerNorm" in n))])

# RunConfig's fields before the registry: their run keys must not change
OLD_FIELDS = ("task", "mode", "model", "data", "train_file", "eval_file", "max_train", "max_eval",
              "epochs", "steps", "batch_size", "lr", "head_lr", "weight_decay", "warmup",
              "max_grad_norm", "seed", "device", "max_length", "head", "pooling",
              "pair_encoding", "evals_per_epoch", "train_eval_size", "cache_features",
              "grad_flow", "precision", "extra")


def _old_hash(config: RunConfig, fingerprint: str) -> str:
    """config_hash as it was computed before the registry (the old fields only)."""
    d = {k: v for k, v in config.to_dict().items() if k in OLD_FIELDS}
    payload = json.dumps(d, sort_keys=True) + "|" + fingerprint + "|" + engine_version()
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@pytest.mark.parametrize("mode", ["frozen", "finetune", "top-2"])
def test_the_lecture_modes_keep_their_run_keys(mode):
    config = RunConfig(task="paraphrase", mode=mode, max_train=64)
    assert config_hash(config, "abc") == _old_hash(config, "abc")


def test_recorded_lecture_runs_still_parse_and_name_their_entries():
    for path in sorted((REPO / "assets" / "runs").glob("*-*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        if "config" not in rec:
            continue
        config = RunConfig.from_dict(rec["config"])  # every mode it names is registered
        assert mode_of(config.mode).name in {m.name for m in modes.all_modes()}, path.name


def test_parse_mode_is_the_registry_spoken_as_top_k():
    assert (parse_mode("frozen"), parse_mode("top-3"), parse_mode("finetune")) == (0, 3, None)
    with pytest.raises(ConfigError, match="top-K"):
        parse_mode("half")
    with pytest.raises(ConfigError):
        parse_mode(3)  # type: ignore[arg-type]
    for spelling in ("top-0", "top-00"):  # it ran as frozen under another name
        with pytest.raises(ConfigError, match="trains no BERT layer: that is frozen"):
            parse_mode(spelling)
    with pytest.raises(ConfigError, match="trains no BERT layer"):
        RunConfig(task="sentiment", mode="top-0").validate()


def test_what_each_lecture_mode_says():
    assert mode_of(FROZEN).cache_features and mode_of(FROZEN).checkpoint == "head"
    assert not mode_of(FINETUNE).cache_features and mode_of(FINETUNE).checkpoint == "full"
    assert mode_of("top-4").spell(4) == "top-4" and mode_of("top-4").name == "top-k"
    assert modes.label_of("top-4") == "top-4 layers"
    assert RunConfig(task="paraphrase").separate_pairs  # frozen: cached sentence features
    assert not RunConfig(task="paraphrase", mode="top-1").separate_pairs
    with pytest.raises(ConfigError, match="task-model head"):
        RunConfig(mode="top-1", head="task-model")


def test_a_registered_mode_reaches_config_cli_colours_and_keys():
    assert modes.find_mode("toy-norms") is None
    with registered(TOY):
        config = RunConfig(task="sentiment", mode="toy-norms")
        assert parse_mode("toy-norms") is None and not config.separate_pairs
        train = build_parser()._subparsers._group_actions[0].choices["train"]  # noqa: SLF001
        assert "toy-norms" in train.format_help()
        assert mode_colour("toy-norms", DEFAULT_THEME) == "#222222"
        assert mode_colour("toy-norms", PRESENTER_THEME) == "#111111"
        assert config_hash(config) != config_hash(config.replace(mode="finetune"))
    assert modes.find_mode("toy-norms") is None
    with pytest.raises(ConfigError):
        RunConfig(mode="toy-norms")


def test_a_registered_mode_trains_what_it_says(tiny_backbone):
    from bertviz_lite.engine.training import Trainer

    with registered(TOY):
        config = RunConfig(task="sentiment", mode="toy-norms", model=tiny_backbone.name,
                           max_train=16, max_eval=8, steps=2, evals_per_epoch=0)
        trainer = Trainer(config, backbone=tiny_backbone)
        rec = list(trainer.events())[-1]
    assert rec.frozen_groups == ["embeddings", "layer.0"]
    norms = rec.steps[-1].grad_norm
    assert norms["embeddings"] == 0.0 and norms["layer.0"] == 0.0
    assert norms["layer.1"] > 0.0 and norms["head"] > 0.0
    top = dict(trainer.model.groups[2].named_parameters())
    assert {n for n, p in top.items() if p.requires_grad} == {
        "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
        "output.LayerNorm.weight", "output.LayerNorm.bias"}


def test_the_mode_picker_offers_every_registered_mode(tiny_model_dir, tmp_path):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    env = {"BERTVIZ_MODELS": f"tiny={tiny_model_dir}", "BERTVIZ_HOME": str(tmp_path)}
    with registered(TOY), app_settings(env):
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
        at.run()
        at.switch_page(page_path("backprop")).run()
        picker = at.segmented_control(key="mode")
        assert [m.name for m in modes.all_modes()] == list(picker.options)
        picker.set_value("toy-norms").run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("top layer's LayerNorm" in c.value for c in at.caption)


# -- the spectrum beyond frozen and fine-tuned: BitFit, LoRA, LP-FT, gradual unfreezing -----
def _pretrained(backbone) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in backbone.encoder.state_dict().items()}


def _run(backbone, mode: str, steps: int = 4, hook=None, **options):
    from bertviz_lite.engine.training import Trainer

    config = RunConfig(task="sentiment", mode=mode, model=backbone.name, max_train=32,
                       max_eval=8, steps=steps, batch_size=8, evals_per_epoch=0, **options)
    trainer = Trainer(config, backbone=backbone, after_backward=hook)
    return trainer, list(trainer.events())[-1]


def _torch_norms(trainer) -> dict[str, float]:
    """Each group's norm over the gradients of its parameters that train, from p.grad."""
    out = {}
    for g in trainer.model.groups:
        grads = [p.grad.flatten() for p in g.parameters() if p.requires_grad and p.grad is not None]
        out[g.name] = float(torch.linalg.vector_norm(torch.cat(grads))) if grads else 0.0
    return out


def test_lora_trains_its_matrices_and_leaves_every_pretrained_weight_bit_identical(tiny_backbone):
    before = _pretrained(tiny_backbone)
    seen = []
    trainer, rec = _run(tiny_backbone, "lora", lora_rank=4, lora_alpha=8,
                        hook=lambda t, norms: seen.append((norms, _torch_norms(t))))
    assert rec.status == "completed"
    after = trainer.model.encoder.state_dict()
    lora = {k: v for k, v in after.items() if "lora_" in k}
    assert lora and all(k.endswith(("lora_A.default.weight", "lora_B.default.weight")) for k in lora)
    for key, value in after.items():
        if "lora_" not in key:  # every pretrained weight, exactly as it was
            assert torch.equal(value, before[key.replace(".base_layer", "")]), key
    assert any(v.abs().sum() > 0 for k, v in lora.items() if "lora_B" in k)  # B starts at 0
    # grad_norm[group]: the adapters in that layer, exactly what torch says; 0.0 where none
    for recorded, direct in seen:
        assert recorded == pytest.approx(direct, rel=1e-5, abs=1e-12)
        assert recorded["embeddings"] == 0.0 and recorded["layer.0"] > 0.0
    # the backward sweep: the gradient passes the frozen weights of layer.1 to reach layer.0
    signal = rec.sweeps[0]["signal"]
    assert signal["layer.0"] > 0.0 and signal["embeddings"] == 0.0
    assert rec.frozen_groups == ["embeddings"]
    per_layer = rec.trained_params["layer.0"]
    assert per_layer["params"] == 2 * (4 * 32 + 32 * 4)  # query and value: A (4x32), B (32x4)
    assert sorted(per_layer["tensors"])[0] == "attention.self.query.lora_A.default.weight"
    assert sum(g["params"] for g in rec.trained_params.values()) == rec.trainable_params
    assert rec.config["lora_rank"] == 4


def test_a_lora_checkpoint_holds_only_the_adapters_and_the_head(tiny_backbone, tmp_path):
    from bertviz_lite.engine.checkpoints import load_task_model, save_task_model

    trainer, rec = _run(tiny_backbone, "lora", steps=2)
    folder = save_task_model(trainer.model, trainer.config, trainer.data.label_names, tmp_path)
    size = (folder / "model.safetensors").stat().st_size
    assert size < 0.05 * sum(p.numel() * 4 for p in trainer.model.parameters())
    assert 0 < size - rec.checkpoint_mb * 2**20 < 4096  # the weights, plus safetensors' header
    loaded = load_task_model(folder, tiny_backbone).model
    trained = trainer.model.eval().state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, trained[key]), key


def test_adapters_start_as_the_identity_and_train_beside_fixed_weights(tiny_backbone):
    """Houlsby adapters: before a step the adapted encoder computes exactly the pretrained
    one; training changes the adapters and the layer norms only, and grad_norm[group] is
    torch's norm over exactly those."""
    from bertviz_lite.engine.adapters import add_adapters, is_adapter_param, output_projections

    before = _pretrained(tiny_backbone)
    seen = []
    trainer, rec = _run(tiny_backbone, "adapters", adapter_size=4,
                        hook=lambda t, norms: seen.append((norms, _torch_norms(t))))
    assert rec.status == "completed" and rec.config["adapter_size"] == 4
    after = trainer.model.encoder.state_dict()
    adapters = {k for k in after if is_adapter_param(k)}
    layers = sum(g.startswith("layer.") for g in rec.groups)
    assert len(adapters) == 2 * layers * 4  # two per layer: down and up, weight and bias
    for key, value in after.items():
        if key not in adapters and "LayerNorm" not in key:  # every pretrained weight, as it was
            assert torch.equal(value, before[key]), key
    assert any(not torch.equal(after[k], before[k]) for k in after if "LayerNorm" in k)
    assert all(after[k].abs().sum() > 0 for k in adapters if ".up.weight" in k)  # up starts at 0
    for recorded, direct in seen:
        assert recorded == pytest.approx(direct, rel=1e-5, abs=1e-12)
    assert rec.frozen_groups == []  # the embeddings' LayerNorm trains too (as Houlsby et al.)
    width = int(tiny_backbone.hidden_size)
    per_layer = rec.trained_params["layer.0"]
    assert per_layer["params"] == 2 * (2 * 4 * width + 4 + width) + 2 * 2 * width
    assert sum(g["params"] for g in rec.trained_params.values()) == rec.trainable_params
    # the identity at the start: a fresh copy with adapters computes what the pretrained does
    import copy

    plain = copy.deepcopy(tiny_backbone.encoder).eval()
    adapted = copy.deepcopy(tiny_backbone.encoder).eval()
    assert add_adapters(adapted, 4) == len(output_projections(plain)) == 2 * layers
    ids = torch.randint(5, 100, (2, 7))
    with torch.no_grad():
        assert torch.equal(plain(input_ids=ids).last_hidden_state,
                           adapted(input_ids=ids).last_hidden_state)


def test_an_adapters_checkpoint_holds_the_trained_parameters_and_loads_back(tiny_backbone,
                                                                             tmp_path):
    from bertviz_lite.engine.checkpoints import load_task_model, save_task_model

    trainer, rec = _run(tiny_backbone, "adapters", steps=2, adapter_size=8)
    folder = save_task_model(trainer.model, trainer.config, trainer.data.label_names, tmp_path)
    size = (folder / "model.safetensors").stat().st_size
    assert size < 0.5 * sum(p.numel() * 4 for p in trainer.model.parameters())
    assert 0 < size - rec.checkpoint_mb * 2**20 < 8192
    loaded = load_task_model(folder, tiny_backbone).model
    trained = trainer.model.eval().state_dict()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, trained[key]), key
    ids = torch.randint(5, 100, (2, 7))
    with torch.no_grad():  # the hooks are in place after loading: the same outputs
        assert torch.equal(loaded.encoder(input_ids=ids).last_hidden_state,
                           trainer.model.encoder(input_ids=ids).last_hidden_state)


def test_adapters_refuse_a_model_without_bert_output_blocks():
    from bertviz_lite.engine.adapters import add_adapters

    with pytest.raises(ConfigError, match="use LoRA or BitFit"):
        add_adapters(torch.nn.Sequential(torch.nn.Linear(4, 4)), 2)
    with pytest.raises(ConfigError, match="adapter_size"):
        RunConfig(mode="adapters", adapter_size=0)


def test_layer_wise_lr_decay_gives_each_layer_its_learning_rate(tiny_backbone):
    """Discriminative learning rates: the top layer at lr, each layer below times the decay,
    the embeddings at lr * decay**L, the head at head_lr; 1.0 keeps one rate (and the key)."""
    trainer, rec = _run(tiny_backbone, "finetune", steps=1, layer_lr_decay=0.5, lr=1e-3,
                        warmup=0.0)
    depth = {id(p): g.name for g in trainer.model.groups for p in g.parameters()}
    seen: dict[str, set[float]] = {}
    for group in trainer.opt.param_groups:
        for p in group["params"]:
            seen.setdefault(depth[id(p)], set()).add(group["initial_lr"])
    assert seen["layer.1"] == {1e-3} and seen["layer.0"] == {5e-4}
    assert seen["embeddings"] == {2.5e-4}
    assert seen["head"] == {trainer.config.head_lr}
    assert rec.config["layer_lr_decay"] == 0.5
    plain, _ = _run(tiny_backbone, "finetune", steps=1)
    assert {g["initial_lr"] for g in plain.opt.param_groups} == {plain.config.lr,
                                                                plain.config.head_lr}
    base = RunConfig(mode="finetune")
    assert config_hash(base) == _old_hash(base, "")  # off: the run key it always had
    assert config_hash(base.replace(layer_lr_decay=0.9)) != config_hash(base)
    for bad in (0.0, 1.5, True, "0.9"):
        with pytest.raises(ConfigError, match="layer_lr_decay"):
            RunConfig(layer_lr_decay=bad)
    from bertviz_lite.cli.args import config_from_args

    args = build_parser().parse_args(["train", "--task", "sentiment", "--mode", "finetune",
                                      "--layer-lr-decay", "0.9", "--out", "r.json"])
    assert config_from_args(args).layer_lr_decay == 0.9


def test_bitfit_changes_the_biases_only(tiny_backbone):
    before = _pretrained(tiny_backbone)
    trainer, rec = _run(tiny_backbone, "bitfit")
    changed = {k for k, v in trainer.model.encoder.state_dict().items()
               if not torch.equal(v, before[k])}
    assert changed and all(k.endswith("bias") for k in changed)
    assert rec.frozen_groups == []
    assert all(n.endswith("bias") for g, d in rec.trained_params.items() if g != "head"
               for n in d["tensors"])


def test_lp_ft_probes_on_the_untouched_encoder_then_tunes_everything(tiny_backbone):
    before = _pretrained(tiny_backbone)
    untouched = []

    def check(trainer, norms):  # before each update: has the encoder moved yet?
        state = trainer.model.encoder.state_dict()
        untouched.append(all(torch.equal(v, before[k]) for k, v in state.items()))

    trainer, rec = _run(tiny_backbone, "lp-ft", steps=6, hook=check, lp_fraction=0.5)
    assert untouched == [True, True, True, True, False, False]  # LP: steps 1-3; FT: 4-6
    assert [p["step"] for p in rec.phases] == [1, 4]
    assert rec.phases[0]["trainable_groups"] == ["head"]
    assert [s.trainable_groups for s in rec.steps][2:4] == [["head"], rec.groups]
    assert all(v == 0.0 for g, v in rec.steps[2].grad_norm.items() if g != "head")


def test_gradual_unfreezing_adds_one_layer_from_the_top_on_schedule(tiny_backbone):
    grads = []
    _, rec = _run(tiny_backbone, "gradual", steps=7,
                  hook=lambda t, norms: grads.append([g for g, v in norms.items() if v > 0]))
    head, top, every = ["head"], ["layer.1", "head"], ["embeddings", "layer.0", "layer.1", "head"]
    expected = [head, head, top, top, top, every, every]  # 3 phases at round(k * 7 / 3)
    assert [s.trainable_groups for s in rec.steps] == expected
    assert grads == expected  # exactly those groups received a gradient
    assert [p["step"] for p in rec.phases] == [1, 3, 6]
    saved = RunRecord.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert saved.steps[0].trainable_groups == head and saved.phases == rec.phases


def test_mode_options_change_only_their_own_runs_key():
    lora = RunConfig(mode="lora")
    assert config_hash(lora) != config_hash(lora.replace(lora_rank=4))
    assert config_hash(RunConfig()) == config_hash(RunConfig(lora_rank=4, lp_fraction=0.3))
    assert RunConfig(mode="lora", lora_targets=["query"]).lora_targets == ("query",)
    for bad in ({"lora_rank": 0}, {"lora_dropout": 1.0}, {"lora_targets": ()},
                {"lora_alpha": 1.5}, {"lp_fraction": 1.0}):
        with pytest.raises(ConfigError):
            RunConfig(mode="lora", **bad)


def test_the_cli_trains_lora_with_its_options(tmp_path, tiny_model_dir):
    from bertviz_lite.cli.main import main

    out = tmp_path / "run.json"
    code = main(["train", "--task", "sentiment", "--mode", "lora", "--lora-rank", "2",
                 "--lora-targets", "query,key,value", "--model", str(tiny_model_dir),
                 "--max-train", "16", "--max-eval", "8", "--steps", "2", "--out", str(out),
                 "--quiet"])
    rec = RunRecord.load(out)
    assert code == 0 and rec.config["lora_rank"] == 2
    assert len(rec.trained_params["layer.1"]["tensors"]) == 6  # A and B beside 3 projections


def test_the_replay_draws_the_wall_where_each_step_had_it():
    """Gradual unfreezing's record: each frame walls off the groups frozen at its step."""
    from bertviz_lite.figures.gradflow import frozen_at, grad_flow_replay

    groups = ["embeddings", "layer.0", "layer.1", "head"]
    steps = [{"step": i + 1, "epoch": 0, "loss": 0.5, "lr": 1e-3, "update_ratio": {},
              "seconds": 0.1, "trainable_groups": groups[3 - i:],
              "grad_norm": {g: (0.1 if g in groups[3 - i:] else 0.0) for g in groups}}
             for i in range(4)]
    rec = RunRecord.from_dict({"config": {"task": "sentiment", "mode": "gradual"},
                               "groups": groups, "frozen_groups": [], "trainable_params": 1,
                               "total_params": 2, "device": "cpu", "steps": steps})
    assert [len(frozen_at(rec, s)) for s in rec.steps] == [3, 2, 1, 0]
    # each frame draws bars only for the groups that trained at its step: the frozen rows
    # (empty, behind the wall) give way one by one
    bars = [sum(x is not None for x in f.data[0].x) for f in grad_flow_replay(rec).frames]
    assert bars == [1, 2, 3, 4]

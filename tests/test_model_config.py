"""Config: presets, dotted overrides with clear errors, JSON round trip, FLOPs accounting."""
import dataclasses

import jax
import jax.numpy as jnp
import pytest

from jaxformer.config import PRESETS, RunConfig, compute_dtype_for, get_preset, resolve_compute_dtype, resolve_config
from jaxformer.flops import device_peak_flops, flops_per_token
from jaxformer.layers import dtype_of
from jaxformer.memory import activation_bytes
from jaxformer.train import resolve_for_devices

# The paper's runs as released (KempnerInstitute/chess-research config/{50M,302M,707M}_1000.json): per-GPU
# batch_size on 4 GPUs (gradient_accumulation_steps 4 is divided by the GPU count, chess_research/train.py:63).
PAPER_RUNS = {
    "chessformer-50m": {"n_layer": 16, "n_head": 8, "n_embd": 512, "batch_size": 125},
    "chessformer-302m": {"n_layer": 24, "n_head": 16, "n_embd": 1024, "batch_size": 78},
    "chessformer-707m": {"n_layer": 36, "n_head": 20, "n_embd": 1280, "batch_size": 38},
}
PAPER_GPUS = 4
PAPER_COMMON = {"block_size": 1023, "learning_rate": 3e-4, "min_lr": 3e-5, "warmup_iters": 2000,
                "lr_decay_iters": 4_000_000, "beta1": 0.9, "beta2": 0.95, "weight_decay": 0.1, "grad_clip": 1.0}


def non_embedding_params(cfg) -> int:
    m = cfg.model
    return m.n_layer * (4 * m.d_model ** 2 + 2 * m.d_model * m.mlp_dim + 2 * m.d_model)


def test_paper_presets_match_the_paper():
    sizes = {name: non_embedding_params(get_preset(name)) for name in ("chessformer-50m", "chessformer-302m",
                                                                       "chessformer-707m")}
    assert 49e6 < sizes["chessformer-50m"] < 52e6
    assert 300e6 < sizes["chessformer-302m"] < 305e6
    assert 700e6 < sizes["chessformer-707m"] < 710e6
    p = PAPER_COMMON
    for name, run in PAPER_RUNS.items():
        cfg = get_preset(name)
        m, d, t, o = cfg.model, cfg.data, cfg.train, cfg.optim
        assert (m.n_layer, m.n_head, m.d_model) == (run["n_layer"], run["n_head"], run["n_embd"]), name
        assert t.batch_size == run["batch_size"] * PAPER_GPUS, name  # 500, 312, 152 sequences a step
        assert t.batch_size // t.grad_accum == run["batch_size"], name  # each micro-batch: the paper's per-GPU batch
        assert d.seq_len == m.max_len == p["block_size"] == 1023, name  # inputs and targets of a 1024-character block
        assert (d.packing, m.compute_dtype, t.steps) == ("paper", "auto", 100_000), name
        assert (o.lr, o.min_lr, o.warmup_steps, o.warmup_from_zero, o.decay_steps) == (
            p["learning_rate"], p["min_lr"], p["warmup_iters"], True, p["lr_decay_iters"]), name
        assert (o.b1, o.b2, o.weight_decay, o.clip_norm) == (p["beta1"], p["beta2"], p["weight_decay"], p["grad_clip"])
    ladder = sorted(non_embedding_params(c) for n, c in PRESETS.items() if n.startswith("scaling-"))
    assert len(ladder) == 5 and ladder[0] < 1.5e6 and 650e6 < ladder[-1] < 750e6
    for name, cfg in PRESETS.items():  # this project's own runs keep their settings
        if name.startswith("scaling-") or name == "tiny":
            assert (cfg.data.packing, cfg.model.compute_dtype, cfg.optim.decay_steps) == ("concat", "float32", None)
            assert cfg.optim.warmup_from_zero is False and cfg.data.seq_len == cfg.model.max_len
            assert cfg.data.seq_len == (256 if name == "tiny" else 1024) and (name == "tiny" or cfg.train.batch_size == 500)


def test_auto_compute_dtype_resolves_per_platform():
    assert [compute_dtype_for("auto", p) for p in ("cpu", "gpu", "tpu")] == ["float32", "bfloat16", "bfloat16"]
    assert [compute_dtype_for(d, "gpu") for d in ("float32", "float16")] == ["float32", "float16"]  # explicit: kept
    paper = get_preset("chessformer-50m")
    gpu = resolve_compute_dtype(paper, "gpu")
    assert gpu.model.compute_dtype == "bfloat16" and dataclasses.replace(gpu, model=paper.model) == paper
    # on this CPU: the run, the model, the MFU peak and the memory estimate all compute in float32
    assert jax.devices()[0].platform == "cpu"
    assert resolve_for_devices(paper, jax.devices()).model.compute_dtype == "float32"
    assert dtype_of("auto") == jnp.float32
    assert device_peak_flops("auto") == device_peak_flops("float32")
    as_f32 = dataclasses.replace(paper, model=dataclasses.replace(paper.model, compute_dtype="float32"))
    as_bf16 = dataclasses.replace(paper, model=dataclasses.replace(paper.model, compute_dtype="bfloat16"))
    assert activation_bytes(paper, 125) == activation_bytes(as_f32, 125) > 1.5 * activation_bytes(as_bf16, 125)


def test_overrides_parse_types_and_roundtrip():
    cfg = resolve_config("tiny", ["model.n_layer=3", "data.cutoff=1000", "optim.lr=1e-3", "model.scan_layers=true",
                                  "data.rule=band", "data.band=1000,1500", "checkpoint.keep_every=none",
                                  "name=my run"])
    assert (cfg.model.n_layer, cfg.data.cutoff, cfg.optim.lr, cfg.model.scan_layers) == (3, 1000, 1e-3, True)
    assert cfg.data.band == (1000, 1500) and cfg.checkpoint.keep_every is None and cfg.name == "my run"
    assert RunConfig.from_json(cfg.to_json()) == cfg
    assert resolve_config("tiny", ["data.cutoff=null"]).data.cutoff is None


def test_config_file_and_bad_input_errors(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(dataclasses.replace(get_preset("tiny"), name="from-file").to_json())
    assert resolve_config(str(path), ["train.steps=7"]).train.steps == 7
    cases = {
        "model.n_layers=3": "unknown key 'n_layers' in ModelConfig; valid keys: vocab_size, n_layer",
        "modle.n_layer=3": "unknown key 'modle'",
        "train.steps=abc": "expected int",
        "data.band=1000": "expected two integers LO,HI",
        "model=3": "names a section",
        "train.steps": "expected key=value",
        "model.n_head=5": "divisible by model.n_head=5",
        "data.seq_len=4096": "exceeds model.max_len",
        "train.grad_accum=3": "multiple of train.grad_accum=3",
        "model.attention=flash": "use auto, einsum or dot_product",
    }
    for item, message in cases.items():
        with pytest.raises(ValueError, match=message):
            resolve_config("tiny", [item])
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        resolve_config("nope", [])
    with pytest.raises(ValueError, match="not found"):
        resolve_config(str(tmp_path / "missing.json"), [])
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": {"n_layerz": 2}}')
    with pytest.raises(ValueError, match="unknown keys \\['n_layerz'\\]"):
        resolve_config(str(bad), [])


def test_flops_count_causal_attention_once():
    m = get_preset("chessformer-50m").model
    dense = 6 * (16 * 12 * 512 ** 2 + 512 * 32)
    for seq_len in (1024, 1023):  # the ladder's context and the paper's
        assert flops_per_token(m, seq_len) == dense + 6 * 16 * seq_len * 512  # half of 12*L*T*D: the causal mask halves it


def test_every_preset_documents_its_command_in_train_help():
    from jaxformer.config import PRESET_NOTES, describe_presets

    assert set(PRESET_NOTES) == set(PRESETS)
    for name in PRESETS:
        assert f"transcend train --config {name} " in PRESET_NOTES[name], name
    assert "1420-1500" in PRESET_NOTES["chessformer-50m"]  # the paper's figure to reach at cutoff 1000
    for name, run in PAPER_RUNS.items():
        note = PRESET_NOTES[name]
        assert f"{run['batch_size'] * PAPER_GPUS} sequences a step ({run['batch_size']} x 4 GPUs" in note, name
        assert "1023 characters" in note and "4,000,000" in note and "100,000" in note and "2.996e-4" in note, name
    for name, note in PRESET_NOTES.items():  # every documented command is a valid config
        command = note.split("  transcend train ")[1].split("\n")[0].split()
        sets = [command[i + 1] for i, word in enumerate(command) if word == "--set"]
        assert resolve_config(name, sets).data.dir, name
    assert describe_presets().count("transcend train --config") == len(PRESETS)

"""Config: presets, dotted overrides with clear errors, JSON round trip, FLOPs accounting."""
import dataclasses

import pytest

from jaxformer.config import PRESETS, RunConfig, get_preset, resolve_config
from jaxformer.flops import flops_per_token


def non_embedding_params(cfg) -> int:
    m = cfg.model
    return m.n_layer * (4 * m.d_model ** 2 + 2 * m.d_model * m.mlp_dim + 2 * m.d_model)


def test_paper_presets_match_the_paper():
    sizes = {name: non_embedding_params(get_preset(name)) for name in ("chessformer-50m", "chessformer-302m",
                                                                       "chessformer-707m")}
    assert 49e6 < sizes["chessformer-50m"] < 52e6
    assert 300e6 < sizes["chessformer-302m"] < 305e6
    assert 700e6 < sizes["chessformer-707m"] < 710e6
    cfg = get_preset("chessformer-50m")
    assert (cfg.model.n_layer, cfg.model.n_head, cfg.model.d_model) == (16, 8, 512)
    assert (cfg.train.batch_size, cfg.train.grad_accum, cfg.data.seq_len) == (500, 4, 1024)
    o = cfg.optim
    assert (o.lr, o.min_lr, o.warmup_steps, o.b1, o.b2, o.weight_decay, o.clip_norm) == (3e-4, 3e-5, 2000, 0.9, 0.95, 0.1, 1.0)
    ladder = sorted(non_embedding_params(c) for n, c in PRESETS.items() if n.startswith("scaling-"))
    assert len(ladder) == 5 and ladder[0] < 1.5e6 and 650e6 < ladder[-1] < 750e6


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
    per_token = flops_per_token(m, 1024)
    dense = 6 * (16 * 12 * 512 ** 2 + 512 * 32)
    assert per_token == dense + 6 * 16 * 1024 * 512  # half of 12*L*T*D: the causal mask halves attention


def test_every_preset_documents_its_command_in_train_help():
    from jaxformer.config import PRESET_NOTES, describe_presets

    assert set(PRESET_NOTES) == set(PRESETS)
    for name in PRESETS:
        assert f"transcend train --config {name} " in PRESET_NOTES[name], name
    assert "1420-1500" in PRESET_NOTES["chessformer-50m"]  # the paper's figure to reach at cutoff 1000
    assert describe_presets().count("transcend train --config") == len(PRESETS)

"""Run configuration: frozen dataclasses, named presets, dotted `key=value` overrides, JSON round trip.

One config system for the whole run: `RunConfig` holds everything needed to rebuild the model, the
tokenizer and the data stream; `config.json` in a run directory is `RunConfig.to_json()`.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import types
import typing
from typing import Any

VOCAB_SIZE = 32  # the paper's char32 vocabulary (data_pipeline.tokenizer.CHAR32_VOCAB)


def _choice(default: str, *allowed: str) -> Any:
    """A string field limited to `allowed` values: validate() and `transcend train --list-keys` read them."""
    return dataclasses.field(default=default, metadata={"choices": (default, *allowed)})


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    vocab_size: int = VOCAB_SIZE
    n_layer: int = 16
    n_head: int = 8
    d_model: int = 512
    d_mlp: int | None = None  # None: 4 * d_model (the paper's GELU 4x MLP)
    max_len: int = 1024  # context length; positions 0..max_len-1
    norm: str = _choice("layernorm", "rmsnorm")  # layernorm: the paper's
    position: str = _choice("learned", "rope")  # learned: the paper's
    rope_theta: float = 10000.0
    tie_embeddings: bool = True
    norm_eps: float = 1e-5
    init_std: float = 0.02
    # Params stay float32. auto: bfloat16 on GPU/TPU, float32 on CPU, resolved when a run starts (compute_dtype_for).
    compute_dtype: str = _choice("float32", "bfloat16", "float16", "auto")
    attention: str = _choice("auto", "einsum", "dot_product")  # dot_product: jax.nn.dot_product_attention (cuDNN)
    remat: str = _choice("none", "full", "dots")  # per transformer block; dots saves matmul outputs
    scan_layers: bool = False  # nnx.scan over layers: compile time independent of depth

    @property
    def mlp_dim(self) -> int:
        return self.d_mlp or 4 * self.d_model

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_head


@dataclasses.dataclass(frozen=True)
class DataConfig:
    dir: str | None = None  # shard directory from `transcend data build`
    cutoff: int | None = None  # rule "max": keep games with max(WhiteElo, BlackElo) <= cutoff; None = all
    rule: str = _choice("max", "band")
    band: tuple[int, int] | None = None  # rule "band": both ratings in [lo, hi]
    seq_len: int = 1024
    # concat: consecutive cuts of the game stream; paper: seq_len+1 characters from a game start (chess_research/data/
    # zstd_process.py); pad: whole games, padded (data_pipeline.LoaderSpec.packing)
    packing: str = _choice("concat", "paper", "pad")
    seed: int = 0
    # char32: the paper's characters (model.vocab_size 32); move / move+elo: one token per move, without / with
    # rating tokens (model.vocab_size at least 1970 / 2024: data_pipeline.MoveTokenizer); board / board+elo: each move
    # after its position, 66 tokens a ply (at least 1985 / 2039: data_pipeline.BoardTokenizer)
    tokenizer: str = _choice("char32", "move", "move+elo", "board", "board+elo")
    worker_count: int = 0
    val_split: str = _choice("validation", "train")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    steps: int = 10000
    batch_size: int = 500  # global sequences per optimizer step (all micro-batches together)
    grad_accum: int = 4  # micro-batches per step, accumulated inside the jitted step
    log_every: int = 10
    eval_every: int = 500  # 0 disables validation
    eval_batches: int = 10
    seed: int = 0
    peak_flops: float | None = None  # per-device peak FLOP/s for MFU; None: look the device up
    progress: bool = True
    transfer_guard: bool = True  # jax_transfer_guard("disallow") around the hot loop


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    lr: float = 3e-4
    min_lr: float = 3e-5
    warmup_steps: int = 2000
    # True: lr * s / W, 0 at step 0 (the paper's get_lr, chess_research/train.py:240-241); False: lr * (s+1)/(W+1)
    warmup_from_zero: bool = False
    decay_steps: int | None = None  # where the cosine reaches min_lr; None: train.steps (the paper: 4M, past its 100k)
    b1: float = 0.9
    b2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1  # matrices only (ndim >= 2); norms are not decayed
    clip_norm: float = 1.0


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    data: int = -1  # one axis may be -1: it takes the devices the others leave
    fsdp: int = 1
    tensor: int = 1


@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    every: int = 1000  # 0 disables periodic saves (SIGTERM/SIGINT and the end still save)
    keep_last: int = 3
    keep_every: int | None = None  # also keep every step that is a multiple of this
    async_save: bool = True


@dataclasses.dataclass(frozen=True)
class RunConfig:
    name: str = "run"
    # uuid4 hex given when `transcend train` creates the run directory and kept on every resume: evaluation keys
    # the model's games by it, so a copied or renamed run directory keeps them.
    run_id: str = dataclasses.field(default="", metadata={"assigned": "by transcend train"})
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    optim: OptimConfig = OptimConfig()
    mesh: MeshConfig = MeshConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        return _from_dict(cls, json.loads(text), "")

    def validate(self) -> RunConfig:
        """Raise ValueError naming the field and the fix for inconsistent settings."""
        m, d, t = self.model, self.data, self.train
        _check(m.d_model % m.n_head == 0, f"model.d_model={m.d_model} must be divisible by model.n_head={m.n_head}")
        _check(m.position != "rope" or m.head_dim % 2 == 0, "model.position=rope needs an even head_dim")
        for key, value, allowed in _choice_fields(self):
            _check(value in allowed, f"{key}={value!r}: use {_or_list(allowed)}")
        _check(d.seq_len <= m.max_len, f"data.seq_len={d.seq_len} exceeds model.max_len={m.max_len}")
        _check(d.rule != "band" or d.band is not None, "data.rule=band needs data.band=LO,HI")
        _check(t.grad_accum >= 1 and t.batch_size % t.grad_accum == 0,
               f"train.batch_size={t.batch_size} must be a multiple of train.grad_accum={t.grad_accum}")
        _check(t.steps >= 1 and t.log_every >= 1, "train.steps and train.log_every must be >= 1")
        sizes = [self.mesh.data, self.mesh.fsdp, self.mesh.tensor]
        _check(sizes.count(-1) <= 1 and all(s == -1 or s >= 1 for s in sizes),
               f"mesh sizes {sizes}: each >= 1, at most one -1")
        o = self.optim
        _check(o.min_lr <= o.lr, "optim.min_lr must not exceed optim.lr")
        _check(o.decay_steps is None or o.decay_steps > o.warmup_steps,
               f"optim.decay_steps={o.decay_steps} must exceed optim.warmup_steps={o.warmup_steps} (or be none: train.steps)")
        return self


def compute_dtype_for(requested: str, platform: str) -> str:
    """The dtype `model.compute_dtype` computes in on `platform` (a jax device's: cpu, gpu, tpu). "auto" follows the
    paper's trainer: bfloat16 autocast on an accelerator, none on CPU (chess_research/train.py:89-93; config/*.json
    "dtype": "bfloat16"). Other values are kept."""
    if requested != "auto":
        return requested
    return "float32" if platform == "cpu" else "bfloat16"


def resolve_compute_dtype(cfg: RunConfig, platform: str) -> RunConfig:
    """`cfg` with model.compute_dtype resolved for `platform`: what a run's config.json records."""
    return dataclasses.replace(cfg, model=dataclasses.replace(
        cfg.model, compute_dtype=compute_dtype_for(cfg.model.compute_dtype, platform)))


def _check(ok: bool, msg: str) -> None:
    if not ok:
        raise ValueError(f"bad config: {msg}")


def _or_list(items: tuple[str, ...]) -> str:
    return ", ".join(items[:-1]) + f" or {items[-1]}" if len(items) > 1 else items[0]


def _choice_fields(cfg: RunConfig) -> list[tuple[str, Any, tuple[str, ...]]]:
    return [(key, value, f.metadata["choices"]) for key, value, f in config_fields(cfg) if "choices" in f.metadata]


def config_fields(obj: Any, prefix: str = "") -> list[tuple[str, Any, dataclasses.Field]]:
    """(dotted key, value, field) of every leaf field of a config, in declaration order: the `--set` keys."""
    out = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out += config_fields(value, f"{prefix}{f.name}.")
        else:
            out.append((prefix + f.name, value, f))
    return out


def describe_keys(cfg: RunConfig) -> str:
    """Every `--set` key with its type, its value in `cfg` and, where limited, the allowed values."""
    hints = {}
    for section in [cfg, *(getattr(cfg, f.name) for f in dataclasses.fields(cfg)
                           if dataclasses.is_dataclass(getattr(cfg, f.name)))]:
        hints[type(section)] = typing.get_type_hints(type(section))
    rows = []
    for key, value, f in config_fields(cfg):
        owner = cfg if "." not in key else getattr(cfg, key.split(".")[0])
        tp = _type_name(hints[type(owner)][f.name])
        allowed = f"  (one of: {', '.join(f.metadata['choices'])})" if "choices" in f.metadata else ""
        if "assigned" in f.metadata:
            allowed = f"  (assigned {f.metadata['assigned']}; not settable)"
        rows.append((key, tp, json.dumps(value), allowed))
    width_key, width_tp = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    return "\n".join(f"{k:<{width_key}}  {t:<{width_tp}}  default {v}{a}" for k, t, v, a in rows)


# ---------------------------------------------------------------------------------------------- presets

PAPER_CONTEXT = 1023  # the paper's block_size (config/*.json): 1024-character blocks give inputs and targets of 1023
PAPER_EVALUATED_STEP = 100_000  # the checkpoint the paper evaluates; its schedule runs on to 4M iterations
PAPER_DECAY_STEPS = 4_000_000  # lr_decay_iters (config/*.json)


def _paper(name: str, n_layer: int, n_head: int, d_model: int, batch: int) -> RunConfig:
    """The paper's run of one size (config/{50M,302M,707M}_1000.json read with chess_research/train.py): `batch`
    sequences a step (its batch_size x 4 GPUs: gradient_accumulation_steps 4 is divided by the GPU count, train.py:63,
    so grad_accum 4 here gives each micro-batch the paper's per-GPU size); blocks that start at a game start; bfloat16
    on accelerators; lr from 0 over 2,000 steps, then cosine towards 3e-5 at 4M iterations, stopped at 100k."""
    return RunConfig(
        name=name,
        model=ModelConfig(n_layer=n_layer, n_head=n_head, d_model=d_model, max_len=PAPER_CONTEXT, compute_dtype="auto"),
        data=DataConfig(seq_len=PAPER_CONTEXT, packing="paper"),
        train=TrainConfig(steps=PAPER_EVALUATED_STEP, batch_size=batch, grad_accum=4, eval_every=1000),
        optim=OptimConfig(lr=3e-4, min_lr=3e-5, warmup_steps=2000, warmup_from_zero=True, decay_steps=PAPER_DECAY_STEPS),
    )


def _ladder(name: str, n_layer: int, n_head: int, d_model: int) -> RunConfig:
    # This project's scaling measurement: 500 x 1024 characters a step, cosine from 3e-4 to 3e-5 within train.steps.
    return RunConfig(name=name, model=ModelConfig(n_layer=n_layer, n_head=n_head, d_model=d_model),
                     train=TrainConfig(steps=100_000, batch_size=500, grad_accum=4, eval_every=1000))


_TINY = RunConfig(
    name="tiny",
    model=ModelConfig(n_layer=2, n_head=4, d_model=128, max_len=256),
    data=DataConfig(seq_len=256),
    train=TrainConfig(steps=300, batch_size=16, grad_accum=1, log_every=10, eval_every=100, eval_batches=4),
    optim=OptimConfig(lr=1e-3, min_lr=1e-4, warmup_steps=20),
    checkpoint=CheckpointConfig(every=100, keep_last=2),
)

# The paper's three sizes: (n_layer, n_head, d_model, sequences a step = its batch_size x 4 GPUs).
_PAPER_SIZES = {
    "chessformer-50m": (16, 8, 512, 125 * 4),
    "chessformer-302m": (24, 16, 1024, 78 * 4),
    "chessformer-707m": (36, 20, 1280, 38 * 4),
}

# Scaling ladder ~1M .. ~700M non-embedding parameters (12 * n_layer * d_model^2).
_SCALING = {
    "scaling-1m": (4, 4, 128),
    "scaling-10m": (6, 6, 384),
    "scaling-50m": (16, 8, 512),
    "scaling-300m": (24, 16, 1024),
    "scaling-700m": (36, 20, 1280),
}

PRESETS: dict[str, RunConfig] = {
    "tiny": _TINY,
    **{name: _paper(name, *shape) for name, shape in _PAPER_SIZES.items()},
    **{name: _ladder(name, *shape) for name, shape in _SCALING.items()},
}


_PAPER_RUN = ("the paper's {size} run ({shape}): {batch} sequences a step ({micro} x 4 GPUs in the paper) of 1023 characters, "
              "each block starting at a game start (data.packing=paper), bfloat16 on GPU/TPU (model.compute_dtype=auto), "
              "AdamW lr 0 -> 3e-4 over 2,000 steps, then cosine towards 3e-5 at step 4,000,000, stopped at step 100,000 "
              "(lr there about 2.996e-4): the checkpoint the paper evaluates.\n"
              "  transcend train --config {name} --run-dir runs/{name}-c1000 --set data.dir=data/lichess "
              "--set data.cutoff=1000\n"
              "  (--set mesh.data=1 --set mesh.fsdp=-1 shards the parameters where a device's memory is short.){expect}")

_LADDER_RUN = ("the scaling ladder's {size} step ({n_layer} layers, {n_head} heads, d_model {d_model}): 500 x 1024 "
               "characters a step, cosine from 3e-4 to 3e-5 within the 100k steps, to measure how transcendence scales "
               "with model size.\n"
               "  transcend train --config {name} --run-dir runs/{name}-c1000 --set data.dir=data/lichess "
               "--set data.cutoff=1000 --set model.compute_dtype=bfloat16 --set mesh.data=1 --set mesh.fsdp=-1\n"
               "  No reference figure: the ladder is this project's measurement, not the paper's.")

_PAPER_EXPECT = {
    "chessformer-50m": ("\n  Expected (the paper's figure, +-100 Elo): cutoff 1000 -> about 1420-1500 at T <= 0.1 and "
                        "about 850 at T = 1; cutoff 1300 -> about 1525-1630 at low T; cutoff 1500 does not transcend."),
    "chessformer-302m": "\n  No reference rating for this size is recorded here.",
    "chessformer-707m": "\n  No reference rating for this size is recorded here.",
}

# Each preset's command and what it should reach (jaxformer.train's --help and the README show these).
PRESET_NOTES: dict[str, str] = {
    "tiny": ("2 layers, d_model 128, context 256 (0.43M parameters): the CPU demo model.\n"
             "  transcend train --config tiny --run-dir runs/tiny --set data.dir=data/shards\n"
             "  `make demo` trains it for 2,500 steps on board tokens (--set data.tokenizer=board --set "
             "model.vocab_size=1985: 0.68M parameters) on each arm of the diversity experiment; it learns move "
             "frequencies, not the engine's moves, and plays at or below the uniform random mover (README, 'What a "
             "CPU-sized model can honestly show')."),
    **{name: _PAPER_RUN.format(size=name.split("-")[1].upper(), shape=f"{n_layer} layers, {n_head} heads, d_model {d_model}",
                               batch=batch, micro=batch // 4, name=name, expect=_PAPER_EXPECT[name])
       for name, (n_layer, n_head, d_model, batch) in _PAPER_SIZES.items()},
    **{name: _LADDER_RUN.format(size=name.split("-")[1].upper(), n_layer=n_layer, n_head=n_head, d_model=d_model,
                                name=name)
       for name, (n_layer, n_head, d_model) in _SCALING.items()},
}


def describe_presets() -> str:
    """Every preset with its command and what it should reach, for `transcend train --help`."""
    return "\n".join(f"{name}: {PRESET_NOTES[name]}" for name in PRESETS)


def get_preset(name: str) -> RunConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(sorted(PRESETS))} "
                         "(or pass a path to a config.json)") from None


def resolve_config(preset_or_path: str, overrides: list[str] | None = None) -> RunConfig:
    """A preset name or a JSON file, then dotted `section.field=value` overrides, validated."""
    path = pathlib.Path(preset_or_path)
    if preset_or_path in PRESETS:
        cfg = PRESETS[preset_or_path]
    elif path.suffix == ".json" or path.exists():
        if not path.is_file():
            raise ValueError(f"config file {path} not found")
        cfg = RunConfig.from_json(path.read_text())
    else:
        cfg = get_preset(preset_or_path)
    for item in overrides or []:
        cfg = apply_override(cfg, item)
    return cfg.validate()


def apply_override(cfg: RunConfig, item: str) -> RunConfig:
    if "=" not in item:
        raise ValueError(f"override {item!r}: expected key=value, e.g. model.n_layer=8")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    return _replace_path(cfg, parts, raw.strip(), key)


def _replace_path(obj: Any, parts: list[str], raw: str, full_key: str) -> Any:
    hints = typing.get_type_hints(type(obj))
    name = parts[0]
    if name not in hints:
        raise ValueError(f"override {full_key!r}: unknown key {name!r} in {type(obj).__name__}; "
                         f"valid keys: {', '.join(hints)}")
    if len(parts) == 1:
        assigned = {f.name: f.metadata.get("assigned") for f in dataclasses.fields(obj)}.get(name)
        if assigned:
            raise ValueError(f"override {full_key!r}: {name} is assigned {assigned}, not set")
        if dataclasses.is_dataclass(hints[name]):
            raise ValueError(f"override {full_key!r} names a section; set one of its fields, e.g. {full_key}.FIELD=VALUE")
        return dataclasses.replace(obj, **{name: _parse(raw, hints[name], full_key)})
    child = getattr(obj, name)
    if not dataclasses.is_dataclass(child):
        raise ValueError(f"override {full_key!r}: {name!r} is not a section")
    return dataclasses.replace(obj, **{name: _replace_path(child, parts[1:], raw, full_key)})


def _parse(raw: str, tp: Any, key: str) -> Any:
    """Parse a CLI string into the annotated type (int, float, str, bool, X | None, tuple[int, int])."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if raw.lower() in ("none", "null", ""):
            return None
        (inner,) = [a for a in args if a is not type(None)]
        try:
            return _parse(raw, inner, key)
        except ValueError:
            raise ValueError(f"override {key}={raw!r}: expected {_type_name(tp)}") from None
    try:
        if tp is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(raw)
        if tp is float:
            return float(raw)
        if tp is str:
            return raw
        if typing.get_origin(tp) is tuple:
            items = [s for s in raw.strip("()[]").split(",") if s.strip()]
            if len(items) != len(args):
                raise ValueError
            return tuple(_parse(s.strip(), a, key) for s, a in zip(items, args))
    except ValueError:
        raise ValueError(f"override {key}={raw!r}: expected {_type_name(tp)}") from None
    raise ValueError(f"override {key}: unsupported type {tp}")


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        return "two integers LO,HI"
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in inner) + " or none"
    return getattr(tp, "__name__", str(tp))


def _from_dict(cls: type, data: dict, where: str) -> Any:
    hints = typing.get_type_hints(cls)
    unknown = set(data) - set(hints)
    if unknown:
        raise ValueError(f"config{where}: unknown keys {sorted(unknown)}; valid keys: {', '.join(hints)}")
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[name] = _from_dict(tp, value, f"{where}.{name}")
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)

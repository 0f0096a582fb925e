"""What a sweep spec declares: a grid of runs, the evaluation plan, the report, and each stage's resources.

A spec is a Python file that defines `SWEEP = Sweep(...)` (see experiments/specs/ and docs/sweeps.md). The grid
is presets x (cutoffs or synthetic populations) x seeds; `load_spec` runs the file and checks what it declares,
turning any mistake into one sentence that names the spec.
"""
from __future__ import annotations

import dataclasses
import pathlib
import re
import runpy
from collections.abc import Callable, Mapping, Sequence

# The paper's sampling temperatures (transcend eval's default).
PAPER_TEMPERATURES = (0.001, 0.01, 0.1, 0.3, 0.5, 0.75, 1.0, 1.5)
STAGES = ("data", "train", "eval", "report")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")  # a name part: no '-' (it joins the parts of a run name)


@dataclasses.dataclass(frozen=True)
class Resources:
    """One stage's SLURM request (each array task gets this much). `extra`: more sbatch options, verbatim
    (e.g. "--account=lab", "--qos=high"). More than one node runs the stage with `srun`, one process per node
    (jax.distributed.initialize() reads SLURM's environment)."""

    partition: str | None = None
    gpus: int = 0
    cpus: int = 1
    time: str = "00:30:00"
    mem: str | None = None
    nodes: int = 1
    extra: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """`transcend eval` on each run's checkpoints: opponents (`--levels`), temperatures, games per temperature and
    opponent, the protocol (mode, nodes, ply cap, openings) and the anchor table that rates them."""

    levels: str = "1,3,5"
    temperatures: tuple[float, ...] = PAPER_TEMPERATURES
    games: int = 100
    mode: str = "move"
    anchors: str = "paper"
    nodes: int | None = None  # None: transcend eval's default
    max_plies: int | None = None
    openings: str | None = None
    steps: str = "latest"  # latest | all | comma-separated steps
    workers: int | None = None  # engine searches in parallel; None: the eval stage's cpus
    concurrency: int | None = None
    n_boot: int | None = None
    extra: tuple[str, ...] = ()  # more `transcend eval` arguments, verbatim


@dataclasses.dataclass(frozen=True)
class Population:
    """Training data made by the sweep: `transcend data synth` (with `synth` arguments, e.g. "--clones"), then
    `transcend data build` (with `build` arguments). Its runs train on all its games (no cutoff); the report's
    reference line is its best expert."""

    name: str
    synth: tuple[str, ...] = ()
    build: tuple[str, ...] = ("--val-fraction", "0.05")


@dataclasses.dataclass(frozen=True)
class Point:
    """One grid point: what a per-run override function is given."""

    preset: str
    label: str  # the preset's short name in run names
    cutoff: int | None
    population: str | None
    seed: int

    @property
    def name(self) -> str:
        data = self.population if self.population is not None else ("call" if self.cutoff is None else f"c{self.cutoff}")
        return f"{data}-{self.label}-s{self.seed}"


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A grid of training runs and how to evaluate and report them.

    presets: preset names, or {label: preset} to choose the short names used in run names (default: the part
    after the last '-', e.g. chessformer-50m -> 50m). cutoffs (None: all games) and populations are exclusive.
    overrides: `--set` overrides for every run; per_run(point) -> more overrides for one run.
    """

    name: str
    presets: Sequence[str] | Mapping[str, str]
    seeds: Sequence[int] = (0,)
    cutoffs: Sequence[int | None] = ()
    populations: Sequence[Population] = ()
    data: str | None = None  # shard directory of a cutoff sweep (`transcend sweep --data` replaces it)
    overrides: Sequence[str] = ()
    per_run: Callable[[Point], Sequence[str]] | None = None
    evaluation: Evaluation = Evaluation()
    report_step: int | None = None  # None: each run's latest evaluated step
    resources: Mapping[str, Resources] = dataclasses.field(default_factory=dict)

    def preset_labels(self) -> dict[str, str]:
        """{label: preset}, in the spec's order."""
        if isinstance(self.presets, Mapping):
            return dict(self.presets)
        return {preset.rsplit("-", 1)[-1]: preset for preset in self.presets}

    def points(self) -> list[Point]:
        """The grid in its one order: data (cutoffs or populations) outermost, then presets, then seeds."""
        data: list[tuple[int | None, str | None]] = (
            [(None, p.name) for p in self.populations] if self.populations else [(c, None) for c in self.cutoffs])
        return [Point(preset, label, cutoff, population, seed)
                for cutoff, population in data for label, preset in self.preset_labels().items() for seed in self.seeds]

    def stage_resources(self, stage: str) -> Resources:
        return self.resources.get(stage, Resources())


def load_spec(path: str | pathlib.Path) -> Sweep:
    """Run a spec file and return its checked SWEEP; ValueError (one sentence naming the file) when it is wrong."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"sweep spec {path} not found: pass a Python file that defines SWEEP = Sweep(...) "
                         "(e.g. experiments/specs/paper.py)")
    try:
        namespace = runpy.run_path(str(path))
    except SyntaxError as err:
        raise ValueError(f"sweep spec {path}, line {err.lineno}: syntax error ({err.msg}); fix the file") from None
    except Exception as err:  # noqa: BLE001 - any failure of the user's file is reported as one sentence
        raise ValueError(f"sweep spec {path} failed to run: {type(err).__name__}: {err}") from None
    sweep = namespace.get("SWEEP")
    if not isinstance(sweep, Sweep):
        got = "nothing" if sweep is None else type(sweep).__name__
        raise ValueError(f"sweep spec {path} must define SWEEP = experiments.sweep.Sweep(...), but SWEEP is {got}")
    problem = find_problem(sweep)
    if problem:
        raise ValueError(f"sweep spec {path}: {problem}")
    return sweep


def find_problem(sweep: Sweep) -> str | None:
    """The first thing wrong with a sweep's declarations, in words; None when there is none."""
    from jaxformer.config import PRESETS

    if not isinstance(sweep.name, str) or not _NAME.match(sweep.name):
        return f"name {sweep.name!r} must be letters, digits, '_' or '.'"
    labels = sweep.preset_labels()
    if not labels:
        return "presets is empty: name at least one preset, e.g. presets=['tiny']"
    for label, preset in labels.items():
        if preset not in PRESETS:
            return f"unknown preset {preset!r}; known presets: {', '.join(sorted(PRESETS))}"
        if not _NAME.match(label):
            return f"preset label {label!r} (of {preset}) must be letters, digits, '_' or '.': give presets as {{label: preset}}"
    if sweep.cutoffs and sweep.populations:
        return "give cutoffs or populations, not both (a population's runs train on all its games)"
    if not sweep.cutoffs and not sweep.populations:
        return "the grid has no data axis: give cutoffs=[...] (None: all games) or populations=[Population(...)]"
    if any(c is not None and (not isinstance(c, int) or isinstance(c, bool) or c <= 0) for c in sweep.cutoffs):
        return f"cutoffs {list(sweep.cutoffs)} must be positive integers (or None for all games)"
    if any(not isinstance(p, Population) or not _NAME.match(p.name) for p in sweep.populations):
        return "populations must be Population(name=...) with names of letters, digits, '_' or '.'"
    if not sweep.seeds or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in sweep.seeds):
        return f"seeds {list(sweep.seeds)} must be a non-empty list of non-negative integers"
    unknown = set(sweep.resources) - set(STAGES)
    if unknown:
        return f"resources for unknown stage(s) {sorted(unknown)}; the stages are {', '.join(STAGES)}"
    return _evaluation_problem(sweep.evaluation) or _duplicate_problem(sweep)


def _evaluation_problem(ev: Evaluation) -> str | None:
    if not ev.temperatures or any(not isinstance(t, int | float) or t < 0 for t in ev.temperatures):
        return f"evaluation temperatures {ev.temperatures} must be non-negative numbers (0 = arg-max)"
    if not isinstance(ev.games, int) or ev.games < 1:
        return f"evaluation games {ev.games!r} must be a positive integer (games per temperature and opponent)"
    if ev.mode not in ("move", "char"):
        return f"evaluation mode {ev.mode!r} must be 'move' or 'char'"
    return None


def _duplicate_problem(sweep: Sweep) -> str | None:
    names = [p.name for p in sweep.points()]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        return (f"runs {', '.join(twice)} would share a name (repeated grid values or two presets with the same "
                "short name): remove the repeats or give presets as {label: preset}")
    return None

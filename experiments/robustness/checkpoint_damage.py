"""checkpoint-damage: 11 kinds of damage to the latest checkpoint of a tiny run (stopped at step 9 of 12, with
checkpoints 3, 6, 9). For each: `load_for_inference` must never give damaged weights (it gives step 6's, or
step 9's when the damage spared its params: the optimizer or iterator state), and resuming must set the damaged
step aside and end at step 12 with the weights of a resume from the intact checkpoints (so it started from a
good step, never from the damaged one). Damage that leaves step 9 usable (a stray temporary sibling) must
change nothing.
"""
from __future__ import annotations

import dataclasses
import pathlib
import random
import shutil
from collections.abc import Callable

from experiments.robustness.common import Outcome, log, probe, run_cli, tiny_data, train_args

STEPS, EVERY, STOP = 12, 3, 9
DEFAULT_TRIALS = 11


def _largest(step_dir: pathlib.Path, item: str) -> pathlib.Path:
    """The largest array-data file of an Orbax item (params, train_state: the optimizer), under its d/ folders."""
    files = [p for p in (step_dir / item).rglob("*") if p.is_file() and p.parent.name == "d"]
    if not files:
        raise FileNotFoundError(f"no array file under {step_dir / item}: the checkpoint layout changed")
    return max(files, key=lambda p: p.stat().st_size)


def _flip(path: pathlib.Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    i = rng.randrange(len(data) // 4, len(data))  # past the first quarter: inside the values, not a header
    data[i] ^= 0x10
    path.write_bytes(bytes(data))


def flip_params(step: pathlib.Path, rng: random.Random) -> None:
    _flip(_largest(step, "params"), rng)


def flip_optimizer(step: pathlib.Path, rng: random.Random) -> None:
    _flip(_largest(step, "train_state"), rng)


def truncate(step: pathlib.Path, rng: random.Random) -> None:
    path = _largest(step, "params")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def delete_file(step: pathlib.Path, rng: random.Random) -> None:
    _largest(step, "params").unlink()


def delete_metadata(step: pathlib.Path, rng: random.Random) -> None:
    (step / "params" / "_METADATA").unlink()


def zero_file(step: pathlib.Path, rng: random.Random) -> None:
    path = _largest(step, "train_state")
    path.write_bytes(bytes(path.stat().st_size))


def damage_iterator(step: pathlib.Path, rng: random.Random) -> None:
    """Valid JSON, another position in the data: only a digest of the iterator state can tell."""
    (path,) = (step / "data").glob("process_*.json")
    text = path.read_text()
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    i = digits[-1]
    path.write_text(text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1:])


def damage_digest(step: pathlib.Path, rng: random.Random) -> None:
    """One hex digit of the recorded digests changed (the arrays are intact; the step must not be trusted)."""
    files = [p for p in (step / "digest").rglob("*") if p.is_file() and p.name != "commit_success.txt"] \
        if (step / "digest").is_dir() else []
    if not files:
        raise FileNotFoundError(f"no digest file in {step}")
    text = files[0].read_text()
    i = max(text.rfind(c) for c in "0123456789abcdef")
    files[0].write_text(text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1:])


def other_steps_params(step: pathlib.Path, rng: random.Random) -> None:
    """Step 9's params replaced by step 6's: intact files, the wrong weights."""
    shutil.rmtree(step / "params")
    shutil.copytree(step.parent / str(STOP - EVERY) / "params", step / "params")


def rename_half_way(step: pathlib.Path, rng: random.Random) -> None:
    """As if the save died before its final rename: step 9 exists only under Orbax's temporary name."""
    step.rename(step.parent / f"{step.name}.orbax-checkpoint-tmp-1234567890")


def tmp_sibling(step: pathlib.Path, rng: random.Random) -> None:
    """A half-written later step (the next save's temporary directory) beside an intact step 9."""
    tmp = step.parent / f"{STEPS}.orbax-checkpoint-tmp-1234567890"
    shutil.copytree(step / "params", tmp / "params")


@dataclasses.dataclass(frozen=True)
class Damage:
    name: str
    apply: Callable[[pathlib.Path, random.Random], None]
    params_intact: bool = False  # step 9's weights are untouched: inference may give them
    latest_usable: bool = False  # step 9 is intact: inference and training must use it
    set_aside: bool = True  # training must rename the damaged step 9 aside (there is one to rename)


KINDS = [Damage("flip-params-byte", flip_params), Damage("flip-optimizer-byte", flip_optimizer, params_intact=True),
         Damage("truncate-array-file", truncate), Damage("delete-array-file", delete_file),
         Damage("delete-metadata", delete_metadata), Damage("zero-optimizer-file", zero_file, params_intact=True),
         Damage("data-iterator-state", damage_iterator, params_intact=True),
         Damage("digest-file", damage_digest, params_intact=True),
         Damage("other-steps-params", other_steps_params), Damage("renamed-half-way", rename_half_way, set_aside=False),
         Damage("tmp-sibling", tmp_sibling, params_intact=True, latest_usable=True, set_aside=False)]


def run(work: pathlib.Path, trials: int, rng: random.Random) -> Outcome:
    outcome = Outcome("checkpoint-damage")
    root = outcome.fresh_root(work)
    data = tiny_data(work)
    base = root / "base"
    done = run_cli(train_args(base, data, STEPS, EVERY, "--stop-at-step", str(STOP)), root / "base.log")
    if done.rc != 0:
        raise RuntimeError(f"the base run failed ({done.rc}): {done.last_line()}")
    pristine = {s: probe(base, root / f"base.probe{s}.log", s) for s in (STOP - EVERY, STOP)}
    reference = _resume(base, root / "reference", data)
    log.info("checkpoint-damage: intact steps %s, intact resume %s", pristine, reference)
    for kind in KINDS[:trials]:
        outcome.record(kind.name, _trial(kind, base, root / kind.name, data, pristine, reference, rng))
    return outcome


def _resume(base: pathlib.Path, run: pathlib.Path, data: pathlib.Path) -> dict:
    shutil.copytree(base, run)
    done = run_cli(train_args(run, data, STEPS, EVERY), run.parent / f"{run.name}.resume.log")
    if done.rc != 0 or done.traceback:
        return {"error": f"resume exited {done.rc}: {done.last_line()}"}
    return probe(run, run.parent / f"{run.name}.probe.log")


def _trial(kind: Damage, base: pathlib.Path, run: pathlib.Path, data: pathlib.Path, pristine: dict[int, dict],
           reference: dict, rng: random.Random) -> str | None:
    damaged = run / "run"
    shutil.copytree(base, damaged)
    try:
        kind.apply(damaged / "checkpoints" / str(STOP), rng)
    except (OSError, ValueError) as err:
        return f"could not apply the damage: {err}"
    problem = _inference_problem(kind, probe(damaged, run / "probe.log"), pristine)
    if problem:
        return problem
    done = run_cli(train_args(damaged, data, STEPS, EVERY), run / "resume.log")
    if done.rc != 0 or done.traceback:
        return f"resuming exited {done.rc}{' with a traceback' if done.traceback else ''}: {done.last_line()}"
    final = probe(damaged, run / "final.probe.log")
    if final != reference:
        return (f"the resumed run ended with other weights than a resume from intact checkpoints ({final} vs "
                f"{reference}): it restarted from a damaged step")
    aside = [p.name for p in (damaged / "checkpoints").glob(f"{STOP}.*") if "orbax-checkpoint-tmp" not in p.name]
    if kind.set_aside and not aside:
        return f"training did not set the damaged step {STOP} aside (no checkpoints/{STOP}.* beside the steps)"
    return None


def _inference_problem(kind: Damage, loaded: dict, pristine: dict[int, dict]) -> str | None:
    """None when load_for_inference gave an intact step's own weights, step 9's only where they are undamaged."""
    want = f"step {STOP}" if kind.latest_usable else f"step {STOP - EVERY}" + (
        f" or {STOP}" if kind.params_intact else "")
    if "error" in loaded:
        return f"load_for_inference refused although {want} is intact: {loaded['error']}"
    if loaded != pristine.get(loaded["step"]):
        return (f"load_for_inference returned DAMAGED weights for step {loaded['step']}" if loaded["step"] == STOP
                else f"load_for_inference returned step {loaded['step']} with weights that are not that step's")
    if loaded["step"] == STOP and not kind.params_intact:
        return f"load_for_inference returned step {STOP}, whose weights it cannot have read intact"
    if kind.latest_usable and loaded["step"] != STOP:
        return f"load_for_inference returned step {loaded['step']}, not the intact latest step {STOP}"
    return None

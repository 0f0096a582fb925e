"""Resuming `transcend data synth`: the settings that fix its games, recorded in OUT/settings.json at the start.

A rerun of the same command finds the same settings, keeps the games already recorded in OUT/records/
and plays only the missing game ids; a game is a function of its id and its two players, so the result is
the output of an uninterrupted run. A rerun with other settings is refused (its games would mix two
populations) with the differing settings named. `--overwrite` starts afresh.

Only what determines the games is recorded (seed, experts, anchors, game counts, ply cap, the engine's
version); --workers and --bootstrap may change between runs, and the outputs are always written from the
current options.
"""
from __future__ import annotations

import json
import logging
import pathlib

from arena import Expert
from experiments.synth.ratings import Anchor
from safeio import write_json_atomic

log = logging.getLogger(__name__)
SETTINGS = "settings.json"
# Each recorded setting and the options that set it, for the refusal's sentence.
FLAGS = {
    "seed": "--seed",
    "games": "--games",
    "calibration_games": "--calibration-games",
    "max_plies": "--max-plies",
    "experts": "the population (--experts, --nodes, --epsilon, --biases, --clones, --population)",
    "anchors": "the anchors (--anchors, --anchor-table)",
    "stockfish": "the Stockfish version (--stockfish)",
}


def game_settings(seed: int, games: int, calibration_games: int, max_plies: int, experts: list[Expert],
                  anchors: list[Anchor], stockfish_version: str | None) -> dict:
    """Everything that determines the planned games, as JSON values (so it compares equal to its file)."""
    settings = {
        "seed": seed, "games": games, "calibration_games": calibration_games, "max_plies": max_plies,
        "experts": [e.describe() for e in experts],
        "anchors": [{"name": a.engine.name, "engine_settings": a.engine.settings()} for a in anchors],
        "stockfish": stockfish_version,
    }
    return json.loads(json.dumps(settings))


def differences(recorded: dict, settings: dict) -> list[str]:
    """'--seed: recorded 0, now 1' for each setting that differs."""
    out = []
    for key, flag in FLAGS.items():
        then, now = recorded.get(key), settings.get(key)
        if then != now:
            out.append(f"{flag}: recorded {_brief(then)}, now {_brief(now)}")
    return out


def _brief(value: object) -> str:
    if isinstance(value, list):  # experts or anchors: their names say what differs
        return "[" + ", ".join(str(v.get("name", v)) if isinstance(v, dict) else str(v) for v in value) + "]"
    return json.dumps(value)


def refuse_foreign(out: pathlib.Path, overwrite: bool, outputs: tuple[str, ...]) -> None:
    """Before anything starts: OUT may hold `outputs` only with its settings.json (a run to continue) or --overwrite."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; name a directory")
    existing = [n for n in outputs if (out / n).exists()]
    if existing and not overwrite and not (out / SETTINGS).exists():
        raise FileExistsError(f"{out} already holds {existing} but no {SETTINGS} (not a resumable synth run); "
                              "pass --overwrite to replace them or choose another --out")


def prepare_out(out: pathlib.Path, settings: dict, overwrite: bool, outputs: tuple[str, ...]) -> bool:
    """Makes OUT ready for this run's games; returns True when it continues a run with the same settings.

    With --overwrite every previous output goes. Otherwise OUT/settings.json must hold the same settings,
    or OUT must hold none of `outputs` (a fresh run); then the settings are recorded before any game.
    """
    refuse_foreign(out, overwrite, outputs)
    path = out / SETTINGS
    if overwrite:
        for name in (*outputs, SETTINGS):
            (out / name).unlink(missing_ok=True)
    elif path.exists():
        differ = differences(_read_settings(path), settings)
        if differ:
            raise ValueError(f"{out} holds the games of a synth run with other settings ({'; '.join(differ)}); "
                             "rerun with the recorded settings to continue it, pass --overwrite to replace its "
                             "games, or choose another --out")
        return True
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, settings)
    return False


def _read_settings(path: pathlib.Path) -> dict:
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is unreadable ({err}); pass --overwrite to start the run afresh, "
                         "or choose another --out") from err
    if not isinstance(recorded, dict):
        raise ValueError(f"{path} is not a JSON object; pass --overwrite to start the run afresh, or choose another --out")
    return recorded

"""The tokenizer ablation: the same arm of `make demo` trained with two tokenizers at the same budget, compared.

    python -m experiments.demo.ablation --arm move=runs/demo/diverse --arm char32=runs/demo-char/diverse

Each ARM_DIR is one demo arm (shards/, run/, and the demo's summary.json and timings.json one level up). Per
tokenizer, measured on the arm's validation games: the validation loss per move (loss per trained token x trained
tokens per move of the shards), the legal-move probability mass (what the model puts on legal moves before they are
renormalised; for characters, the probability that sampling at T=1 writes a legal move), the move-matching
accuracy of its arg-max against the recorded move (95% Wilson interval), and the ladder rating at each
evaluated temperature (from the demo's summary.json). Prints a markdown table, then one JSON line.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

import chess
import numpy as np

from data_pipeline import get_tokenizer, read_manifest
from data_pipeline import shards as shard_format
from experiments.analyze.games import read_games
from experiments.analyze.matching import argmax_matches, legal_masses, summarize
from jaxformer.eval.api import load_run

POSITIONS_GAMES = 40  # validation games scored for legal mass and move-matching


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.demo.ablation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arm", action="append", required=True, metavar="NAME=ARM_DIR",
                   help="a demo arm directory (shards/, run/) and the name its row gets (repeatable; required)")
    p.add_argument("--games", type=int, default=POSITIONS_GAMES,
                   help="validation games scored for legal mass and move-matching (default: %(default)s)")
    p.add_argument("--as-rating", type=int, default=None, help="the rating a +elo model plays as (default: none)")
    return p.parse_args(argv)


def tokens_per_move(shards_dir: pathlib.Path) -> float:
    """Trained tokens of the training split per move (game start, ratings, move numbers and separators included;
    a board tokenizer's position tokens are given, not trained on, so they are left out as the loss leaves them)."""
    manifest = read_manifest(str(shards_dir))
    index = shard_format.load_index(str(shards_dir), list(range(manifest["shards"])))
    train = index["split"] == shard_format.SPLITS.index("train")
    plies = float(index["plies"][train].sum())
    given = len(get_tokenizer(manifest["tokenizer"]).position_ids(chess.Board())) * plies
    return (float(index["n_tokens"][train].sum()) - given) / plies


def measure_arm(name: str, arm_dir: pathlib.Path, games: int, as_rating: int | None) -> dict:
    """One row of the table: what the arm's model learned, per move, and how it plays."""
    summary = json.loads((arm_dir.parent / "summary.json").read_text())["arms"]["arms"][arm_dir.name]
    timings = json.loads((arm_dir.parent / "timings.json").read_text())
    manifest = read_manifest(str(arm_dir / "shards"))
    per_move = tokens_per_move(arm_dir / "shards")
    held_out = read_games(str(arm_dir / "shards"), "validation", None, limit=games, seed=0)
    player = load_run(arm_dir / "run", as_rating=as_rating).player("move")
    matching = summarize(argmax_matches(player, held_out, 0, batch=16))["overall"]
    mass = legal_masses(player, held_out, 0, batch=16)
    loss = summary["final_val_loss"]
    return {"name": name, "tokenizer": manifest["tokenizer"], "params": summary["params"],
            "trained_steps": summary["trained_steps"], "train_s": timings["stages_s"].get(f"{arm_dir.name}.train"),
            "tokens_per_move": round(per_move, 3), "val_loss_per_token": loss,
            "val_loss_per_move": None if loss is None else round(loss * per_move, 4),
            "legal_mass": round(float(np.mean(mass)), 4), "positions": len(mass),
            "move_matching": matching["accuracy"], "move_matching_ci95": matching["ci95"],
            "ratings": [{k: t[k] for k in ("temperature", "elo", "lo", "hi", "games")} for t in summary["temperatures"]],
            "best_expert": summary["best_expert"]}


def table(rows: list[dict]) -> list[str]:
    def fmt(x: float | None, spec: str) -> str:
        return "-" if x is None else format(x, spec)

    temps = [t["temperature"] for t in rows[0]["ratings"]]
    head = ["arm", "tokenizer", "params", "steps", "train s", "tokens/move", "val loss/move", "legal mass",
            "move-matching [95%]", *[f"Elo T={t:g} [95%]" for t in temps]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lo, hi = r["move_matching_ci95"]
        cells = [r["name"], r["tokenizer"], f"{r['params']:,}", str(r["trained_steps"]), fmt(r["train_s"], ".0f"),
                 fmt(r["tokens_per_move"], ".2f"), fmt(r["val_loss_per_move"], ".3f"), fmt(r["legal_mass"], ".3f"),
                 f"{100 * r['move_matching']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"]
        cells += [f"{fmt(t['elo'], '.0f')} [{fmt(t['lo'], '.0f')}, {fmt(t['hi'], '.0f')}]" for t in r["ratings"]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    arms = []
    for spec in args.arm:
        name, sep, path = spec.partition("=")
        if not sep or not pathlib.Path(path, "run").is_dir():
            raise SystemExit(f"--arm {spec!r}: expected NAME=ARM_DIR with ARM_DIR/run and ARM_DIR/shards "
                             "(a `make demo` arm such as runs/demo/diverse)")
        arms.append((name, pathlib.Path(path)))
    rows = [measure_arm(name, path, args.games, args.as_rating) for name, path in arms]
    print("\n".join(table(rows)))
    print(json.dumps({"ablation": "tokenizer", "arms": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`transcend eval`: rated matches of a run's checkpoints against Stockfish (and the random mover).

Results go to RUN/eval/STEP/ (games.jsonl, games.pgn, ratings.json) and to TensorBoard under RUN/tb/.
Restarting continues where the last run stopped: each planned game has a stable id, and finished
ids are read back from games.jsonl, so no game is ever played twice.
"""
from __future__ import annotations

import argparse
import logging
import os
import pathlib
import socket
import sys
import time

from arena import (
    DEFAULT_MAX_PLIES,
    DEFAULT_NODES,
    EngineSpec,
    GameStore,
    MatchRunner,
    PlannedGame,
    Stockfish,
    load_anchor_table,
    load_openings,
    make_opponent,
    parse_opponents,
    read_all_records,
)
from jaxformer.config import RunConfig
from jaxformer.eval.results import rate_step, reference_rating
from jaxformer.rundir import RunDir, games_stem
from safeio import write_json_atomic

log = logging.getLogger("transcend.eval")
PAPER_TEMPERATURES = "0.001,0.01,0.1,0.3,0.5,0.75,1.0,1.5"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def plan_step(step: int, model: str, opponents: list[str], temperatures: list[float], games: int, mode: str,
              openings: list[tuple[str, ...]] | None) -> list[PlannedGame]:
    """Every game of a step, in a fixed order; colours alternate, each opening is played with both colours."""
    plan = []
    for temp in temperatures:
        for opp in opponents:
            for k in range(games):
                white, black = (model, opp) if k % 2 == 0 else (opp, model)
                opening = openings[(k // 2) % len(openings)] if openings else ()
                plan.append(PlannedGame(f"s{step}-{mode}-T{temp:g}-{opp}-{k:04d}", k + 1, white, black,
                                        temperature=temp, mode=mode, opening=opening))
    return plan


def shard_of(plan: list[PlannedGame], shard: tuple[int, int]) -> list[PlannedGame]:
    i, n = shard
    return [g for k, g in enumerate(plan) if k % n == i]


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: need 0 <= I < N")
    return i, n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="transcend eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run directory written by `transcend train`")
    p.add_argument("--watch", action="store_true", help="keep polling for new checkpoints; evaluate each once")
    p.add_argument("--poll", type=float, default=60.0, help="seconds between checkpoint polls with --watch")
    p.add_argument("--steps", default="latest", help="latest | all | comma-separated steps (default latest)")
    p.add_argument("--levels", default="1,3,5",
                   help="opponents: Stockfish skill levels with optional node/depth limits (3, l0-n100, l2-d1) "
                        "and/or 'random' for the uniform random mover (default 1,3,5: the paper)")
    p.add_argument("--nodes", type=int, default=DEFAULT_NODES,
                   help=f"node limit per engine move for bare levels (default {DEFAULT_NODES} ~ 0.1 s on one core)")
    p.add_argument("--temperatures", default=PAPER_TEMPERATURES, help="model sampling temperatures (0 = arg-max)")
    p.add_argument("--games", type=int, default=100, help="games per temperature and opponent (half with each colour)")
    p.add_argument("--mode", choices=("move", "char"), default="move",
                   help="move: exact temperature over legal moves; char: the paper's per-character sampling")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="engine searches in parallel")
    p.add_argument("--concurrency", type=int, default=32, help="games in flight (batched into one model pass)")
    p.add_argument("--shard", type=_parse_shard, default=(0, 1), help="I/N: play every N-th planned game from I")
    p.add_argument("--anchors", default="paper", help="anchor table: paper | a bundled table (ladder-sf15) | FILE")
    p.add_argument("--openings", help="opening suite: one line of SAN moves per opening (default: start position)")
    p.add_argument("--max-plies", type=int, default=DEFAULT_MAX_PLIES, help="ply cap; capped games are adjudicated")
    p.add_argument("--stockfish", help="Stockfish binary (default: PATH, then /usr/games/stockfish)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the Elo interval")
    p.add_argument("--out", help="evaluation directory (default RUN/eval)")
    p.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard scalars")
    return p


class Evaluator:
    """One run's evaluation: the opponents and adjudicator (kept across steps), and each step's games and ratings."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.run = RunDir(args.run)
        self.opponents = parse_opponents(args.levels, args.nodes)
        self.temperatures = [float(t) for t in args.temperatures.split(",") if t.strip()]
        if not self.temperatures or min(self.temperatures) < 0:
            raise ValueError(f"--temperatures {args.temperatures!r}: give non-negative temperatures")
        self.anchors = load_anchor_table(args.anchors)
        unanchored = [o for o in self.opponents if o not in self.anchors]
        if unanchored:
            log.warning("opponents %s are not in anchor table %r: their games are played but not rated",
                        unanchored, args.anchors)
        self.openings = load_openings(args.openings) if args.openings else None
        self.players = {name: make_opponent(name, args.stockfish) for name in self.opponents}
        self.adjudicator = Stockfish(EngineSpec(skill=20, nodes=DEFAULT_NODES), args.stockfish)
        self.stem = games_stem(args.shard)

    def close(self) -> None:
        for p in self.players.values():
            p.close()
        self.adjudicator.close()

    def model_name(self, step: int) -> str:
        return f"{self.run.root.resolve().name}@{step}"

    def pending(self, step: int) -> tuple[list[PlannedGame], GameStore]:
        a = self.args
        plan = shard_of(plan_step(step, self.model_name(step), self.opponents, self.temperatures, a.games, a.mode,
                                  self.openings), a.shard)
        store = GameStore(self.run.eval_step(step, a.out), self.stem)
        return [g for g in plan if g.game_id not in store.done], store

    def evaluate(self, step: int) -> bool:
        """Play a step's missing games and rate it; False when its checkpoint cannot be loaded."""
        from jaxformer.checkpoint import CheckpointError, load_for_inference

        todo, store = self.pending(step)
        run_cfg = None
        if todo:
            try:
                model, step, run_cfg = load_for_inference(self.run.root, step)
            except CheckpointError as err:
                log.error("skipping step %d: %s", step, err)
                return False
            self.play(step, model, run_cfg, todo, store)
        self.rate(step, run_cfg)
        return True

    def play(self, step: int, model, run_cfg: RunConfig, todo: list[PlannedGame], store: GameStore) -> None:
        """The model of `step` plays the games in `todo` against the opponents; finished games go to `store`."""
        from data_pipeline import get_tokenizer
        from jaxformer.eval.model_player import ModelPlayer

        name = self.model_name(step)
        player = ModelPlayer(model, get_tokenizer(run_cfg.data.tokenizer), mode=self.args.mode, name=name,
                             settings={"run": str(self.run.root), "step": step}, slots=self.args.concurrency)
        meta = {"run": str(self.run.root), "step": step, "event": f"transcend eval {self.run.root.name}",
                "site": socket.gethostname()}
        runner = MatchRunner({**self.players, name: player}, self.adjudicator, store.append,
                             max_plies=self.args.max_plies, concurrency=self.args.concurrency,
                             workers=self.args.workers, meta=meta)
        log.info("step %d: playing %d games (%d already recorded)", step, len(todo), len(store.done))
        runner.run(todo, desc=f"step {step}")

    def rate(self, step: int, run_cfg: RunConfig | None = None) -> dict:
        """Rate a step from every shard's games; writes RUN/eval/STEP/ratings.json (and TensorBoard scalars)."""
        if run_cfg is None:
            run_cfg = RunConfig.from_json(self.run.config.read_text())
        records = read_all_records(self.run.eval_step(step, self.args.out))
        ratings = rate_step(records, self.model_name(step), self.anchors, run=str(self.run.root), step=step,
                            anchor_table=self.args.anchors, reference=reference_rating(run_cfg),
                            n_boot=self.args.n_boot)
        write_json_atomic(self.run.ratings(step, self.args.out), ratings)
        for r in ratings["results"]:
            bound = f" ({r['elo_bound']} bound)" if r["elo_bound"] else ""
            log.info("step %d T=%g %s: %d games, score %s, Elo %s %s%s", step, r["temperature"], r["mode"],
                     r["games"], r["score"], r["elo"], r["elo_ci95"], bound)
        if not self.args.no_tensorboard:
            self._tensorboard(step, ratings)
        return ratings

    def _tensorboard(self, step: int, ratings: dict) -> None:
        from tensorboardX import SummaryWriter

        with SummaryWriter(logdir=str(self.run.tensorboard), filename_suffix=".eval") as tb:
            for r in ratings["results"]:
                tag = f"eval_{r['mode']}/T{r['temperature']:g}"  # "=" is not allowed in tags
                for key in ("elo", "margin", "score"):
                    if r[key] is not None:
                        tb.add_scalar(f"{tag}/{key}", r[key], step)


def steps_to_evaluate(run: RunDir, spec: str) -> list[int]:
    from jaxformer.checkpoint import list_complete_steps

    complete = list_complete_steps(run.root)
    if spec == "latest":
        return complete[-1:]
    if spec == "all":
        return complete
    try:
        wanted = [int(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--steps {spec!r}: expected latest, all or comma-separated integers") from None
    for s in wanted:
        if s not in complete:
            log.error("step %d has no complete checkpoint in %s (complete: %s); skipping", s, run.checkpoints, complete)
    return [s for s in wanted if s in complete]


def _log_to_file(path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)


def _evaluate_steps(ev: Evaluator, args: argparse.Namespace) -> int:
    """Evaluate the requested steps (with --watch: every new complete step, until interrupted); returns how many
    were rated. A step that cannot be loaded is logged once and not retried."""
    done: set[int] = set()
    rated = 0
    while True:
        for step in steps_to_evaluate(ev.run, args.steps if not args.watch else "all"):
            if step not in done:
                rated += ev.evaluate(step)
                done.add(step)
        if not args.watch:
            return rated
        time.sleep(args.poll)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("absl").setLevel(logging.WARNING)  # Orbax logs every restore step at INFO
    run = RunDir(args.run)
    if not run.is_run():
        print(f"transcend eval: {run.root} is not a run directory (no {run.config.name}); pass --run RUN_DIR",
              file=sys.stderr)
        return 2
    try:
        ev = Evaluator(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"transcend eval: {err}", file=sys.stderr)
        return 2
    _log_to_file(run.worker_log(args.out))
    try:
        rated = _evaluate_steps(ev, args)
    except KeyboardInterrupt:
        log.info("interrupted; finished games are saved, rerun to continue")
        return 130
    finally:
        ev.close()
    if not args.watch and not rated:
        log.error("no checkpoint evaluated in %s", run.root)
        return 1
    return 0

"""`transcend eval`: rated matches of a run's checkpoints against Stockfish (and the random mover).

Results go to RUN/eval/STEP/ (games.jsonl, games.pgn, ratings.json) and to TensorBoard under RUN/tb/.
Restarting continues where the last run stopped: each planned game has a stable id, and finished
ids are read back from the games files, so no game is ever played twice. Workers may run side by
side on one step (on one host or several, sharing the run directory): each game is claimed just
before it starts (arena.ClaimBoard, RUN/eval/STEP/claims/), so they split the plan between them.
The model's games are keyed by the checkpoint's identity, `run-<run_id[:12]>@STEP` (config.json's
run_id), so a copied or renamed run directory keeps its games; a run without a run_id is named by
its directory.

A run of a move tokenizer plays through jaxformer.eval.move_player (move mode only); `--as-rating R` conditions
a rating-conditioned ("+elo") model as a player rated R, and its games and results are kept apart per R.

`--protocol paper` plays the paper's evaluation protocol instead of this project's (`fixed`), each of its
items also a switch of its own (jaxformer/eval/protocol.py); games of each protocol are rated apart.
"""
from __future__ import annotations

import argparse
import functools
import logging
import os
import pathlib
import socket
import sys
import time

from arena import (
    DEFAULT_LADDER,
    DEFAULT_NODES,
    DRAW_MODELS,
    ClaimBoard,
    EngineSpec,
    GameStore,
    MatchRunner,
    PlannedGame,
    RungDraws,
    Stockfish,
    bundled_suites,
    load_anchor_table,
    load_openings,
    make_opponent,
    parse_opponents,
    read_all_records,
)
from data_pipeline import get_tokenizer
from jaxformer.config import RunConfig
from jaxformer.eval.protocol import PRESETS, Protocol, add_protocol_arguments, resolve_protocol
from jaxformer.eval.results import GLICKO_MODES, describe_rating, prepare_rungs, rate_step, reference_rating
from jaxformer.eval.tokenizer_checks import check_as_rating, check_mode
from jaxformer.rundir import RunDir, games_stem
from safeio import write_json_atomic

log = logging.getLogger("transcend.eval")
PAPER_TEMPERATURES = "0.001,0.01,0.1,0.3,0.5,0.75,1.0,1.5"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The plan's time estimate is rough, by design: an average game of ROUGH_PLIES plies, engines searching
# ROUGH_NODES_PER_S nodes a second per worker (a depth limit: ROUGH_DEPTH_MOVE_S a move) and one batched model
# pass of ROUGH_MODEL_PASS_S serving every game in flight. The progress bar's ETA refines it as games finish.
ROUGH_PLIES = 120
ROUGH_NODES_PER_S = 500_000
ROUGH_DEPTH_MOVE_S = 0.05
ROUGH_MODEL_PASS_S = 0.3


def plan_step(step: int, model: str, opponents: list[str], temperatures: list[float], games: int, mode: str,
              openings: list[tuple[str, ...]] | None, protocol: Protocol = PRESETS["fixed"],
              as_rating: int | None = None) -> list[PlannedGame]:
    """Every game of a step, in a fixed order; colours alternate, each opening is played with both colours.

    A protocol other than `fixed` names itself in the game ids, and so does a rating the model is conditioned
    on (`-R1500`), so games at several ratings share RUN/eval/STEP/. With `engine_per_match` (the paper's) each
    temperature and opponent is two matches played in turn, as the paper's (evaluation.py lines 166-174): the
    model Black in the first games // 2 games, then White; each match's games are played one after another.
    """
    prefix = f"s{step}-{mode}" if protocol.label == "fixed" else f"s{step}-{protocol.label}-{mode}"
    prefix += f"-R{as_rating}" if as_rating is not None else ""
    plan = []
    for temp in temperatures:
        for opp in opponents:
            for k in range(games):
                if protocol.engine_per_match:
                    model_white, nth = k >= games // 2, k - games // 2 if k >= games // 2 else k
                    match: str | None = f"{prefix}-T{temp:g}-{opp}-model-{'white' if model_white else 'black'}"
                else:
                    model_white, nth, match = k % 2 == 0, k // 2, None
                white, black = (model, opp) if model_white else (opp, model)
                opening = openings[nth % len(openings)] if openings else ()
                plan.append(PlannedGame(f"{prefix}-T{temp:g}-{opp}-{k:04d}", k + 1, white, black,
                                        temperature=temp, mode=mode, opening=opening, match=match))
    return plan


def shard_of(plan: list[PlannedGame], shard: tuple[int, int]) -> list[PlannedGame]:
    i, n = shard
    return [g for k, g in enumerate(plan) if k % n == i]


def planned_per_group(plan: list[PlannedGame]) -> dict[tuple[float, str], int]:
    """Games the (whole, unsharded) plan holds per (temperature, mode): ratings.json's planned_games."""
    out: dict[tuple[float, str], int] = {}
    for g in plan:
        key = (float(g.temperature or 0.0), str(g.mode))
        out[key] = out.get(key, 0) + 1
    return out


def rough_seconds(todo: list[PlannedGame], model: str, workers: int, concurrency: int,
                  movetime: float | None = None) -> float:
    """A rough wall time for `todo` (see ROUGH_PLIES): engine searches spread over the workers, plus model passes."""
    engine_s = 0.0
    for g in todo:
        opponent = g.black if g.white == model else g.white
        if opponent != "random":
            spec = EngineSpec.parse(opponent)
            move_s = movetime if movetime is not None else spec.nodes / ROUGH_NODES_PER_S if spec.nodes is not None \
                else ROUGH_DEPTH_MOVE_S
            engine_s += ROUGH_PLIES / 2 * move_s
    model_s = len(todo) * ROUGH_PLIES / 2 * ROUGH_MODEL_PASS_S / max(1, min(concurrency, len(todo) or 1))
    return engine_s / max(1, workers) + model_s


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def _parse_temperatures(text: str) -> list[float]:
    try:
        temps = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        temps = []
    if not temps or min(temps) < 0 or not all(t == t and t != float("inf") for t in temps):
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated non-negative numbers, e.g. 0,0.1,1.0 "
                                         "(0 = arg-max)")
    return temps


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected I/N, e.g. 0/4") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= I < N")
    return i, n


def build_parser() -> argparse.ArgumentParser:
    """Every option's help names its default once."""
    p = argparse.ArgumentParser(prog="transcend eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_plan_arguments(p)
    _add_execution_arguments(p)
    _add_input_arguments(p)
    _add_rating_arguments(p)
    _add_output_arguments(p)
    add_protocol_arguments(p)
    return p


def _add_plan_arguments(p: argparse.ArgumentParser) -> None:
    """What is evaluated: the run, its checkpoints, the opponents, temperatures and games."""
    p.add_argument("--run", required=True, help="run directory written by `transcend train` (required)")
    p.add_argument("--watch", action="store_true",
                   help="keep polling for new checkpoints; evaluate each once (default: off)")
    p.add_argument("--poll", type=float, default=60.0, help="seconds between checkpoint polls with --watch "
                                                            "(default: %(default)s)")
    p.add_argument("--steps", default="latest", help="latest | all | comma-separated steps (default: %(default)s)")
    p.add_argument("--levels", default="1,3,5",
                   help="opponents: Stockfish skill levels with optional node/depth limits (3, l0-n100, l2-d1) "
                        "and/or 'random' for the uniform random mover (default: %(default)s, the paper's)")
    p.add_argument("--nodes", type=_positive_int, default=DEFAULT_NODES,
                   help="node limit per engine move for bare levels (default: %(default)s, ~ 0.1 s on one core)")
    p.add_argument("--temperatures", type=_parse_temperatures, default=PAPER_TEMPERATURES,
                   help="model sampling temperatures, comma-separated, 0 = arg-max (default: %(default)s, the paper's)")
    p.add_argument("--games", type=_positive_int, default=100,
                   help="games per temperature and opponent, half with each colour (default: %(default)s)")
    p.add_argument("--as-rating", type=int, metavar="R",
                   help="condition a rating-conditioned ('+elo' tokenizer) model as a player rated R: both players' "
                        "rating tokens are R; required for such a model, refused for others (default: off)")


def _add_execution_arguments(p: argparse.ArgumentParser) -> None:
    """How the planned games are played: engine searches in parallel, games in flight, shards."""
    p.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1,
                   help="engine searches in parallel (default: %(default)s, the CPU count)")
    p.add_argument("--concurrency", type=_positive_int, default=32,
                   help="games in flight, batched into one model pass (default: %(default)s)")
    p.add_argument("--shard", type=_parse_shard, default="0/1",
                   help="I/N: play every N-th planned game from I; workers without --shard split the games too "
                        "(default: %(default)s, the whole plan)")


def _add_input_arguments(p: argparse.ArgumentParser) -> None:
    """What it reads or runs besides the run: the anchor table, the opening suite, the Stockfish binary."""
    p.add_argument("--anchors", default="paper",
                   help=f"anchor table: paper | a bundled table ({DEFAULT_LADDER}, which also rates random) | FILE "
                        "(default: %(default)s)")
    p.add_argument("--openings", metavar="NAME|FILE",
                   help=f"opening suite, each opening played with both colours: a bundled one "
                        f"({', '.join(bundled_suites())}) or a file of SAN lines (default: none, the initial position)")
    p.add_argument("--stockfish", help="Stockfish binary (default: $TRANSCEND_STOCKFISH, PATH, then /usr/games/stockfish)")


def _add_rating_arguments(p: argparse.ArgumentParser) -> None:
    """How the games are rated: the bootstrap, the fit's outcome model, the rungs, Glicko-2."""
    p.add_argument("--n-boot", type=_positive_int, default=1000,
                   help="bootstrap resamples for the Elo interval (default: %(default)s)")
    p.add_argument("--draw-model", choices=DRAW_MODELS, default="half",
                   help="the fit's draws: half points, or Davidson's model with a fitted draw parameter "
                        "(default: %(default)s)")
    p.add_argument("--white-advantage", action="store_true",
                   help="fit a White advantage (Elo added to White in every game) (default: off)")
    p.add_argument("--fixed-rungs", action="store_true",
                   help="hold a ladder table's rungs at their table values instead of refitting them from the "
                        "games the table ships, so intervals leave out the rungs' uncertainty (default: off)")
    p.add_argument("--glicko", choices=GLICKO_MODES,
                   help="Glicko-2 beside the Elo: one rating period over all games, or the paper's one period per "
                        "game (default: the protocol's: fixed one-period, paper per-game)")


def _add_output_arguments(p: argparse.ArgumentParser) -> None:
    """Where the results go."""
    p.add_argument("--out", help="evaluation directory (default: RUN/eval)")
    p.add_argument("--no-tensorboard", action="store_true",
                   help="do not write TensorBoard scalars (default: off, scalars go to RUN/tb)")


def model_name(run: RunDir, run_cfg: RunConfig, step: int) -> str:
    """The checkpoint's identity: `run-<first 12 hex of run_id>@STEP`, or `<directory name>@STEP` without a run_id."""
    run_id = getattr(run_cfg, "run_id", "") or ""
    return f"run-{run_id[:12]}@{step}" if run_id else f"{run.root.resolve().name}@{step}"


def anchor_warning(opponents: list[str], anchors: dict[str, float], table: str) -> str | None:
    """Why some opponents' games rate nothing, and which table would rate them; None when all are anchored."""
    unanchored = [o for o in opponents if o not in anchors]
    if not unanchored:
        return None
    advice = f"pass --anchors {DEFAULT_LADDER} to rate them" \
        if table != DEFAULT_LADDER and all(o in load_anchor_table(DEFAULT_LADDER) for o in unanchored) \
        else "pass an anchor table that has them (`transcend ladder` writes one)"
    return (f"opponents {', '.join(unanchored)} are not in anchor table {table!r}: their games are played but rate "
            f"nothing (the model's rating uses only {', '.join(o for o in opponents if o in anchors) or 'no opponent'}); "
            f"{advice}")


class Evaluator:
    """One run's evaluation: the opponents and adjudicator (kept across steps), and each step's games and ratings."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.protocol = resolve_protocol(args)
        self.run = RunDir(args.run)
        self.run_cfg = RunConfig.from_json(self.run.config.read_text())
        self.opponents = parse_opponents(args.levels, args.nodes)
        self.temperatures: list[float] = args.temperatures
        self.tokenizer = get_tokenizer(self.run_cfg.data.tokenizer)
        check_mode(self.tokenizer, self.protocol.mode)
        check_as_rating(self.tokenizer, args.as_rating)
        self.anchors = load_anchor_table(args.anchors)
        warning = anchor_warning(self.opponents, self.anchors, args.anchors)
        if warning:
            log.warning("%s", warning)
        self.openings = load_openings(args.openings) if args.openings else None
        pr = self.protocol
        self.players = {name: make_opponent(name, args.stockfish, movetime=pr.movetime, per_match=pr.engine_per_match)
                        for name in self.opponents}
        # A capped game's judge (a plain draw at the cap needs none); node-limited, whatever the opponents' limit.
        self.adjudicator = Stockfish(EngineSpec(skill=20, nodes=DEFAULT_NODES), args.stockfish) \
            if pr.cap_result == "adjudicate" else None
        self.stem = games_stem(args.shard)

    def close(self) -> None:
        for p in self.players.values():
            p.close()
        if self.adjudicator is not None:
            self.adjudicator.close()

    def model_name(self, step: int) -> str:
        return model_name(self.run, self.run_cfg, step)

    @functools.cached_property
    def rungs(self) -> tuple[RungDraws | None, dict]:
        """The anchor table's rungs, refitted once from the games it ships (results.prepare_rungs)."""
        a = self.args
        return prepare_rungs(a.anchors, self.anchors, n_boot=a.n_boot, draw_model=a.draw_model,
                             white_advantage=a.white_advantage, fixed=a.fixed_rungs)

    def full_plan(self, step: int) -> list[PlannedGame]:
        a = self.args
        return plan_step(step, self.model_name(step), self.opponents, self.temperatures, a.games, self.protocol.mode,
                         self.openings, self.protocol, a.as_rating)

    def pending(self, step: int) -> tuple[list[PlannedGame], list[PlannedGame]]:
        """This worker's share of the plan (its --shard), and those of its games no games file holds yet."""
        mine = shard_of(self.full_plan(step), self.args.shard)
        done = {r["game_id"] for r in read_all_records(self.run.eval_step(step, self.args.out))}
        return mine, [g for g in mine if g.game_id not in done]

    def describe_plan(self, step: int, mine: list[PlannedGame], todo: list[PlannedGame]) -> str:
        a = self.args
        share = f", shard {a.shard[0]}/{a.shard[1]}: {len(mine)}" if a.shard != (0, 1) else ""
        eta = _duration(rough_seconds(todo, self.model_name(step), a.workers, a.concurrency, self.protocol.movetime))
        label = self.protocol.label
        named = f" ({label} protocol, {self.protocol.mode} mode)" if label != "fixed" else ""
        named += f" (as a player rated {a.as_rating})" if a.as_rating is not None else ""
        return (f"step {step} plan{named}: "
                f"{a.games} games per opponent and temperature x {len(self.opponents)} opponents "
                f"({', '.join(self.opponents)}) x {len(self.temperatures)} temperatures "
                f"({', '.join(f'{t:g}' for t in self.temperatures)}) = {len(self.full_plan(step))} games{share}; "
                f"{len(mine) - len(todo)} already recorded, {len(todo)} to play"
                + (f", roughly {eta} (a rough guess; the progress bar's ETA refines it)" if todo else ""))

    def evaluate(self, step: int) -> bool:
        """Play a step's missing games and rate it; False when its checkpoint cannot be loaded."""
        from jaxformer.checkpoint import CheckpointError, load_for_inference

        mine, todo = self.pending(step)
        log.info("%s", self.describe_plan(step, mine, todo))
        if todo:
            try:
                model, step, _ = load_for_inference(self.run.root, step)
            except CheckpointError as err:
                log.error("skipping step %d: %s", step, err)
                return False
            self.play(step, model, todo)
        self.rate(step)
        return True

    def play(self, step: int, model, todo: list[PlannedGame]) -> None:
        """The model of `step` plays the games of `todo` that no other worker has claimed; finished games are
        recorded in this worker's games file."""
        from jaxformer.eval.move_player import model_player

        eval_dir = self.run.eval_step(step, self.args.out)
        claims = ClaimBoard(eval_dir, recorded=lambda: {r["game_id"] for r in read_all_records(eval_dir)})
        store = GameStore(eval_dir, self.stem, lock=claims.locked)

        def record(game: dict) -> None:
            store.append(game)
            claims.finish(game["game_id"])

        name = self.model_name(step)
        pr = self.protocol
        player = model_player(model, self.tokenizer, mode=pr.mode, name=name,
                              settings={"run": str(self.run.root), "step": step}, slots=self.args.concurrency,
                              as_rating=self.args.as_rating, char_sampler=pr.char_sampler,
                              forfeit_after=pr.forfeit_after, strip_own_check=pr.strip_own_check)
        meta = {"run": str(self.run.root), "step": step, "event": f"transcend eval {self.run.root.name}",
                "site": socket.gethostname(), "protocol": pr.record()}
        runner = MatchRunner({**self.players, name: player}, self.adjudicator, record,
                             max_plies=pr.max_plies, concurrency=self.args.concurrency,
                             workers=self.args.workers, meta=meta, cap_result=pr.cap_result,
                             claim_threefold=pr.claim_threefold, white_to_move_bug=pr.white_to_move_bug)
        try:
            runner.run(todo, desc=f"step {step}", claim=lambda g: claims.claim(g.game_id))
        finally:
            claims.release_unfinished()
            claims.close()

    def rate(self, step: int) -> dict:
        """Rate a step from every shard's games, each protocol's games apart (results per temperature, mode and
        protocol); writes RUN/eval/STEP/ratings.json (and TensorBoard scalars)."""
        by_protocol = records_by_protocol(read_all_records(self.run.eval_step(step, self.args.out)), self.protocol)
        ratings: dict = {}
        results: list[dict] = []
        duplicates = 0
        for protocol, records in by_protocol:
            current = protocol["label"] == self.protocol.label
            ratings = rate_step(records, self.model_name(step), self.anchors, run=str(self.run.root), step=step,
                                anchor_table=self.args.anchors, reference=reference_rating(self.run_cfg),
                                n_boot=self.args.n_boot, **rating_options(protocol), draw_model=self.args.draw_model,
                                white_advantage=self.args.white_advantage, openings=self.args.openings,
                                rungs=self.rungs,
                                planned=planned_per_group(self.full_plan(step)) if current else None,
                                as_rating=self.args.as_rating)
            results += [{**r, "protocol": protocol} for r in ratings["results"]]
            duplicates += ratings["duplicate_games"]
        ratings = {**ratings, "duplicate_games": duplicates, "results": results}
        write_json_atomic(self.run.ratings(step, self.args.out), ratings)
        for r in ratings["results"]:
            score = f"score {r['score']:.3f}" if r["score"] is not None else "no score"
            label = r["protocol"]["label"]
            log.info("step %d T=%g %s%s%s: %d rated games of %s planned (%d unrated), %s, %s", step, r["temperature"],
                     r["mode"], "" if label == "fixed" else f" ({label} protocol)",
                     "" if r["as_rating"] is None else f" as {r['as_rating']}", r["games"], r["planned_games"],
                     r["unrated_games"], score, describe_rating(r))
        if not self.args.no_tensorboard:
            self._tensorboard(step, ratings)
        return ratings

    def _tensorboard(self, step: int, ratings: dict) -> None:
        from tensorboardX import SummaryWriter

        with SummaryWriter(logdir=str(self.run.tensorboard), filename_suffix=".eval") as tb:
            for r in ratings["results"]:
                label = r["protocol"]["label"]
                group = f"eval_{r['mode']}" if label == "fixed" else f"eval_{label}_{r['mode']}"
                group += f"_R{r['as_rating']}" if r["as_rating"] is not None else ""
                tag = f"{group}/T{r['temperature']:g}"  # "=" is not allowed in tags
                for key in ("elo", "margin", "score"):
                    if r[key] is not None:
                        tb.add_scalar(f"{tag}/{key}", r[key], step)


def records_by_protocol(records: list[dict], current: Protocol) -> list[tuple[dict, list[dict]]]:
    """The records grouped by their protocol's label (records from before protocols were recorded: `fixed`), each
    with its protocol object; the current protocol's group is there even without records (its planned games)."""
    groups: dict[str, tuple[dict, list[dict]]] = {current.label: (current.record(), [])}
    for r in records:
        protocol = r.get("protocol") or PRESETS["fixed"].record()
        groups.setdefault(protocol["label"], (protocol, []))[1].append(r)
    return [groups[label] for label in sorted(groups)]


def rating_options(protocol: dict) -> dict:
    """rate_step's options that the protocol fixes: the paper's per-game Glicko-2 (evaluation.py lines 191-199)."""
    return {"glicko": protocol.get("glicko", PRESETS["fixed"].glicko)}


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


def _nothing_evaluated(run: RunDir) -> str:
    from jaxformer.checkpoint import list_complete_steps

    if not list_complete_steps(run.root):
        return (f"no checkpoint evaluated: {run.root} has no complete checkpoint yet (none in {run.checkpoints}); "
                "train it first (`transcend train`), or pass --watch to evaluate checkpoints as they appear")
    return f"no checkpoint evaluated in {run.root}: the requested steps are missing or could not be loaded (see above)"


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
        log.info("interrupted: finished games are saved; rerun the same command to play the rest")
        return 130
    finally:
        ev.close()
    if not args.watch and not rated:
        log.error("%s", _nothing_evaluated(run))
        return 1
    return 0

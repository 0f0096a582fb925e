"""Playing synthetic games: one game from its seed, and a pool of worker processes playing many.

A game depends only on (seed, game index) and the two experts: its RNG is seeded from them, each
engine is told a new game starts (which clears its hash; the anchor clears it before every move,
as in the evaluation), and Stockfish at skill 20 with one thread and a node limit is deterministic.
So the games are the same whatever the worker count; workers take games round-robin (game i goes
to worker i % workers) and results are put back in index order.
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import queue as queue_lib
import random
import traceback
from collections.abc import Iterator

import chess

from arena.biases import get_bias
from arena.stockfish import EngineCrash, EngineSpec, Stockfish
from experiments.synth.population import NO_BIAS, Expert

ENGINE_RETRIES = 3  # a crashed engine is restarted and the game replayed from its seed


@dataclasses.dataclass(frozen=True)
class GameJob:
    index: int
    white: Expert
    black: Expert
    calibration: bool  # a game against the anchor, kept out of the training PGN


@dataclasses.dataclass(frozen=True)
class PlayedGame:
    index: int
    white: str
    black: str
    moves: tuple[str, ...]  # UCI
    result: str  # "1-0" | "0-1" | "1/2-1/2"
    ending: str  # checkmate, stalemate, insufficient_material, fifty_moves, threefold_repetition, ..., max_plies
    bias_moves: tuple[int, int]  # moves each side played from its bias policy (White, Black)
    calibration: bool

    @property
    def white_score(self) -> float:
        return {"1-0": 1.0, "0-1": 0.0, "1/2-1/2": 0.5}[self.result]


def game_rng(seed: int, index: int) -> random.Random:
    # String seeds are hashed with SHA-512 by `random`, independent of PYTHONHASHSEED.
    return random.Random(f"transcend-synth:{seed}:{index}")


def play_game(job: GameJob, seed: int, max_plies: int, engines: dict[EngineSpec, Stockfish]) -> PlayedGame:
    rng = game_rng(seed, job.index)
    board = chess.Board()
    bias_moves = [0, 0]
    while not board.is_game_over(claim_draw=True) and board.ply() < max_plies:
        expert = job.white if board.turn == chess.WHITE else job.black
        if expert.bias != NO_BIAS and rng.random() < expert.epsilon:
            move = get_bias(expert.bias)(board, rng)
            bias_moves[0 if board.turn == chess.WHITE else 1] += 1
        elif expert.is_anchor:
            # The anchor searches from a cleared hash every move, exactly as the evaluation's engine
            # players do (arena.players.StockfishPlayer), so it has its ladder strength here.
            move = engines[expert.engine].play(board, game=object())
        else:
            move = engines[expert.engine].play(board, game=(seed, job.index))
        board.push(move)
    outcome = board.outcome(claim_draw=True)
    if outcome is None:  # ply cap: scored a draw (by agreement, as a person would)
        result, ending = "1/2-1/2", "max_plies"
    else:
        result, ending = outcome.result(), outcome.termination.name.lower()
    return PlayedGame(job.index, job.white.name, job.black.name, tuple(m.uci() for m in board.move_stack),
                      result, ending, (bias_moves[0], bias_moves[1]), job.calibration)


class EnginePool:
    """Stockfish processes of one worker, one per engine setting, started on first use."""

    def __init__(self, stockfish_path: str | None):
        self.path = stockfish_path
        self.engines: dict[EngineSpec, Stockfish] = {}

    def for_job(self, job: GameJob) -> dict[EngineSpec, Stockfish]:
        for expert in (job.white, job.black):
            if expert.engine not in self.engines:
                self.engines[expert.engine] = Stockfish(expert.engine, self.path)
        return self.engines

    def play(self, job: GameJob, seed: int, max_plies: int) -> PlayedGame:
        for attempt in range(ENGINE_RETRIES + 1):
            try:
                return play_game(job, seed, max_plies, self.for_job(job))
            except EngineCrash:
                if attempt == ENGINE_RETRIES:
                    raise

    def close(self) -> None:
        for engine in self.engines.values():
            engine.close()
        self.engines.clear()


def _worker(jobs: list[GameJob], seed: int, max_plies: int, stockfish_path: str | None, out: mp.Queue) -> None:
    pool = EnginePool(stockfish_path)
    try:
        for job in jobs:
            out.put(pool.play(job, seed, max_plies))
    except BaseException:  # reported to the parent, which stops the other workers and raises
        out.put(("error", traceback.format_exc()))
    finally:
        pool.close()


def play_games(jobs: list[GameJob], seed: int, max_plies: int, workers: int,
               stockfish_path: str | None = None) -> Iterator[PlayedGame]:
    """Yields games as they finish (in no fixed order); game i is played by worker i % workers."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if workers == 1:
        pool = EnginePool(stockfish_path)
        try:
            for job in jobs:
                yield pool.play(job, seed, max_plies)
        finally:
            pool.close()
        return
    ctx = mp.get_context("spawn")  # never fork a process that may hold JAX or engine threads
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(jobs[w::workers], seed, max_plies, stockfish_path, out), daemon=True)
             for w in range(workers)]
    for p in procs:
        p.start()
    try:
        for _ in range(len(jobs)):
            item = _get(out, procs)
            if isinstance(item, tuple):
                raise RuntimeError(f"a synth worker failed:\n{item[1]}")
            yield item
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join()


def _get(out: mp.Queue, procs: list) -> PlayedGame | tuple:
    while True:
        try:
            return out.get(timeout=5.0)
        except queue_lib.Empty:
            codes = [p.exitcode for p in procs]
            if any(c not in (None, 0) for c in codes) or all(c == 0 for c in codes):
                raise RuntimeError(f"a synth worker died (exit codes {codes}) without reporting its games") from None

"""Where the low-temperature gain comes from: the model's exact policy at T against T = 1, scored by Stockfish.

The paper (analysis/advantage/*.py) sampled 100 moves per position at T in {0.001, 0.75, 1}, scored every
legal move with Stockfish `analyse` (1.0 s, multipv 256) as the mover's expected score under python-chess's
`wdl(model="lichess")`, and reported each temperature's mean expected score, its delta against T = 1
(+2.17% at T = 0.001) and top-1/3/5 agreement with Stockfish. Here:

- positions are held out (one random position of each sampled validation game, the model reading the game
  from its start, as in training);
- the policy is exact: every legal move's probability at T (jaxformer.eval.sampling.temperature_probabilities of
  ModelPlayer.move_log_probs), so a policy's expected score is sum_m p_T(m) * E[score | m], with no sampling
  noise;
- Stockfish searches a node limit (never wall time), multipv = every legal move, from a cleared hash, one
  thread: the same scores on any machine;
- the delta against T = 1 gets a bootstrap interval over positions, and the per-position deltas (the "gains")
  are kept, because the paper found most of the gain in a few positions.

Top-k agreement is the policy's probability on Stockfish's k best moves (ranked by expected score, ties in
Stockfish's own multipv order): the paper's sampled fraction, computed exactly.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading

import chess
import chess.engine
import numpy as np

from arena import EngineSpec, MoveRequest, find_stockfish
from experiments.analyze.games import ShardGame
from jaxformer.eval.model_player import ModelPlayer
from jaxformer.eval.sampling import temperature_probabilities

log = logging.getLogger(__name__)

PAPER_TEMPERATURES = (0.001, 0.75, 1.0)
BASELINE_TEMPERATURE = 1.0
TOP_K = (1, 3, 5)
PAWNS_MATE = 100.0  # a forced mate counts as 100 pawns (the paper's mate_score=10000 centipawns)


@dataclasses.dataclass
class Position:
    """One held-out position: the game so far, the model's log-probabilities over its legal moves (UCI order),
    and Stockfish's scores of each move from the mover's view."""

    board: chess.Board
    moves: list[str]
    logp: np.ndarray
    win_prob: dict[str, float] = dataclasses.field(default_factory=dict)
    pawns: dict[str, float] = dataclasses.field(default_factory=dict)
    ranking: list[str] = dataclasses.field(default_factory=list)  # Stockfish's best first

    def policy(self, temperature: float) -> np.ndarray:
        return temperature_probabilities(self.logp, temperature)

    def figures(self, temperature: float) -> dict[str, float]:
        """The policy's expected score (win probability), expected pawns and top-k agreement at `temperature`."""
        p = self.policy(temperature)
        prob = dict(zip(self.moves, p.tolist()))
        out = {"win_prob": float(sum(prob[m] * self.win_prob[m] for m in self.moves)),
               "pawns": float(sum(prob[m] * self.pawns[m] for m in self.moves))}
        for k in TOP_K:
            out[f"top{k}"] = float(sum(prob[m] for m in self.ranking[:k]))
        return out


def sample_positions(games: list[ShardGame], count: int, seed: int) -> list[tuple[int, int]]:
    """(game, ply) pairs: one uniformly random ply of each of the first `count` games that have a move."""
    rng = np.random.default_rng(seed)
    chosen: list[tuple[int, int]] = []
    for g, game in enumerate(games):
        if len(chosen) == count:
            break
        if game.moves:
            chosen.append((g, int(rng.integers(len(game.moves)))))
    return chosen


def model_positions(player: ModelPlayer, boards: list[chess.Board], batch: int = 16) -> list[Position]:
    """The model's log-probabilities over each board's legal moves, scored `batch` positions a pass."""
    out: list[Position] = []
    rng = np.random.default_rng(0)  # unused by scoring; a request needs one
    for start in range(0, len(boards), batch):
        ids = [f"advantage-{start + i}" for i in range(len(boards[start:start + batch]))]
        try:
            scored = player.move_log_probs([MoveRequest(i, b, 1.0, rng) for i, b in zip(ids, boards[start:start + batch])])
        finally:
            for game_id in ids:
                player.end_game(game_id)
        out += [Position(b, [m.uci() for m in moves], np.asarray(logp, np.float64))
                for b, (moves, logp) in zip(boards[start:start + batch], scored)]
        log.info("advantage: model scored %d/%d positions", len(out), len(boards))
    return out


def score_with_stockfish(positions: list[Position], nodes: int, workers: int = 1, path: str | None = None) -> str:
    """Fill every position's Stockfish scores (`workers` engines in parallel); returns the engine's name."""
    binary = find_stockfish(path)
    workers = max(1, min(workers, len(positions)))
    jobs = [positions[w::workers] for w in range(workers)]
    engines = [chess.engine.SimpleEngine.popen_uci(binary) for _ in jobs]
    done = [0]
    lock = threading.Lock()
    try:
        for engine in engines:
            engine.configure(EngineSpec(skill=20, nodes=nodes).options())

        def run(engine: chess.engine.SimpleEngine, todo: list[Position]) -> None:
            for pos in todo:
                _score_position(engine, pos, nodes)
                with lock:
                    done[0] += 1
                    if done[0] % 10 == 0 or done[0] == len(positions):
                        log.info("advantage: Stockfish scored %d/%d positions", done[0], len(positions))

        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            list(pool.map(run, engines, jobs))
        return str(engines[0].id.get("name", "stockfish (unknown version)"))
    finally:
        for engine in engines:
            engine.quit()


def _score_position(engine: chess.engine.SimpleEngine, pos: Position, nodes: int) -> None:
    """Every legal move's expected score for the mover, from one multipv search (a cleared hash: a new game).
    A move the search did not report (possible at a tiny node limit) is searched on its own."""
    limit = chess.engine.Limit(nodes=nodes)
    lines = engine.analyse(pos.board, limit, multipv=len(pos.moves), game=object())
    missing = [chess.Move.from_uci(m) for m in pos.moves if m not in {str(i["pv"][0]) for i in lines if i.get("pv")}]
    if missing:
        lines += engine.analyse(pos.board, limit, multipv=len(missing), root_moves=missing, game=object())
    order: list[str] = []
    for info in lines:
        if not info.get("pv") or "score" not in info:
            continue
        move = info["pv"][0].uci()
        if move in pos.win_prob:
            continue
        score = info["score"].pov(pos.board.turn)
        pos.win_prob[move] = score.wdl(model="lichess").expectation()
        pos.pawns[move] = score.score(mate_score=int(PAWNS_MATE * 100)) / 100
        order.append(move)
    if set(order) != set(pos.moves):
        raise RuntimeError(f"Stockfish did not score every legal move of {pos.board.fen()}: missing "
                           f"{sorted(set(pos.moves) - set(order))}")
    pos.ranking = sorted(order, key=lambda m: (-pos.win_prob[m], order.index(m)))


def bootstrap_mean_ci(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> tuple[float, float]:
    """The 95% percentile interval of the mean, resampling the values with replacement."""
    idx = rng.integers(len(values), size=(n_boot, len(values)))
    means = values[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def gain_figures(gains: np.ndarray) -> dict:
    """How the gain against T = 1 is spread over positions: its median, the share of positions that gain or
    lose, and the share of the net gain delivered by the best tenth of positions."""
    best_first = np.sort(gains)[::-1]
    top = best_first[: max(1, len(gains) // 10)]
    net = float(gains.sum())
    return {"median": float(np.median(gains)), "positions_gaining": float(np.mean(gains > 1e-9)),
            "positions_losing": float(np.mean(gains < -1e-9)),
            "top_decile_share_of_net_gain": float(top.sum() / net) if net > 1e-12 else None}


def summarize(positions: list[Position], temperatures: tuple[float, ...], n_boot: int, seed: int) -> dict:
    """Per temperature: the mean of each figure over positions; against T = 1, the mean delta of expected score
    with its bootstrap interval, and the spread of per-position gains."""
    rng = np.random.default_rng(seed)
    figures = {t: [pos.figures(t) for pos in positions] for t in temperatures}
    base = np.array([f["win_prob"] for f in figures[BASELINE_TEMPERATURE]])
    base_pawns = np.array([f["pawns"] for f in figures[BASELINE_TEMPERATURE]])
    results = []
    for t in temperatures:
        rows = figures[t]
        win = np.array([f["win_prob"] for f in rows])
        pawns = np.array([f["pawns"] for f in rows])
        res: dict = {"temperature": t, **{k: float(np.mean([f[k] for f in rows])) for k in rows[0]}}
        if t != BASELINE_TEMPERATURE:
            gains = win - base
            lo, hi = bootstrap_mean_ci(gains, n_boot, rng)
            res.update({"delta_win_prob": float(gains.mean()), "delta_win_prob_ci95": [lo, hi],
                        "delta_pawns": float((pawns - base_pawns).mean()), "gains": gain_figures(gains)})
        results.append(res)
    return {"results": results, "per_position": [_position_row(pos, figures, i) for i, pos in enumerate(positions)]}


def _position_row(pos: Position, figures: dict[float, list[dict]], i: int) -> dict:
    """One position for the JSON: the game, each temperature's expected score, every move best first."""
    policies = {str(t): dict(zip(pos.moves, pos.policy(t).tolist())) for t in figures}
    return {"fen": pos.board.fen(), "ply": pos.board.ply(), "game_moves": [m.uci() for m in pos.board.move_stack],
            "legal_moves": len(pos.moves), "stockfish_best": pos.ranking[0],
            "win_prob": {str(t): rows[i]["win_prob"] for t, rows in figures.items()},
            "moves": [{"uci": m, "win_prob": pos.win_prob[m], "pawns": pos.pawns[m],
                       "p": {t: policy[m] for t, policy in policies.items()}} for m in pos.ranking]}

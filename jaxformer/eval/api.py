"""A Python API for notebooks: load a trained run, read the model's move distribution, play a game.

    import chess
    from jaxformer.eval.api import load_run

    run = load_run("runs/demo/run")                     # the latest complete checkpoint (or step=N)
    run.move_distribution(chess.Board(), temperature=1.0)   # [("e4", 0.21), ("d4", 0.17), ...], sums to 1
    record = run.play("random", temperature=0.0)        # one game, played as `transcend eval` plays it
    record["result"], record["moves_san"]

The distribution is exact: every legal move's probability under the model (ModelPlayer.move_log_probs,
normalised over the legal moves), raised to the power 1/T and renormalised: what move-mode sampling at
temperature T draws from. T = 0 is the arg-max (probability 1 on the most likely move, ties to the first in
UCI order), as in evaluation. The model reads the game's moves from its start position (board.move_stack),
as in training; a board set up from a FEN with no moves gives it only the move number.

A run of a move tokenizer plays through jaxformer.eval.move_player (one token per move, so its distribution is
the next-token softmax over the legal moves; move mode only). A rating-conditioned ("+elo") run needs
`load_run(..., as_rating=R)`: the model plays as a player rated R (both players' rating tokens are R).

Games go through arena.MatchRunner with evaluation's rules: the same ply cap, adjudicated by Stockfish at
evaluation's node limit. Opponents are named as in `transcend eval --levels`: `random`, a skill level
(`1`), or `l0-n1000`-style names. Nothing is written to the run directory.
"""
from __future__ import annotations

import dataclasses
import logging
import pathlib

import chess
import numpy as np

from arena import (
    DEFAULT_MAX_PLIES,
    DEFAULT_NODES,
    EngineSpec,
    MatchRunner,
    MoveRequest,
    PlannedGame,
    Stockfish,
    make_opponent,
    parse_opponents,
)
from data_pipeline import Tokenizer, get_tokenizer
from jaxformer.checkpoint import load_for_inference
from jaxformer.config import RunConfig
from jaxformer.eval.model_player import ModelPlayer
from jaxformer.eval.move_player import MoveTokenPlayer, model_player
from jaxformer.eval.sampling import temperature_probabilities
from jaxformer.eval.tokenizer_checks import check_as_rating
from jaxformer.eval.worker import model_name
from jaxformer.model import Transformer
from jaxformer.rundir import RunDir

log = logging.getLogger(__name__)



@dataclasses.dataclass
class LoadedRun:
    """One checkpoint of a run, ready to play: its model, step, config, tokenizer and the rating it plays as."""

    path: pathlib.Path
    model: Transformer
    step: int
    config: RunConfig
    tokenizer: Tokenizer
    as_rating: int | None = None
    _players: dict[str, ModelPlayer | MoveTokenPlayer] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The model's player name, as evaluation names it: `run-<run id>@STEP`, or `DIRNAME@STEP` for older runs."""
        return model_name(RunDir(self.path), self.config, self.step)

    def player(self, mode: str = "move") -> ModelPlayer | MoveTokenPlayer:
        """The model as an arena player (one per mode, kept: building one compiles the model's decoder)."""
        if mode not in self._players:
            self._players[mode] = model_player(self.model, self.tokenizer, mode=mode, name=self.name,
                                               settings={"run": str(self.path), "step": self.step}, slots=1,
                                               as_rating=self.as_rating)
        return self._players[mode]

    def move_distribution(self, board: chess.Board, temperature: float = 1.0) -> list[tuple[str, float]]:
        """Every legal move of `board` in SAN with its probability at `temperature`, most likely first."""
        if board.is_game_over(claim_draw=False) or not any(board.legal_moves):
            raise ValueError(f"position {board.fen()} has no legal move: the game is over")
        if not board.move_stack and board.fen() != chess.STARTING_FEN:
            log.warning("board %s has no moves: the model reads a game from its start, so it sees only the move "
                        "number; push the game's moves onto a board from the start instead", board.fen())
        player = self.player("move")
        game_id = f"distribution-{id(board)}"
        request = MoveRequest(game_id, board.copy(), float(temperature), np.random.default_rng(0))
        try:
            ((moves, logp),) = player.move_log_probs([request])
        finally:
            player.end_game(game_id)
        probs = temperature_probabilities(logp, float(temperature))
        ranked = sorted(zip(moves, probs), key=lambda mp: (-mp[1], mp[0].uci()))
        return [(board.san(move), float(p)) for move, p in ranked]

    def play(self, opponent: str = "random", temperature: float = 0.0, as_white: bool = True, seed: int = 0, *,
             mode: str = "move", nodes: int = DEFAULT_NODES, max_plies: int = DEFAULT_MAX_PLIES,
             stockfish: str | None = None) -> dict:
        """One game of the model at `temperature` against `opponent`; returns its record (the fields of
        games.jsonl, docs/contracts.md: result, termination, moves_san, ...). `seed` picks the game's random
        stream (the model's sampling and the opponent's)."""
        names = parse_opponents(opponent, nodes)
        if len(names) != 1:
            raise ValueError(f"opponent {opponent!r}: give one opponent, e.g. 'random', '1' or 'l0-n1000'")
        opp_name = names[0]
        me = self.name
        white, black = (me, opp_name) if as_white else (opp_name, me)
        game = PlannedGame(f"api-{me}-{mode}-T{temperature:g}-{opp_name}-{'w' if as_white else 'b'}-seed{seed}", 1,
                           white, black, temperature=float(temperature), mode=mode)
        records: list[dict] = []
        opp = make_opponent(opp_name, stockfish)
        adjudicator = Stockfish(EngineSpec(skill=20, nodes=DEFAULT_NODES), stockfish)
        try:
            runner = MatchRunner({me: self.player(mode), opp_name: opp}, adjudicator, records.append,
                                 max_plies=max_plies, concurrency=1, workers=1,
                                 meta={"run": str(self.path), "step": self.step, "event": "jaxformer.eval.api"})
            runner.run([game], desc="game")
        finally:
            opp.close()
            adjudicator.close()
        return records[0]


def load_run(run_dir: str | pathlib.Path, step: int | None = None, as_rating: int | None = None) -> LoadedRun:
    """A run directory's checkpoint `step` (default: the latest complete one), on the CPU, read-only; a
    rating-conditioned ("+elo") run plays as a player rated `as_rating` (required for it, refused for others).

    Raises jaxformer.checkpoint.CheckpointError naming the problem when the run has no such checkpoint, and
    ValueError when `as_rating` does not fit the run's tokenizer."""
    model, step, config = load_for_inference(run_dir, step)
    tokenizer = get_tokenizer(config.data.tokenizer)
    check_as_rating(tokenizer, as_rating)
    return LoadedRun(pathlib.Path(run_dir), model, step, config, tokenizer, as_rating)

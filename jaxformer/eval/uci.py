"""`transcend uci --run DIR`: the model as a UCI engine, so cutechess-cli, any chess GUI or lichess-bot can play it.

    cutechess-cli -engine cmd=transcend arg=uci arg=--run arg=runs/x name=model -engine cmd=stockfish ...

Commands: `uci` (id + uciok), `isready` (readyok), `ucinewgame`, `position startpos [moves ...]`, `position fen
...`, `go` (every limit is parsed and ignored: the model answers from one forward pass; `searchmoves` restricts
the choice; with `infinite` or `ponder` the answer waits for `stop` or `ponderhit`, as the protocol asks),
`stop`, `ponderhit`, `setoption` (no options: acknowledged with an info string), `debug`, `register`, `quit`.

The model reads a game from its start position, as in training, so `position fen F` is refused unless F is the
start position: the engine says why in an `info string` and answers the next `go` with `bestmove 0000` (a clear
failure rather than play on a position it cannot read). Moves are chosen exactly as evaluation chooses them in
move mode: every legal move's probability (ModelPlayer.move_log_probs), at the temperature (0 = arg-max).
A rating-conditioned ("+elo") run needs `--as-rating R` and plays as a player rated R. Consecutive `position`
commands that extend the same game reuse its cached prefix; one that does not (a new game, a take-back) starts a
new one. The model loads on the first command that needs it (`isready` at the latest), so `uci` is answered at
once.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, TextIO

import chess
import numpy as np

from arena import MoveRequest
from data_pipeline import get_tokenizer
from jaxformer.config import RunConfig
from jaxformer.eval.sampling import sample_index
from jaxformer.eval.tokenizer_checks import check_as_rating
from jaxformer.rundir import RunDir

if TYPE_CHECKING:
    from jaxformer.eval.api import LoadedRun

log = logging.getLogger(__name__)

AUTHOR = "transcendence (arXiv 2406.11741 reproduction)"
GO_WORDS_WITH_VALUE = ("wtime", "btime", "winc", "binc", "movestogo", "depth", "nodes", "mate", "movetime")
NO_MOVE = "0000"


class ModelUnavailable(ValueError):
    """The run's checkpoint cannot be loaded: the session cannot go on."""


class UciEngine:
    """One UCI session over a run's checkpoint: reads commands, writes answers to `out` (flushed each line)."""

    def __init__(self, run_dir: str, step: int | None, temperature: float, seed: int, out: TextIO,
                 as_rating: int | None = None):
        self.run_dir, self.step = run_dir, step
        self.as_rating = as_rating
        self.temperature = temperature
        self.seed = seed
        self.out = out
        self._run: LoadedRun | None = None
        self.board = chess.Board()
        self.refusal: str | None = None  # why the current position cannot be played
        self.games = 0  # games started: names each game's cache row and seeds its sampling
        self.game_id = ""
        self.rng = np.random.default_rng(seed)
        self.pending: str | None = None  # bestmove held back for `stop` (go infinite / go ponder)
        self._new_game()

    # ------------------------------------------------------------------ protocol
    def handle(self, line: str) -> bool:
        """Answer one command; False after `quit`. Bad input gets an `info string`, never a crash."""
        words = line.split()
        if not words:
            return True
        command, args = words[0], words[1:]
        try:
            if command == "quit":
                return False
            handler = {"uci": self._uci, "isready": self._isready, "ucinewgame": self._ucinewgame,
                       "position": self._position, "go": self._go, "stop": self._stop, "ponderhit": self._stop,
                       "setoption": self._setoption, "debug": _ignore, "register": _ignore}.get(command)
            if handler is None:
                self.send(f"info string unknown command {command!r} ignored")
            else:
                handler(args)
        except ModelUnavailable as err:
            self.send(f"info string error: {err}")
            raise
        except ValueError as err:
            self.send(f"info string error: {err}")
        return True

    def send(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _uci(self, _: list[str]) -> None:
        self.send(f"id name transcendence {RunDir(self.run_dir).root.resolve().name}"
                  + (f"@{self.step}" if self.step is not None else ""))
        self.send(f"id author {AUTHOR}")
        self.send("uciok")

    def _isready(self, _: list[str]) -> None:
        self.model()  # the long initialisation belongs here, where GUIs wait for it
        self.send("readyok")

    def _ucinewgame(self, _: list[str]) -> None:
        self._new_game()
        self.board = chess.Board()
        self.refusal = None

    def _setoption(self, args: list[str]) -> None:
        self.send(f"info string this engine has no options; ignored: setoption {' '.join(args)}")

    def _position(self, args: list[str]) -> None:
        board, refusal = parse_position(args)
        if refusal:
            self.send(f"info string {refusal}")
        elif board.move_stack[:len(self.board.move_stack)] != self.board.move_stack or self.refusal:
            self._new_game()  # not a continuation of the game in the cache (a new game or a take-back)
        self.board, self.refusal = board, refusal

    def _go(self, args: list[str]) -> None:
        infinite, searchmoves, problems = parse_go(args, self.board)
        for problem in problems:
            self.send(f"info string {problem}")
        move = self._choose(searchmoves)
        if infinite:
            self.pending = move
        else:
            self.send(f"bestmove {move}")

    def _stop(self, _: list[str]) -> None:
        if self.pending is not None:
            self.send(f"bestmove {self.pending}")
            self.pending = None

    # ------------------------------------------------------------------ the model
    def model(self) -> LoadedRun:
        """The run's checkpoint, loaded on first use; ModelUnavailable (the session ends) when it cannot be."""
        if self._run is None:
            from jaxformer.checkpoint import CheckpointError
            from jaxformer.eval.api import load_run  # JAX loads here, not before `uci` is answered

            try:
                self._run = load_run(self.run_dir, self.step, self.as_rating)
            except CheckpointError as err:
                raise ModelUnavailable(f"--run {self.run_dir}: {err}") from None
            log.info("loaded %s", self._run.name)
        return self._run

    def _new_game(self) -> None:
        if self._run is not None and self.game_id:
            self._run.player("move").end_game(self.game_id)
        self.games += 1
        self.game_id = f"uci-{self.games}"
        self.rng = np.random.default_rng([self.seed, self.games])

    def _choose(self, searchmoves: list[chess.Move]) -> str:
        """The model's move in UCI notation, or 0000 (with the reason) when there is none to give."""
        if self.refusal:
            self.send(f"info string {self.refusal}")
            return NO_MOVE
        if not any(self.board.legal_moves):
            self.send("info string no legal move: the game is over")
            return NO_MOVE
        request = MoveRequest(self.game_id, self.board, self.temperature, self.rng)
        ((moves, logp),) = self.model().player("move").move_log_probs([request])
        if searchmoves:
            keep = [i for i, m in enumerate(moves) if m in searchmoves]
            moves, logp = [moves[i] for i in keep], logp[keep]
        choice = sample_index(logp, self.temperature, self.rng)
        prob = float(np.exp(logp[choice] - np.logaddexp.reduce(logp)))
        self.send(f"info string {moves[choice].uci()} has probability {prob:.4f} at T=1 over "
                  f"{'searchmoves' if searchmoves else 'the legal moves'}")
        return moves[choice].uci()


def _ignore(_: list[str]) -> None:
    return None


def parse_position(args: list[str]) -> tuple[chess.Board, str | None]:
    """`startpos [moves ...]` or `fen F [moves ...]` -> (board, None), or (board, why it is refused)."""
    if "moves" in args:
        at = args.index("moves")
        setup, moves = args[:at], args[at + 1:]
    else:
        setup, moves = args, []
    if setup[:1] == ["startpos"] and len(setup) == 1:
        board = chess.Board()
    elif setup[:1] == ["fen"] and len(setup) > 1:
        try:
            board = chess.Board(" ".join(setup[1:]))
        except ValueError:
            return chess.Board(), f"refused: {' '.join(setup[1:])!r} is not a valid FEN"
        if board.fen() != chess.STARTING_FEN:
            return board, ("refused: this model reads a game from its start position (as it was trained), so it "
                           "cannot play from a FEN; send `position startpos moves ...` with the game's moves")
        board = chess.Board()
    else:
        raise ValueError(f"position {' '.join(args)!r}: expected `position startpos [moves ...]` or "
                         "`position fen FEN [moves ...]`")
    for text in moves:
        try:
            board.push_uci(text)
        except ValueError:
            return board, f"refused: move {text!r} is not legal in {board.fen()}"
    return board, None


def parse_go(args: list[str], board: chess.Board) -> tuple[bool, list[chess.Move], list[str]]:
    """(wait for stop?, searchmoves, problems) from `go`'s arguments. The clock and depth limits are read and
    ignored; what cannot be read is reported in `problems` and skipped, since every `go` must get a bestmove."""
    infinite, searchmoves, problems, i = False, [], [], 0
    while i < len(args):
        word = args[i]
        if word in GO_WORDS_WITH_VALUE:
            if i + 1 >= len(args) or not args[i + 1].lstrip("-").isdigit():
                problems.append(f"go: {word} needs a number; ignored")
                i += 1
            else:
                i += 2
        elif word in ("infinite", "ponder"):
            infinite, i = True, i + 1
        elif word == "searchmoves":
            i += 1
            while i < len(args) and args[i] not in GO_WORDS_WITH_VALUE + ("infinite", "ponder"):
                try:
                    move = chess.Move.from_uci(args[i])
                except ValueError:
                    move = chess.Move.null()
                if move in board.legal_moves:
                    searchmoves.append(move)
                else:
                    problems.append(f"go: searchmoves {args[i]!r} is not a legal move here; ignored")
                i += 1
        else:
            problems.append(f"go: unknown word {word!r} ignored")
            i += 1
    return infinite, searchmoves, problems


def check_run(run_dir: str, as_rating: int | None) -> None:
    """Refuse at once what cannot work: not a run directory, or a rating the run cannot be asked to play at."""
    run = RunDir(run_dir)
    if not run.is_run():
        raise ValueError(f"--run {run_dir}: not a run directory (no {run.config.name}); pass the directory of "
                         "`transcend train --run-dir`")
    config = RunConfig.from_json(run.config.read_text())
    check_as_rating(get_tokenizer(config.data.tokenizer), as_rating)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="transcend uci", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run directory written by `transcend train` (required)")
    p.add_argument("--step", type=int, help="checkpoint step (default: the latest complete one)")
    p.add_argument("--temperature", type=float, default=0.0,
                   help="sampling temperature over the legal moves, 0 = arg-max (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling at T > 0 (default: %(default)s)")
    p.add_argument("--as-rating", type=int, metavar="R",
                   help="play as a player rated R: required for a rating-conditioned ('+elo' tokenizer) run, refused "
                        "for others (default: off)")
    return p


def main(argv: list[str], stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not np.isfinite(args.temperature) or args.temperature < 0:
        raise ValueError(f"--temperature {args.temperature}: pass a number >= 0 (0 = arg-max)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    check_run(args.run, args.as_rating)
    engine = UciEngine(args.run, args.step, args.temperature, args.seed, stdout or sys.stdout, args.as_rating)
    source = stdin or sys.stdin
    while True:
        line = source.readline()
        if not line or not engine.handle(line):  # end of input is a quit too
            return 0

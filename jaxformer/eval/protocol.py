"""The evaluation protocol: this project's (`fixed`) or the paper's (`paper`), switch by switch.

`transcend eval --protocol paper|fixed` only sets the defaults of the switches below; an explicit switch
wins, so a user can flip the paper's items one at a time. Every game record and every ratings.json
result carries the resolved protocol (`Protocol.record()`), and game ids name its label unless it is
`fixed`, so games of several protocols share RUN/eval/STEP/ and are rated separately.

Each paper value reproduces KempnerInstitute/chess-research (chess_research/eval/):
    movetime 0.1            utils.py play_games line 30: StockfishPlayer(play_time=0.1); player.py Limit(time=...)
    engine_per_match        utils.py play_games: one StockfishPlayer per call (50 games, model Black then White,
                            evaluation.py lines 170-174), engine.play without `game`: hash kept between games
    max_plies 180, draw     globals.py MAX_MOVES = 89; utils.py line 112 `total_moves > MAX_MOVES` checked after
                            both moves of move 90: 180 plies; record_results line 273 scores `*` a draw
    claim_threefold no      utils.py line 76 `board.is_game_over()` (claim_draw=False)
    white_to_move_bug       utils.py lines 93-117 and 260-266 (arena.MatchRunner documents the rule)
    mode char, sampler      player.py get_nanogpt_response: max_new_tokens=10 at T (top_k=200 > 32 symbols),
      paper                 cut at ';' then '+', get_move_from_response: the first whitespace-separated token
    illegal forfeit:5       utils.py get_legal_move: max_attempts=5 at the same T, then the game is lost
                            (record_results lines 260-266); `1-0`/`0-1`/`1/2-1/2` is a resignation (lines 211-218)
    strip_own_check         utils.py play_turn line 184: the model's parsed response (cut at '+') is its transcript
    glicko per-game         evaluation.py lines 191-199: one Glicko-2 update per game (rated by results.rate_step)
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json

from arena import DEFAULT_MAX_PLIES

PROTOCOLS = ("fixed", "paper")
CHAR_SAMPLERS = ("ours", "paper")
RETRY = "retry"
PAPER_FORFEIT_AFTER = 5


def parse_illegal(text: str) -> int | None:
    """`retry` -> None (resample at a rising temperature, then a random legal move); `forfeit:N` -> N samples at
    the same temperature, then the model forfeits."""
    if text == RETRY:
        return None
    head, _, count = text.partition(":")
    if head != "forfeit" or not count.isdigit() or int(count) < 1:
        raise ValueError(f"--illegal {text!r}: expected 'retry' or 'forfeit:N' with N >= 1 (the paper's: forfeit:5)")
    return int(count)


@dataclasses.dataclass(frozen=True)
class Protocol:
    """Every switch of an evaluation protocol. `name` is the preset the switches started from."""

    name: str = "fixed"
    movetime: float | None = None  # seconds a Stockfish move (None: its node limit)
    engine_per_match: bool = False  # one engine per match, hash kept (False: a pool, a cleared hash every move)
    max_plies: int = DEFAULT_MAX_PLIES
    cap_result: str = "adjudicate"  # what a game at the ply cap becomes: adjudicate | draw
    claim_threefold: bool = True
    white_to_move_bug: bool = False
    mode: str = "move"  # move | char
    char_sampler: str = "ours"  # ours: until a separator; paper: exactly 10 characters
    illegal: str = RETRY  # retry | forfeit:N
    strip_own_check: bool = False  # the model's own moves in its prompt as it wrote them, without '+'
    glicko: str = "one-period"  # one-period | per-game

    @property
    def forfeit_after(self) -> int | None:
        return parse_illegal(self.illegal)

    def games_key(self) -> dict:
        """The switches that change how games are played (all but the rating's)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("name", "glicko")}

    @property
    def label(self) -> str:
        """`fixed` (whatever its --max-plies, as before protocols existed) or `paper` when the game switches are
        the preset's, else `custom-<8 hex of the game switches>`: the protocol's part of a game id."""
        key = self.games_key()
        if {**key, "max_plies": DEFAULT_MAX_PLIES} == PRESETS["fixed"].games_key():
            return "fixed"
        if key == PRESETS["paper"].games_key():
            return "paper"
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
        return f"custom-{digest}"

    def record(self) -> dict:
        """The `protocol` object of game records and ratings.json results: the label and every switch."""
        return {"label": self.label, **dataclasses.asdict(self)}


PRESETS = {
    "fixed": Protocol(),
    "paper": Protocol(name="paper", movetime=0.1, engine_per_match=True, max_plies=180, cap_result="draw",
                      claim_threefold=False, white_to_move_bug=True, mode="char", char_sampler="paper",
                      illegal=f"forfeit:{PAPER_FORFEIT_AFTER}", strip_own_check=True, glicko="per-game"),
}


def _yes_no(text: str) -> bool:
    if text not in ("yes", "no"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected yes or no")
    return text == "yes"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a positive number of seconds")
    return value


def _illegal(text: str) -> str:
    try:
        parse_illegal(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _plies(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be an integer of at least 1")
    return int(text)


def add_protocol_arguments(p: argparse.ArgumentParser) -> None:
    """The --protocol preset and its switches (each defaults to the preset's value)."""
    fixed, paper = PRESETS["fixed"], PRESETS["paper"]

    def both(field: str, show=str) -> str:
        return f"(default: the protocol's: fixed {show(getattr(fixed, field))}, paper {show(getattr(paper, field))})"

    yes_no = {True: "yes", False: "no"}.get
    g = p.add_argument_group("protocol", "the paper's evaluation, item by item (see jaxformer/eval/protocol.py)")
    g.add_argument("--protocol", choices=PROTOCOLS, default="fixed",
                   help="the defaults of the switches below: this project's protocol or the paper's "
                        "(default: %(default)s)")
    g.add_argument("--movetime", type=_positive_float,
                   help="seconds a Stockfish move instead of its node limit; wall time, so its strength depends on "
                        "the machine " + both("movetime", lambda v: "off (--nodes)" if v is None else str(v)))
    g.add_argument("--engine-per-match", type=_yes_no, metavar="yes|no",
                   help="one engine per match of the games of one opponent, temperature and colour, played one after "
                        "another with its hash kept; no: a pool, hash cleared every move " + both("engine_per_match", yes_no))
    g.add_argument("--max-plies", type=_plies, help="ply cap " + both("max_plies"))
    g.add_argument("--cap-result", choices=("adjudicate", "draw"),
                   help="a game at the ply cap: adjudicated by Stockfish, or a draw " + both("cap_result"))
    g.add_argument("--claim-threefold", type=_yes_no, metavar="yes|no",
                   help="end a game at a threefold repetition (no: only fivefold) " + both("claim_threefold", yes_no))
    g.add_argument("--score-bug-white-to-move", type=_yes_no, metavar="yes|no", dest="white_to_move_bug",
                   help="score a game over on White's move as the paper did (a stalemate by White: 1-0) "
                        + both("white_to_move_bug", yes_no))
    g.add_argument("--mode", choices=("move", "char"),
                   help="move: exact temperature over legal moves; char: per-character sampling " + both("mode"))
    g.add_argument("--char-sampler", choices=CHAR_SAMPLERS,
                   help="char mode: ours samples until a separator; paper samples exactly 10 characters and reads "
                        "the first token before ';' or '+' " + both("char_sampler"))
    g.add_argument("--illegal", type=_illegal, metavar="retry|forfeit:N",
                   help="char mode, an output that is no legal move: retry at a rising temperature, then a random "
                        "legal move; forfeit:N: N samples at T, then the game is lost (and a written result is a "
                        "resignation) " + both("illegal"))
    g.add_argument("--strip-own-check", type=_yes_no, metavar="yes|no",
                   help="the model's own moves appear in its prompt as it wrote them, without '+' "
                        + both("strip_own_check", yes_no))


SWITCHES = tuple(f.name for f in dataclasses.fields(Protocol) if f.name not in ("name", "glicko"))


def resolve_protocol(args: argparse.Namespace) -> Protocol:
    """The preset of --protocol with every explicitly given switch applied. `glicko` comes from the ratings
    options (`--glicko`, when the parser has it and it was given) or the preset."""
    preset = PRESETS[args.protocol]
    given = {name: getattr(args, name) for name in (*SWITCHES, "glicko") if getattr(args, name, None) is not None}
    return dataclasses.replace(preset, **given)

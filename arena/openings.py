"""Opening suites: positions the players take over from, so that deterministic players do not replay one game.

A suite is a text file, one opening a line in SAN (`1.e4 e5 2.Nf3`, move numbers optional, `#` starts a
comment). Bundled suites live in arena/opening_suites/ and are selected by name: `balanced-50` holds 50
main lines of standard theory, 4-8 plies, each roughly level. The default everywhere is no suite (the
initial position, as in the paper).
"""
from __future__ import annotations

import pathlib
import re

import chess

SUITE_DIR = pathlib.Path(__file__).with_name("opening_suites")


def bundled_suites() -> list[str]:
    """The names of the bundled opening suites (e.g. "balanced-50")."""
    return sorted(p.stem for p in SUITE_DIR.glob("*.txt"))


def suite_path(name_or_path: str | pathlib.Path) -> pathlib.Path:
    """A bundled suite's file, or the given file; a clear error naming the bundled suites otherwise."""
    path = pathlib.Path(name_or_path)
    if path.is_file():
        return path
    bundled = SUITE_DIR / f"{name_or_path}.txt"
    if bundled.is_file():
        return bundled
    raise FileNotFoundError(f"opening suite {str(name_or_path)!r} is neither a file nor a bundled suite "
                            f"({', '.join(bundled_suites())}); pass a bundled name or a file of SAN lines")


def load_openings(name_or_path: str | pathlib.Path) -> list[tuple[str, ...]]:
    """An opening suite, by bundled name or file: each opening as its UCI moves from the initial position."""
    path = suite_path(name_or_path)
    openings = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("[") else ""
        if not line:
            continue
        board = chess.Board()
        for token in re.sub(r"\d+\.(\.\.)?", " ", line).split():
            try:
                board.push_san(token)
            except ValueError as err:
                raise ValueError(f"{path}:{lineno}: {token!r} is not a legal move here ({err})") from err
        if board.is_game_over(claim_draw=True):
            raise ValueError(f"{path}:{lineno}: the opening already ends the game")
        openings.append(tuple(m.uci() for m in board.move_stack))
    if not openings:
        raise ValueError(f"opening suite {path} has no openings (one line of moves per opening)")
    return openings

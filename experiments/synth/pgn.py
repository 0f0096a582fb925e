"""Synthetic games as Lichess-style PGN, so `transcend data build` ingests them like a Lichess dump."""
from __future__ import annotations

import io
import os
import pathlib

import chess
import chess.pgn
import zstandard

from experiments.synth.play import PlayedGame
from experiments.synth.population import Expert

SYNTH_DATE = "2024.01.01"  # a fixed date keeps the output byte-identical for a seed
TIME_CONTROL = "600+0"  # Lichess "rapid"; the games are untimed, this only gives them a time-control class


def header_elo(rating: float) -> str:
    """Lichess ratings are positive integers; a (very weak) expert measured at or below 0 is written as 1."""
    return str(max(1, round(rating)))


def game_to_pgn(game: PlayedGame, experts: dict[str, Expert], ratings: dict[str, float], seed: int) -> str:
    board = chess.Board()
    for uci in game.moves:
        board.push_uci(uci)
    pgn = chess.pgn.Game.from_board(board)
    white, black = experts[game.white], experts[game.black]
    headers = {
        "Event": "Synthetic expert game" + (" (calibration)" if game.calibration else ""),
        "Site": f"synth://seed{seed}/{game.index:07d}",
        "Date": SYNTH_DATE,
        "Round": "-",
        "White": white.name,
        "Black": black.name,
        "Result": game.result,
        "UTCDate": SYNTH_DATE,
        "UTCTime": "00:00:00",
        "WhiteElo": header_elo(ratings[white.name]),
        "BlackElo": header_elo(ratings[black.name]),
        "TimeControl": TIME_CONTROL,
        "Termination": "Normal",  # checkmate, a draw by rule, or a draw agreed at the ply cap (SynthEnding)
        "SynthEnding": game.ending,
        "WhiteEngine": white.engine.name,
        "BlackEngine": black.engine.name,
        "WhiteBias": white.bias,
        "BlackBias": black.bias,
        "WhiteEpsilon": f"{white.epsilon:g}",
        "BlackEpsilon": f"{black.epsilon:g}",
    }
    for key, value in headers.items():
        pgn.headers[key] = value
    return str(pgn) + "\n\n"


def write_pgn_zst(path: pathlib.Path, texts: list[str]) -> int:
    """Writes atomically (temp file, then rename) so a crash never leaves a half-written PGN behind."""
    tmp = path.with_name(path.name + ".tmp")
    data = "".join(texts).encode("utf-8")
    with open(tmp, "wb") as f:
        f.write(zstandard.ZstdCompressor(level=10).compress(data))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return len(data)


def read_pgn_zst(path: str | os.PathLike) -> list[chess.pgn.Game]:
    """All games of a (zstd-compressed) PGN file; used by tests and quick checks."""
    raw = pathlib.Path(path).read_bytes()
    if str(path).endswith(".zst"):
        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    stream = io.StringIO(raw.decode("utf-8"))
    games = []
    while (game := chess.pgn.read_game(stream)) is not None:
        games.append(game)
    return games

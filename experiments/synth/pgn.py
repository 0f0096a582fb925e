"""Synthetic games as Lichess-style PGN, so `transcend data build` ingests them like a Lichess dump."""
from __future__ import annotations

import dataclasses
import io
import os
import pathlib

import chess
import chess.pgn
import zstandard

from arena import EngineSpec, Expert
from experiments.synth.play import CALIBRATION_EVENT, EVENT, PlayedGame, site
from safeio import write_bytes_atomic

SYNTH_DATE = "2024.01.01"  # a fixed date keeps the output byte-identical for a seed
TIME_CONTROL = "600+0"  # Lichess "rapid"; the games are untimed, this only gives them a time-control class


@dataclasses.dataclass(frozen=True)
class Seat:
    """A player as the PGN headers describe it: its engine, its bias policy and how often it plays it."""

    name: str
    engine: str
    bias: str
    epsilon: float

    @classmethod
    def of_expert(cls, expert: Expert) -> Seat:
        return cls(expert.name, expert.engine.name, expert.bias, expert.epsilon)

    @classmethod
    def of_anchor(cls, engine: EngineSpec) -> Seat:
        """An anchor never deviates by a bias; a random_pct handicap plays that share of uniform random moves."""
        return cls(engine.name, engine.name, "uniform", engine.random_pct / 100.0) if engine.random_pct else \
            cls(engine.name, engine.name, "none", 0.0)


def header_elo(rating: float) -> str:
    """Lichess ratings are positive integers; a (very weak) expert measured at or below 0 is written as 1.

    An expert that won (lost) every game is written at its one-sided bound (population.json says which)."""
    return str(max(1, round(rating)))


def game_to_pgn(game: PlayedGame, seats: dict[str, Seat], ratings: dict[str, float], seed: int) -> str:
    board = chess.Board()
    for uci in game.moves:
        board.push_uci(uci)
    pgn = chess.pgn.Game.from_board(board)
    white, black = seats[game.white], seats[game.black]
    headers = {
        "Event": f"Rated {CALIBRATION_EVENT if game.calibration else EVENT}",  # `data build` keeps rated games only
        "Site": site(seed, game.index),
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
        "Termination": "Normal",  # checkmate, a draw by rule, or an adjudication at the ply cap (SynthEnding)
        "SynthEnding": game.ending,
        "WhiteEngine": white.engine,
        "BlackEngine": black.engine,
        "WhiteBias": white.bias,
        "BlackBias": black.bias,
        "WhiteEpsilon": f"{white.epsilon:g}",
        "BlackEpsilon": f"{black.epsilon:g}",
    }
    for key, value in headers.items():
        pgn.headers[key] = value
    return str(pgn) + "\n\n"


def write_pgn_zst(path: pathlib.Path, texts: list[str]) -> int:
    """Writes atomically so a crash never leaves a half-written PGN behind; returns the uncompressed size."""
    data = "".join(texts).encode("utf-8")
    write_bytes_atomic(path, zstandard.ZstdCompressor(level=10).compress(data))
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

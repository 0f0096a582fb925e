"""Small real-format PGN for data-pipeline tests: random legal games written the way Lichess dumps them."""
from __future__ import annotations

import random
import re

import chess

LICHESS_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def random_game(rng: random.Random, max_plies: int = 40) -> tuple[list[str], str]:
    """A random legal game -> (SAN moves, result); the result is decisive only when the game ended in mate."""
    board = chess.Board()
    sans = []
    for _ in range(rng.randint(1, max_plies)):
        moves = list(board.legal_moves)
        if not moves:
            break
        move = rng.choice(moves)
        sans.append(board.san(move))
        board.push(move)
    outcome = board.outcome()
    result = outcome.result() if outcome else rng.choice(["1-0", "0-1", "1/2-1/2"])
    return sans, result


def transcript(sans: list[str]) -> str:
    """The paper's format, built independently of the normalizer."""
    return " ".join(f"{i // 2 + 1}.{s}" if i % 2 == 0 else s for i, s in enumerate(sans))


def lichess_movetext(sans: list[str], result: str, clocks: bool = True) -> str:
    """Lichess dump style: `1. e4 { [%clk 0:03:00] } 1... e5 { [%clk 0:03:00] } ... 1-0`."""
    parts = []
    for i, s in enumerate(sans):
        num = f"{i // 2 + 1}." if i % 2 == 0 else f"{i // 2 + 1}..."
        if clocks:
            parts.append(f"{num} {s} {{ [%clk 0:0{i % 10}:00] }}")
        else:
            parts.append(f"{num} {s}" if i % 2 == 0 else s)
    return " ".join(parts + [result])


def game_text(headers: dict[str, str], movetext: str) -> str:
    return "".join(f'[{k} "{v}"]\n' for k, v in headers.items()) + "\n" + movetext + "\n\n"


def lichess_headers(rng: random.Random, white: int, black: int, result: str, site_id: str | None = None,
                    **extra: str) -> dict[str, str]:
    gid = site_id or "".join(rng.choice(LICHESS_ID_CHARS) for _ in range(8))
    h = {"Event": "Rated Blitz game", "Site": f"https://lichess.org/{gid}", "Date": "2024.01.01",
         "White": "a", "Black": "b", "Result": result, "WhiteElo": str(white), "BlackElo": str(black),
         "TimeControl": "300+0", "Termination": "Normal"}
    h.update(extra)
    return h


def random_pgn(n_games: int, seed: int = 0, max_plies: int = 40) -> tuple[str, list[dict]]:
    """n valid games -> (PGN text, [{"transcript", "white", "black", "site"}] in order)."""
    rng = random.Random(seed)
    text, truth = [], []
    for _ in range(n_games):
        sans, result = random_game(rng, max_plies)
        white, black = rng.randint(600, 2600), rng.randint(600, 2600)
        h = lichess_headers(rng, white, black, result)
        text.append(game_text(h, lichess_movetext(sans, result, clocks=rng.random() < 0.5)))
        truth.append({"transcript": transcript(sans), "white": white, "black": black, "site": h["Site"]})
    return "".join(text), truth


def many_games(n_games: int, distinct: int = 200, seed: int = 0) -> str:
    """n valid games cheaply: `distinct` random games repeated, each copy with its own Lichess id (`00000000`,
    `00000001`, ...), so deduplication keeps every one."""
    text, _ = random_pgn(distinct, seed=seed)
    games = re.split(r"(?<=\n\n)(?=\[Event )", text)
    ids = iter(range(n_games))
    pattern = re.compile(r"lichess\.org/[A-Za-z0-9]{8}")
    return "".join(pattern.sub(lambda _: f"lichess.org/{next(ids):08d}", games[i % distinct]) for i in range(n_games))

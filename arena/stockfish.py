"""Stockfish as a fixed-strength opponent: located, configured with recorded options, node-limited.

The paper limited Stockfish by wall time (0.1 s a move), so its strength depended on the machine.
Here every move is limited by a node count (or depth), so the same settings give the same strength on
any machine; a wall-time limit (`movetime`) exists only for the paper's protocol, when asked for, and
is then part of the engine's name (`-m100`: 100 ms) and settings. DEFAULT_NODES is about what 0.1 s buys on one core: Debian's
Stockfish 15.1 build searches about 0.8M nodes/s on one modern core (measured 0.54M nodes/s from
the start position on this shared, busy 2-core machine), so 0.1 s ~ 80,000 nodes.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil

import chess
import chess.engine

log = logging.getLogger(__name__)

DEFAULT_NODES = 80_000
DEBIAN_PATH = "/usr/games/stockfish"
MATE_CP = 100_000  # evaluate() reports a forced mate as +-MATE_CP (White's view)
ENV_VAR = "TRANSCEND_STOCKFISH"


class EngineCrash(RuntimeError):
    """The engine process died mid-game; it has been restarted, and the game must be replayed."""


def find_stockfish(path: str | None = None) -> str:
    """The engine binary: `path` (from config or CLI), then $TRANSCEND_STOCKFISH, then PATH, then Debian's."""
    candidates = [p for p in (path, os.environ.get(ENV_VAR)) if p]
    for cand in candidates:
        if os.access(cand, os.X_OK) and os.path.isfile(cand):
            return cand
        raise FileNotFoundError(f"Stockfish binary {cand!r} does not exist or is not executable")
    found = shutil.which("stockfish")
    if found:
        return found
    if os.access(DEBIAN_PATH, os.X_OK):
        return DEBIAN_PATH
    raise FileNotFoundError(
        "Stockfish not found on PATH or at /usr/games/stockfish: install Debian's package `stockfish` "
        "(sudo apt-get install stockfish) or pass the binary's path (--stockfish PATH)")


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    """Everything that fixes an engine's strength. A wall-time limit only when asked (`movetime`, seconds)."""

    skill: int = 20
    nodes: int | None = DEFAULT_NODES
    depth: int | None = None
    movetime: float | None = None  # the paper's Limit(time=0.1): strength then depends on the machine
    threads: int = 1
    hash_mb: int = 16
    random_pct: int = 0  # weaker than skill 0: this % of moves are uniformly random (the player draws them)
    worst: bool = False  # below the random mover: play the move this search scores lowest (needs a depth limit)

    def __post_init__(self) -> None:
        if not 0 <= self.skill <= 20:
            raise ValueError(f"Stockfish skill level must be in 0..20, got {self.skill}")
        if self.nodes is None and self.depth is None and self.movetime is None:
            raise ValueError("EngineSpec needs a node or depth limit (or, for the paper's protocol, a wall-time movetime, "
                             "whose strength depends on the machine)")
        if self.movetime is not None and not self.movetime > 0:
            raise ValueError(f"movetime must be a positive number of seconds, got {self.movetime}")
        if self.nodes is not None and self.nodes < 1:
            raise ValueError(f"node limit must be >= 1, got {self.nodes}")
        if not 0 <= self.random_pct <= 100:
            raise ValueError(f"random_pct must be in 0..100, got {self.random_pct}")
        if self.depth is not None and self.depth < 1:
            raise ValueError(f"depth limit must be >= 1, got {self.depth}")
        # A node or time limit can stop the MultiPV search before every move has a score.
        if self.worst and (self.depth is None or self.nodes is not None or self.movetime is not None):
            raise ValueError("a worst-move engine needs a depth limit and no other (e.g. 'l20-d1-worst'), so that "
                             "every legal move is scored")

    @property
    def name(self) -> str:
        """`stockfish-l3` at the default node limit (the paper's setting), else e.g. `stockfish-l3-n50000`."""
        parts = [f"stockfish-l{self.skill}"]
        if self.nodes is not None and self.nodes != DEFAULT_NODES:
            parts.append(f"n{self.nodes}")
        if self.depth is not None:
            parts.append(f"d{self.depth}")
        if self.movetime is not None:
            parts.append(f"m{round(self.movetime * 1000)}")
        if self.threads != 1:
            parts.append(f"t{self.threads}")
        if self.hash_mb != 16:
            parts.append(f"h{self.hash_mb}")
        if self.worst:
            parts.append("worst")
        if self.random_pct:
            parts.append(f"r{self.random_pct}")
        return "-".join(parts)

    @property
    def limit(self) -> chess.engine.Limit:
        return chess.engine.Limit(nodes=self.nodes, depth=self.depth, time=self.movetime)

    def options(self) -> dict[str, int]:
        return {"Threads": self.threads, "Hash": self.hash_mb, "Skill Level": self.skill}

    def settings(self) -> dict:
        """The recorded settings (goes into games.jsonl and PGN headers)."""
        settings = {"skill": self.skill, "nodes": self.nodes, "depth": self.depth, "threads": self.threads,
                    "hash_mb": self.hash_mb, "random_pct": self.random_pct}
        if self.worst:
            settings["worst"] = True
        return settings if self.movetime is None else {**settings, "movetime": self.movetime}

    @classmethod
    def parse(cls, text: str, default_nodes: int | None = DEFAULT_NODES) -> EngineSpec:
        """`3`, `l3`, `l3-n1000`, `l0-d1`, `l0-n1000-r50`, `l1-m100`, `l20-d1-worst-r50` -> EngineSpec (a bare level
        uses `default_nodes`; m: a wall-time limit in milliseconds, the paper's `l1-m100`; worst: the lowest-scored
        move)."""
        fields: dict[str, int] = {}
        parts = text.removeprefix("stockfish-").split("-")
        worst = "worst" in parts
        for part in (p for p in parts if p != "worst"):
            key, val = (part[0], part[1:]) if part[:1].isalpha() else ("l", part)
            if not val.isdigit() or key not in ("l", "n", "d", "r", "m") or key in fields:
                raise ValueError(f"bad engine spec {text!r}: expected e.g. '3', 'l3', 'l3-n1000', 'l0-d1', "
                                 "'l0-n1000-r50', 'l1-m100' or 'l20-d1-worst' (l: skill, n: nodes, d: depth, "
                                 "r: % random moves, m: milliseconds a move, worst: the lowest-scored move)")
            fields[key] = int(val)
        if "l" not in fields:
            raise ValueError(f"bad engine spec {text!r}: no skill level (e.g. 'l3')")
        skill, depth = fields["l"], fields.get("d")
        movetime = fields["m"] / 1000 if "m" in fields else None
        # A depth or time limit alone means no node limit; otherwise the default node limit applies.
        nodes = fields.get("n", None if depth is not None or movetime is not None else default_nodes)
        return cls(skill=skill, nodes=nodes, depth=depth, movetime=movetime, random_pct=fields.get("r", 0), worst=worst)


class Stockfish:
    """One engine process with fixed options. A crash restarts the process and raises EngineCrash."""

    def __init__(self, spec: EngineSpec = EngineSpec(), path: str | None = None):
        self.spec = spec
        self.path = find_stockfish(path)
        self.restarts = 0
        self._engine: chess.engine.SimpleEngine | None = None
        self._start()

    def _start(self) -> None:
        # Its own process group: the terminal's Ctrl-C (SIGINT to the foreground group) reaches the caller,
        # which stops cleanly, and not the engine, whose death would look like a crash.
        self._engine = chess.engine.SimpleEngine.popen_uci(self.path, setpgrp=True)
        self._engine.configure(self.spec.options())
        self.version = self._engine.id.get("name", "stockfish (unknown version)")

    def _restart(self, err: Exception) -> None:
        log.warning("Stockfish %s crashed (%s); restarting", self.spec.name, err)
        self.restarts += 1
        try:
            self._running().close()
        except Exception:  # the process is already gone; nothing to clean up
            pass
        self._start()

    def _running(self) -> chess.engine.SimpleEngine:
        if self._engine is None:
            raise RuntimeError(f"Stockfish {self.spec.name} was closed; create a new one")
        return self._engine

    def play(self, board: chess.Board, game: object = None) -> chess.Move:
        """The engine's move; `game` changes -> the engine is told a new game started (clears its hash)."""
        try:
            result = self._running().play(board, self.spec.limit, game=game)
        except (chess.engine.EngineTerminatedError, chess.engine.EngineError) as err:
            self._restart(err)
            raise EngineCrash(f"{self.spec.name} crashed: {err}") from err
        if result.move is None:
            raise RuntimeError(f"{self.spec.name} returned no move in a position with legal moves: {board.fen()}")
        return result.move

    def worst_move(self, board: chess.Board) -> chess.Move:
        """The legal move this engine's search scores lowest for the side to move: MultiPV over every legal move
        from a cleared hash; a quicker mate against the mover is worse; ties go to the first in UCI order."""
        try:
            infos = self._running().analyse(board, self.spec.limit, multipv=board.legal_moves.count(), game=object())
        except (chess.engine.EngineTerminatedError, chess.engine.EngineError) as err:
            self._restart(err)
            raise EngineCrash(f"{self.spec.name} crashed during a worst-move search: {err}") from err
        scored = [(info["score"].pov(board.turn).score(mate_score=MATE_CP), info["pv"][0].uci(), info["pv"][0])
                  for info in infos if info.get("pv")]
        if not scored:
            raise RuntimeError(f"{self.spec.name} scored no move in a position with legal moves: {board.fen()}")
        return min(scored)[2]

    def evaluate(self, board: chess.Board) -> int:
        """Centipawns from White's view; a forced mate is +-MATE_CP. Searched from a cleared hash (a new UCI
        game per call), so an evaluation does not depend on which positions were evaluated before it."""
        try:
            info = self._running().analyse(board, self.spec.limit, game=object())
        except (chess.engine.EngineTerminatedError, chess.engine.EngineError) as err:
            self._restart(err)
            raise EngineCrash(f"{self.spec.name} crashed during evaluation: {err}") from err
        score = info["score"].white()
        cp = score.score(mate_score=MATE_CP)
        if score.is_mate():  # distance to mate is not an evaluation: report a plain +-MATE_CP
            return MATE_CP if cp > 0 else -MATE_CP
        return int(cp)

    def close(self) -> None:
        if self._engine is not None:
            try:
                self._engine.quit()
            except Exception:  # already dead: closing must never mask the real error
                self._engine.close()
            self._engine = None

    def __enter__(self) -> Stockfish:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

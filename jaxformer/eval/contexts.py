"""Cache upkeep for the model players: each game owns a row of one shared KV cache holding its prompt.

The prompt is characters for the char player (jaxformer.eval.prompt) or token ids for the move-token player
(jaxformer.eval.move_prompt); a `PromptFormat` says how to build, encode and cut it, and everything else is
here, once. Each move only feeds the tokens the row does not hold yet; the games waiting for a move are fed
in one batch. When a game outgrows the model's context (`max_len`), its window slides: the row is rebuilt
from the prompt's last ~max_len/2 tokens, cut at a move boundary, at positions 0, 1, ... Training blocks
are arbitrary cuts of the concatenated games, so a window that starts mid-game is what the model saw in
training.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Generic, Protocol, TypeVar

import chess
import numpy as np

from arena import Player
from jaxformer.decode import Decoder, bucket

S = TypeVar("S", str, tuple[int, ...])  # a prompt: characters, or token ids


class PromptFormat(Protocol[S]):
    """How a player's prompts are built, turned into token ids and cut when the window slides."""

    empty: S
    min_width: int  # the narrowest feed pass (few compiled widths; wider ones are powers of two)

    def new_transcript(self, root: chess.Board) -> Any:
        """The object whose `prompt(board)` is the game's prompt up to the next move (extended move by move)."""

    def encode(self, part: S) -> np.ndarray:
        """Token ids of a piece of prompt."""

    def window_start(self, prompt: S, keep: int) -> int:
        """Offset of the first move boundary that leaves at most `keep` tokens of `prompt`."""


@dataclasses.dataclass
class GameContext(Generic[S]):
    row: int  # the game's row of the shared cache
    transcript: Any  # the PromptFormat's transcript of the game
    prefix: S  # the prompt the row holds (from `window` on)
    window: int = 0  # offset of cache position 0 in the full prompt
    last_logp: np.ndarray | None = None  # next-token log-probs after `prefix`

    def next_logp(self) -> np.ndarray:
        if self.last_logp is None:
            raise RuntimeError("the game's cache row is empty: feed its prompt first")
        return self.last_logp


class GameContexts(Generic[S]):
    """Games -> cache rows of one `Decoder`; feeds them prompt tokens and keeps their windows inside the context."""

    def __init__(self, decoder: Decoder, prompts: PromptFormat[S]) -> None:
        self.decoder = decoder
        self.prompts: PromptFormat[S] = prompts
        self.max_len = decoder.cfg.max_len
        self.games: dict[str, GameContext[S]] = {}
        self.free = list(range(decoder.rows))[::-1]

    def get(self, game_id: str, board: chess.Board) -> GameContext[S]:
        """The game's context; a new game takes a free row (the cache grows when none is left)."""
        g = self.games.get(game_id)
        if g is None:
            if not self.free:
                n = self.decoder.rows
                self.decoder.grow()
                self.free.extend(range(2 * n - 1, n - 1, -1))
            g = self.games[game_id] = GameContext(row=self.free.pop(), transcript=self.prompts.new_transcript(board.root()),
                                                  prefix=self.prompts.empty)
        return g

    def release(self, game_id: str) -> None:
        g = self.games.pop(game_id, None)
        if g is not None:
            self.free.append(g.row)

    def catch_up(self, games: list[GameContext[S]], prompts: list[S], room: int) -> None:
        """Feed each game's row the prompt tokens it does not hold yet, keeping `room` tokens free after the
        prompt (sliding the window when they would not fit)."""
        pending = []
        for g, prompt in zip(games, prompts):
            if prompt[g.window:g.window + len(g.prefix)] != g.prefix:
                raise RuntimeError("game transcript diverged from the cached prefix (was a move taken back?)")
            if len(prompt) - g.window + room > self.max_len:
                g.window = self.prompts.window_start(prompt, self.max_len // 2)
                g.prefix = self.prompts.empty
            pending.append(prompt[g.window + len(g.prefix):])
        self.feed(games, pending)

    def feed(self, games: list[GameContext[S]], parts: list[S]) -> None:
        """Append `parts[i]` to game i's row; updates its prefix and next-token log-probs.

        Rows of one forward pass share the width T and `extend` writes all T columns, so a game near the end
        of its window never shares a pass with a long feed (a game whose window just slid): longest feeds
        first, each pass takes every game with room for its width.
        """
        pending = sorted(((g, t) for g, t in zip(games, parts) if t), key=lambda w: -len(w[1]))
        while pending:
            longest = len(pending[0][1])
            fits = [len(g.prefix) + longest <= self.max_len for g, _ in pending]
            if not fits[0]:
                raise RuntimeError(f"cache overflow: {len(pending[0][0].prefix)} + {longest} > max_len {self.max_len}")
            self._feed_pass([w for w, ok in zip(pending, fits) if ok])
            pending = [w for w, ok in zip(pending, fits) if not ok]

    def _feed_pass(self, work: list[tuple[GameContext[S], S]]) -> None:
        """One batched extend over games that all have room for the longest part in `work`."""
        longest = max(len(t) for _, t in work)
        # bucketed widths limit recompiles; padding must still fit: extend writes all T columns
        T = max(longest, min(bucket(longest, self.prompts.min_width), self.max_len - max(len(g.prefix) for g, _ in work)))
        G = bucket(len(work))
        toks = np.zeros((G, T), np.int32)
        nvalid = np.ones(G, np.int32)
        rows = np.full(G, work[0][0].row, np.int32)  # padding rows rewrite the first game's row identically
        lengths = np.full(G, len(work[0][0].prefix), np.int32)
        for r, (g, t) in enumerate(work):
            toks[r, :len(t)] = self.prompts.encode(t)
            nvalid[r], rows[r], lengths[r] = len(t), g.row, len(g.prefix)
        for r in range(len(work), G):
            toks[r], nvalid[r] = toks[0], nvalid[0]
        if lengths.max() + T > self.max_len:
            raise RuntimeError(f"cache overflow: {lengths.max()} + {T} > max_len {self.max_len}")
        logp = self.decoder.extend(rows, lengths, toks, nvalid)
        for r, (g, t) in enumerate(work):
            g.prefix += t
            g.last_logp = logp[r]


class CachedModelPlayer(Player):
    """What both model players share: their recorded settings, and one KV-cache row per game, freed at its end."""

    _settings: dict
    contexts: GameContexts

    def settings(self) -> dict:
        return dict(self._settings)

    def end_game(self, game_id: str) -> None:
        self.contexts.release(game_id)

"""Cache upkeep for the model player: each game owns a row of one shared KV cache holding its transcript.

Each move only feeds the characters the row does not hold yet; the games waiting for a move are fed in
one batch. When a game outgrows the model's context (`max_len`), its window slides: the row is rebuilt
from the transcript's last ~max_len/2 characters, cut at a move boundary, at positions 0, 1, ...
Training blocks are arbitrary cuts of the concatenated games, so a window that starts mid-game is what
the model saw in training.
"""
from __future__ import annotations

import dataclasses

import chess
import numpy as np

from jaxformer.decode import Decoder, bucket
from jaxformer.eval.prompt import Transcript, window_start


@dataclasses.dataclass
class GameContext:
    row: int  # the game's row of the shared cache
    transcript: Transcript
    text: str = ""  # prompt text the row holds (from `window` on)
    window: int = 0  # offset of cache position 0 in the full prompt text
    last_logp: np.ndarray | None = None  # next-character log-probs after `text`

    def next_logp(self) -> np.ndarray:
        if self.last_logp is None:
            raise RuntimeError("the game's cache row is empty: feed its prompt first")
        return self.last_logp


class GameContexts:
    """Games -> cache rows of one `Decoder`; feeds them text and keeps their windows inside the context."""

    def __init__(self, decoder: Decoder, tokenizer) -> None:
        self.decoder = decoder
        self.tok = tokenizer
        self.max_len = decoder.cfg.max_len
        self.games: dict[str, GameContext] = {}
        self.free = list(range(decoder.rows))[::-1]

    def get(self, game_id: str, board: chess.Board) -> GameContext:
        """The game's context; a new game takes a free row (the cache grows when none is left)."""
        g = self.games.get(game_id)
        if g is None:
            if not self.free:
                n = self.decoder.rows
                self.decoder.grow()
                self.free.extend(range(2 * n - 1, n - 1, -1))
            g = self.games[game_id] = GameContext(row=self.free.pop(), transcript=Transcript(board.root()))
        return g

    def release(self, game_id: str) -> None:
        g = self.games.pop(game_id, None)
        if g is not None:
            self.free.append(g.row)

    def catch_up(self, games: list[GameContext], prompts: list[str], room: int) -> None:
        """Feed each game's row the prompt characters it does not hold yet, keeping `room` characters free
        after the prompt (sliding the window when they would not fit)."""
        pending = []
        for g, prompt in zip(games, prompts):
            if not prompt[g.window:].startswith(g.text):
                raise RuntimeError("game transcript diverged from the cached prefix (was a move taken back?)")
            if len(prompt) - g.window + room > self.max_len:
                g.window = window_start(prompt, self.max_len // 2)
                g.text = ""
            pending.append(prompt[g.window + len(g.text):])
        self.feed(games, pending)

    def feed(self, games: list[GameContext], texts: list[str]) -> None:
        """Append `texts[i]` to game i's row; updates its text and next-character log-probs.

        Rows of one forward pass share the width T and `extend` writes all T columns, so a game near the end
        of its window never shares a pass with a long feed (a game whose window just slid): longest feeds
        first, each pass takes every game with room for its width.
        """
        pending = sorted(((g, t) for g, t in zip(games, texts) if t), key=lambda w: -len(w[1]))
        while pending:
            longest = len(pending[0][1])
            fits = [len(g.text) + longest <= self.max_len for g, _ in pending]
            if not fits[0]:
                raise RuntimeError(f"cache overflow: {len(pending[0][0].text)} + {longest} > max_len {self.max_len}")
            self._feed_pass([w for w, ok in zip(pending, fits) if ok])
            pending = [w for w, ok in zip(pending, fits) if not ok]

    def _feed_pass(self, work: list[tuple[GameContext, str]]) -> None:
        """One batched extend over games that all have room for the longest text in `work`."""
        longest = max(len(t) for _, t in work)
        # bucketed widths limit recompiles; padding must still fit: extend writes all T columns
        T = max(longest, min(bucket(longest, 8), self.max_len - max(len(g.text) for g, _ in work)))
        G = bucket(len(work))
        toks = np.zeros((G, T), np.int32)
        nvalid = np.ones(G, np.int32)
        rows = np.full(G, work[0][0].row, np.int32)  # padding rows rewrite the first game's row identically
        lengths = np.full(G, len(work[0][0].text), np.int32)
        for r, (g, t) in enumerate(work):
            toks[r, :len(t)] = self.tok.encode(t)
            nvalid[r], rows[r], lengths[r] = len(t), g.row, len(g.text)
        for r in range(len(work), G):
            toks[r], nvalid[r] = toks[0], nvalid[0]
        if lengths.max() + T > self.max_len:
            raise RuntimeError(f"cache overflow: {lengths.max()} + {T} > max_len {self.max_len}")
        logp = self.decoder.extend(rows, lengths, toks, nvalid)
        for r, (g, t) in enumerate(work):
            g.text += t
            g.last_logp = logp[r]

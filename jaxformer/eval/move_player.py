"""A move-token model as a chess player: one forward step per move, the softmax over the legal moves' ids.

The prompt is [game start, rating tokens of a "+elo" tokenizer (both = `as_rating`), one id per move so far, each
after its tokenizer's `position_ids` (the position, for "board"), then the current position's `position_ids`]
(jaxformer.eval.move_prompt); each game's prompt is kept in a row of one shared KV cache
(jaxformer.eval.contexts), and every waiting game's new tokens (its own last move and the reply, with their
positions) are fed in one batched extend: the next-token log-probs after it are the move distribution, with no
candidate scoring.
The distribution is restricted to the legal moves (illegal moves get exactly zero probability) and
renormalised; temperature divides those log-probabilities, T=0 is the arg-max, ties to the first in UCI
order (jaxformer.eval.sampling), exactly as the char player's move mode.

`model_player` picks the player a run's tokenizer needs: this one for a move tokenizer, ModelPlayer for chars.
"""
from __future__ import annotations

from typing import cast

import chess
import numpy as np

from arena import MoveChoice, MoveRequest
from data_pipeline import MoveTokenizer, Tokenizer
from jaxformer.decode import Decoder
from jaxformer.eval.contexts import CachedModelPlayer, GameContext, GameContexts
from jaxformer.eval.model_player import ModelPlayer, temperature_of
from jaxformer.eval.move_prompt import MovePrompts
from jaxformer.eval.sampling import sample_index
from jaxformer.eval.tokenizer_checks import check_as_rating, check_mode
from jaxformer.model import Transformer


class MoveTokenPlayer(CachedModelPlayer):
    """The arena Player of a move-tokenizer model; `choose`, `move_log_probs` and the lifecycle as ModelPlayer's."""

    def __init__(self, model: Transformer, tokenizer: MoveTokenizer, name: str = "model", settings: dict | None = None,
                 slots: int = 32, as_rating: int | None = None):
        if tokenizer.kind != "move":
            raise ValueError(f"tokenizer {tokenizer.name!r} is a {tokenizer.kind} tokenizer: a MoveTokenPlayer needs a "
                             "move tokenizer (ModelPlayer plays char models)")
        if model.cfg.vocab_size < tokenizer.vocab_size:
            raise ValueError(f"model.vocab_size={model.cfg.vocab_size} is smaller than tokenizer {tokenizer.name!r}'s "
                             f"{tokenizer.vocab_size} tokens: the model was not trained on it; load the run that was")
        ply = tokenizer.position_width + 1
        if model.cfg.max_len < 2 * ply:
            raise ValueError(f"model.max_len={model.cfg.max_len} is too short for tokenizer {tokenizer.name!r}: a ply is "
                             f"{ply} tokens and a sliding window keeps max_len/2 of them, so max_len must be at least "
                             f"{2 * ply}; train with a longer context (--set model.max_len=...)")
        check_as_rating(tokenizer, as_rating)
        self.name = name
        self.tok = tokenizer
        self.as_rating = as_rating
        self._settings = {"kind": "model", "mode": "move", "tokenizer": tokenizer.name, "as_rating": as_rating,
                          **(settings or {})}
        self.decoder = Decoder(model, slots)
        self.contexts = GameContexts(self.decoder, MovePrompts(tokenizer, as_rating))

    def choose(self, requests: list[MoveRequest]) -> list[MoveChoice]:
        temps = [temperature_of(req) for req in requests]
        scored = self.move_log_probs(requests)
        return [MoveChoice(moves[sample_index(logp, t, req.rng)]) for (moves, logp), req, t in zip(scored, requests, temps)]

    def move_log_probs(self, requests: list[MoveRequest]) -> list[tuple[list[chess.Move], np.ndarray]]:
        """For each game: its legal moves (UCI order) and their log-probabilities (float64, normalised over them)."""
        return [(moves, logp - np.logaddexp.reduce(logp)) for moves, logp in self._legal_scores(requests)]

    def legal_mass(self, requests: list[MoveRequest]) -> list[float]:
        """For each game: the probability the unrestricted softmax puts on its legal moves (before masking)."""
        return [float(np.exp(np.logaddexp.reduce(logp))) for _, logp in self._legal_scores(requests)]

    def _legal_scores(self, requests: list[MoveRequest]) -> list[tuple[list[chess.Move], np.ndarray]]:
        """Each game's legal moves (UCI order) and the model's log-probabilities of their ids over the whole vocabulary."""
        out = []
        for g, req in zip(self._prompted(requests), requests):
            moves = sorted(req.board.legal_moves, key=chess.Move.uci)  # the order of legal_move_ids: ids follow UCI order
            out.append((moves, g.next_logp()[self.tok.legal_move_ids(req.board)].astype(np.float64)))
        return out

    def _prompted(self, requests: list[MoveRequest]) -> list[GameContext[tuple[int, ...]]]:
        """Each request's game context, its cache row holding the prompt up to the model's move (one batched feed)."""
        games = [self.contexts.get(req.game_id, req.board) for req in requests]
        self.contexts.catch_up(games, [g.transcript.prompt(req.board) for g, req in zip(games, requests)], room=0)
        return games


def model_player(model: Transformer, tokenizer: Tokenizer, *, name: str, settings: dict | None = None, slots: int = 32,
                 mode: str = "move", as_rating: int | None = None, **char_options) -> ModelPlayer | MoveTokenPlayer:
    """The model as a player: a MoveTokenPlayer for a move tokenizer, else a ModelPlayer in `mode` with
    `char_options` (its char_sampler, forfeit_after, strip_own_check). Clear errors for what the tokenizer
    cannot do (jaxformer.eval.tokenizer_checks)."""
    check_mode(tokenizer, mode)
    if tokenizer.kind == "move":
        return MoveTokenPlayer(model, cast(MoveTokenizer, tokenizer), name=name, settings=settings, slots=slots,
                               as_rating=as_rating)
    check_as_rating(tokenizer, as_rating)
    return ModelPlayer(model, tokenizer, mode=mode, name=name, settings=settings, slots=slots, **char_options)

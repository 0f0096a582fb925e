"""The model as a chess player: exact move-level temperature over legal moves, or the paper's char sampling.

The prompt is the game's transcript (jaxformer.eval.prompt); each game's transcript is kept in a row of
one shared KV cache (jaxformer.eval.contexts); the model runs only through jaxformer.decode.

Move mode (default). A move's log-probability is the sum of its characters' log-probabilities plus
the log-probability that the move ends there, i.e. that the next character is a separator: a space
(the game goes on) or `;` (the game ends; the data puts `;` right after a final move such as a mate).
Counting the separator makes the move an exact event: P(`Rd1`) alone would also count `Rd1x...`
continuations, and it is exactly the probability that char sampling at T=1 writes this move. Both
separators are summed because either ends the move when sampling by characters. All legal moves of
all waiting games are scored in one batched pass that reads each game's cached prefix once. Temperature
divides the move log-probabilities; T=0 is the arg-max (ties: first in UCI order), the theory's majority
vote (jaxformer.eval.sampling).

Char mode (the paper's sampler, for parity). Characters are sampled at temperature T until a
separator; output that is not a legal move (compared without `+`/`#`) is retried at a rising
temperature T + RETRY_STEP * attempt (the paper retried at the same near-zero temperature, which
can repeat the same illegal output forever), and each illegal attempt is counted. After
MAX_ATTEMPTS a uniformly random legal move is played (counted as well, as an illegal attempt).

A request without a temperature (a game planned without one) is an error, never a silent arg-max.
"""
from __future__ import annotations

import chess
import numpy as np

from arena import MoveChoice, MoveRequest, Player
from jaxformer.decode import Decoder
from jaxformer.eval.contexts import GameContext, GameContexts
from jaxformer.eval.prompt import SEPARATORS
from jaxformer.eval.sampling import sample_index
from jaxformer.model import Transformer

MAX_SAN_CHARS = 7  # the longest SAN: e.g. "Qh4xe1#", "exd8=Q+"
CHAR_MAX_CHARS = 10  # char mode: output longer than this without a separator is illegal
RETRY_STEP = 0.25
MAX_ATTEMPTS = 20
MODES = ("move", "char")


def temperature_of(req: MoveRequest) -> float:
    """The request's sampling temperature; a clear error when the game was planned without one."""
    if req.temperature is None:
        raise ValueError(f"game {req.game_id}: the model was asked for a move without a sampling temperature; "
                         "plan the game with a temperature (PlannedGame.temperature) for the model to play")
    return float(req.temperature)


class ModelPlayer(Player):

    def __init__(self, model: Transformer, tokenizer, mode: str = "move", name: str = "model",
                 settings: dict | None = None, slots: int = 32):
        if mode not in MODES:
            raise ValueError(f"mode must be 'move' or 'char', got {mode!r}")
        self.name = name
        self.mode = mode
        self.tok = tokenizer
        self._settings = {"kind": "model", "mode": mode, **(settings or {})}
        self.sep_ids = np.array([tokenizer.vocab.index(s) for s in SEPARATORS])
        self.decoder = Decoder(model, slots)
        self.contexts = GameContexts(self.decoder, tokenizer)
        self.illegal_total = 0

    # ------------------------------------------------------------------ Player
    def settings(self) -> dict:
        return dict(self._settings)

    def end_game(self, game_id: str) -> None:
        self.contexts.release(game_id)

    def choose(self, requests: list[MoveRequest]) -> list[MoveChoice]:
        temps = [temperature_of(req) for req in requests]
        games = self._prompted(requests)
        if self.mode == "move":
            return self._choose_moves(games, requests, temps)
        return self._choose_chars(games, requests, temps)

    # ------------------------------------------------------------------ move mode
    def move_log_probs(self, requests: list[MoveRequest],
                       shared: bool | None = None) -> list[tuple[list[chess.Move], np.ndarray]]:
        """For each game: its legal moves (UCI order) and their log-probabilities (normalised over them).
        `shared` picks the scoring pass (see `Decoder.score_continuations`; None: the model's default)."""
        return self._score_legal(self._prompted(requests), requests, shared)

    def _choose_moves(self, games: list[GameContext], requests: list[MoveRequest],
                      temps: list[float]) -> list[MoveChoice]:
        scored = self._score_legal(games, requests)
        return [MoveChoice(moves[sample_index(logp, t, req.rng)]) for (moves, logp), req, t in zip(scored, requests, temps)]

    def _score_legal(self, games: list[GameContext], requests: list[MoveRequest],
                     shared: bool | None = None) -> list[tuple[list[chess.Move], np.ndarray]]:
        legal = [sorted(req.board.legal_moves, key=chess.Move.uci) for req in requests]
        sans = [[req.board.san(m) for m in moves] for req, moves in zip(requests, legal)]
        scores = self.decoder.score_continuations(
            [g.row for g in games], [len(g.text) for g in games], [g.next_logp() for g in games],
            [[self.tok.encode(s) for s in game_sans] for game_sans in sans], self.sep_ids, shared=shared)
        return [(moves, sc - np.logaddexp.reduce(sc)) for moves, sc in zip(legal, scores)]

    # ------------------------------------------------------------------ char mode
    def _choose_chars(self, games: list[GameContext], requests: list[MoveRequest],
                      temps: list[float]) -> list[MoveChoice]:
        legal = [{req.board.san(m).rstrip("+#"): m for m in req.board.legal_moves} for req in requests]
        base = [(g.text, g.last_logp) for g in games]
        attempts = [0] * len(games)
        chosen: dict[int, chess.Move] = {}
        while len(chosen) < len(games):
            todo = [i for i in range(len(games)) if i not in chosen]
            texts = self._sample_texts([games[i] for i in todo], [temps[i] + RETRY_STEP * attempts[i] for i in todo],
                                       [requests[i].rng for i in todo])
            for i, text in zip(todo, texts):
                games[i].text, games[i].last_logp = base[i]  # roll back: the canonical SAN is fed next turn
                move = legal[i].get(text.rstrip("+#")) if text is not None else None
                if move is not None:
                    chosen[i] = move
                    continue
                attempts[i] += 1
                if attempts[i] >= MAX_ATTEMPTS:
                    moves = sorted(legal[i].values(), key=chess.Move.uci)
                    chosen[i] = moves[int(requests[i].rng.integers(len(moves)))]
        self.illegal_total += sum(attempts)
        return [MoveChoice(chosen[i], illegal_attempts=attempts[i]) for i in range(len(games))]

    def _sample_texts(self, games: list[GameContext], temps: list[float], rngs: list) -> list[str | None]:
        """Sample characters per game until a separator; None where no separator came in time."""
        out: list[str | None] = [None] * len(games)
        texts = [""] * len(games)
        live = list(range(len(games)))
        for _ in range(CHAR_MAX_CHARS + 1):
            feed = []
            for i in live:
                ch = self.tok.vocab[sample_index(games[i].next_logp(), temps[i], rngs[i])]
                if ch in SEPARATORS:
                    out[i] = texts[i]
                elif len(texts[i]) < CHAR_MAX_CHARS:
                    texts[i] += ch
                    feed.append(i)
            if not feed:
                break
            self.contexts.feed([games[i] for i in feed], [texts[i][-1] for i in feed])
            live = feed
        return out

    # ------------------------------------------------------------------ prompts
    def _prompted(self, requests: list[MoveRequest]) -> list[GameContext]:
        """Each request's game context, its cache row holding the prompt up to the model's move."""
        games = [self.contexts.get(req.game_id, req.board) for req in requests]
        room = CHAR_MAX_CHARS + 2 if self.mode == "char" else MAX_SAN_CHARS + 2
        self.contexts.catch_up(games, [g.transcript.prompt(req.board) for g, req in zip(games, requests)], room)
        return games

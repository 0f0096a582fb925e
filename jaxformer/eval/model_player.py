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

Char mode (per-character sampling, for parity). The `ours` sampler samples characters at temperature T
until a separator; output that is not a legal move (compared without `+`/`#`) is retried at a rising
temperature T + RETRY_STEP * attempt (the paper retried at the same near-zero temperature, which
can repeat the same illegal output forever), and each illegal attempt is counted. After
MAX_ATTEMPTS a uniformly random legal move is played (counted as well, as an illegal attempt).

The paper's protocol, item by item (jaxformer/eval/protocol.py cites its code):
- `char_sampler="paper"`: exactly PAPER_CHARS characters sampled at T from a prompt that, before a Black
  move, ends without its space (the paper's `.strip()`); the output is cut at `;`, then at `+`, and its
  first whitespace-separated token, parsed by `board.parse_san`, is the move;
- `forfeit_after=N`: N samples at T itself, then the model forfeits (loses the game); an output that is a
  result (`1-0`, `0-1`, `1/2-1/2`) is a resignation;
- `strip_own_check`: the model's own moves enter its later prompts as it wrote them, cut at `+`.

A request without a temperature (a game planned without one) is an error, never a silent arg-max.
"""
from __future__ import annotations

import chess
import numpy as np

from arena import MoveChoice, MoveRequest
from jaxformer.decode import Decoder
from jaxformer.eval.contexts import CachedModelPlayer, GameContext, GameContexts
from jaxformer.eval.prompt import SEPARATORS, CharPrompts
from jaxformer.eval.protocol import CHAR_SAMPLERS
from jaxformer.eval.sampling import sample_index
from jaxformer.model import Transformer

MAX_SAN_CHARS = 7  # the longest SAN: e.g. "Qh4xe1#", "exd8=Q+"
CHAR_MAX_CHARS = 10  # char mode: output longer than this without a separator is illegal
RETRY_STEP = 0.25
MAX_ATTEMPTS = 20
MODES = ("move", "char")
PAPER_CHARS = 10  # chess_research/eval/player.py get_nanogpt_response: max_new_tokens = 10
RESULTS = ("1-0", "0-1", "1/2-1/2")  # chess_research/eval/utils.py get_legal_move: written results resign


def paper_token(response: str) -> str:
    """The move the paper read from a sampled response (player.py get_nanogpt_response, get_move_from_response)."""
    tokens = response.split(";")[0].split("+")[0].split()
    return tokens[0] if tokens else ""


def paper_parse(board: chess.Board, token: str) -> chess.Move | None:
    """The legal move `token` names by `board.parse_san` (lenient, as the paper's get_legal_move), else None."""
    try:
        move = board.parse_san(token)
    except ValueError:
        return None
    return move if move in board.legal_moves else None


def temperature_of(req: MoveRequest) -> float:
    """The request's sampling temperature; a clear error when the game was planned without one."""
    if req.temperature is None:
        raise ValueError(f"game {req.game_id}: the model was asked for a move without a sampling temperature; "
                         "plan the game with a temperature (PlannedGame.temperature) for the model to play")
    return float(req.temperature)


class ModelPlayer(CachedModelPlayer):

    def __init__(self, model: Transformer, tokenizer, mode: str = "move", name: str = "model",
                 settings: dict | None = None, slots: int = 32, char_sampler: str = "ours",
                 forfeit_after: int | None = None, strip_own_check: bool = False):
        if mode not in MODES:
            raise ValueError(f"mode must be 'move' or 'char', got {mode!r}")
        if char_sampler not in CHAR_SAMPLERS:
            raise ValueError(f"char_sampler must be one of {CHAR_SAMPLERS}, got {char_sampler!r}")
        if forfeit_after is not None and forfeit_after < 1:
            raise ValueError(f"forfeit_after must be at least 1 (or None: retry), got {forfeit_after}")
        self.name = name
        self.mode = mode
        self.char_sampler = char_sampler
        self.forfeit_after = forfeit_after
        self.strip_own_check = strip_own_check
        protocol = {} if (char_sampler, forfeit_after, strip_own_check) == ("ours", None, False) else \
            {"char_sampler": char_sampler, "forfeit_after": forfeit_after, "strip_own_check": strip_own_check}
        self._settings = {"kind": "model", "mode": mode, **protocol, **(settings or {})}
        self.tok = tokenizer
        self.sep_ids = np.array([tokenizer.vocab.index(s) for s in SEPARATORS])
        self.decoder = Decoder(model, slots)
        self.contexts = GameContexts(self.decoder, CharPrompts(tokenizer))
        self.illegal_total = 0
        self.characters_sampled = 0  # char mode: every character drawn, over all games and attempts

    # ------------------------------------------------------------------ Player
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

    def legal_mass(self, requests: list[MoveRequest]) -> list[float]:
        """For each game: the probability that sampling characters at T=1 writes a legal move (its SAN, then a
        separator), the mass the model puts on legal moves before they are renormalised."""
        games = self._prompted(requests)
        return [float(np.exp(np.logaddexp.reduce(sc))) for _, sc in self._raw_legal_scores(games, requests, None)]

    def _choose_moves(self, games: list[GameContext[str]], requests: list[MoveRequest],
                      temps: list[float]) -> list[MoveChoice]:
        scored = self._score_legal(games, requests)
        chosen = [moves[sample_index(logp, t, req.rng)] for (moves, logp), req, t in zip(scored, requests, temps)]
        for g, req, move in zip(games, requests, chosen):
            self._written(g, req, req.board.san(move))
        return [MoveChoice(move) for move in chosen]

    def _written(self, game: GameContext[str], req: MoveRequest, text: str) -> None:
        """strip_own_check: the model's move enters its transcript as it wrote it (`text`), cut at `+`."""
        if self.strip_own_check:
            game.transcript.write_as(len(req.board.move_stack), text.split("+")[0])

    def _score_legal(self, games: list[GameContext[str]], requests: list[MoveRequest],
                     shared: bool | None = None) -> list[tuple[list[chess.Move], np.ndarray]]:
        return [(moves, sc - np.logaddexp.reduce(sc)) for moves, sc in self._raw_legal_scores(games, requests, shared)]

    def _raw_legal_scores(self, games: list[GameContext[str]], requests: list[MoveRequest],
                          shared: bool | None) -> list[tuple[list[chess.Move], np.ndarray]]:
        """Each game's legal moves (UCI order) and log P(move, then a separator), not renormalised."""
        legal = [sorted(req.board.legal_moves, key=chess.Move.uci) for req in requests]
        sans = [[req.board.san(m) for m in moves] for req, moves in zip(requests, legal)]
        scores = self.decoder.score_continuations(
            [g.row for g in games], [len(g.prefix) for g in games], [g.next_logp() for g in games],
            [[self.tok.encode(s) for s in game_sans] for game_sans in sans], self.sep_ids, shared=shared)
        return list(zip(legal, scores))

    # ------------------------------------------------------------------ char mode
    def _choose_chars(self, games: list[GameContext[str]], requests: list[MoveRequest],
                      temps: list[float]) -> list[MoveChoice]:
        """Sample each game's output until it is a legal move, a resignation or the illegal-output policy ends it."""
        legal = [{req.board.san(m).rstrip("+#"): m for m in req.board.legal_moves} for req in requests]
        base = [(g.prefix, g.last_logp) for g in games]
        attempts = [0] * len(games)
        chosen: dict[int, MoveChoice] = {}
        while len(chosen) < len(games):
            todo = [i for i in range(len(games)) if i not in chosen]
            rising = self.forfeit_after is None  # retry: a rising temperature; forfeit: T itself (the paper's)
            texts = self._sample([games[i] for i in todo], [temps[i] + rising * RETRY_STEP * attempts[i] for i in todo],
                                 [requests[i].rng for i in todo])
            for i, text in zip(todo, texts):
                games[i].prefix, games[i].last_logp = base[i]  # roll back: the move is fed next turn
                written, move = self._read(text, requests[i].board, legal[i])
                if move is not None:
                    self._written(games[i], requests[i], written)
                    chosen[i] = MoveChoice(move, illegal_attempts=attempts[i])
                elif written in RESULTS and self.forfeit_after is not None:
                    chosen[i] = MoveChoice(None, illegal_attempts=attempts[i], forfeit="resignation")
                else:
                    attempts[i] += 1
                    if attempts[i] >= (self.forfeit_after or MAX_ATTEMPTS):
                        chosen[i] = self._give_up(games[i], requests[i], legal[i], attempts[i])
        self.illegal_total += sum(attempts)
        return [chosen[i] for i in range(len(games))]

    def _read(self, text: str | None, board: chess.Board, legal: dict[str, chess.Move]) -> tuple[str, chess.Move | None]:
        """What the model wrote for its move, and the legal move it names (None: none)."""
        if self.char_sampler == "paper":
            token = paper_token(text or "")
            return token, paper_parse(board, token)
        return (text, legal.get(text.rstrip("+#"))) if text is not None else ("", None)

    def _give_up(self, game: GameContext[str], req: MoveRequest, legal: dict[str, chess.Move], attempts: int) -> MoveChoice:
        """Out of attempts: forfeit the game (forfeit_after), or play a uniformly random legal move (retry)."""
        if self.forfeit_after is not None:
            return MoveChoice(None, illegal_attempts=attempts, forfeit="illegal")
        moves = sorted(legal.values(), key=chess.Move.uci)
        move = moves[int(req.rng.integers(len(moves)))]
        self._written(game, req, req.board.san(move))
        return MoveChoice(move, illegal_attempts=attempts)

    def _sample(self, games: list[GameContext[str]], temps: list[float], rngs: list) -> list[str | None]:
        if self.char_sampler == "paper":
            return list(self.sample_characters(games, temps, rngs, PAPER_CHARS))
        return self._sample_texts(games, temps, rngs)

    def sample_characters(self, games: list[GameContext[str]], temps: list[float], rngs: list, count: int) -> list[str]:
        """Exactly `count` characters per game at its temperature, each fed back before the next (the paper's
        `model.generate(x, max_new_tokens=count)`); the game rows then hold the first count - 1 of them."""
        texts = [""] * len(games)
        for k in range(count):
            for i, g in enumerate(games):
                texts[i] += self.tok.vocab[sample_index(g.next_logp(), temps[i], rngs[i])]
            if k < count - 1:
                self.contexts.feed(games, [t[-1] for t in texts])
        self.characters_sampled += count * len(games)
        return texts

    def _sample_texts(self, games: list[GameContext[str]], temps: list[float], rngs: list) -> list[str | None]:
        """Sample characters per game until a separator; None where no separator came in time."""
        out: list[str | None] = [None] * len(games)
        texts = [""] * len(games)
        live = list(range(len(games)))
        for _ in range(CHAR_MAX_CHARS + 1):
            feed = []
            for i in live:
                ch = self.tok.vocab[sample_index(games[i].next_logp(), temps[i], rngs[i])]
                self.characters_sampled += 1
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
    def _prompted(self, requests: list[MoveRequest]) -> list[GameContext[str]]:
        """Each request's game context, its cache row holding the prompt up to the model's move."""
        games = [self.contexts.get(req.game_id, req.board) for req in requests]
        room = CHAR_MAX_CHARS + 2 if self.mode == "char" else MAX_SAN_CHARS + 2
        prompts = [g.transcript.prompt(req.board) for g, req in zip(games, requests)]
        if self.mode == "char" and self.char_sampler == "paper":  # player.py get_nanogpt_response: `.strip()`
            prompts = [prompt.removesuffix(" ") for prompt in prompts]
        self.contexts.catch_up(games, prompts, room)
        return games

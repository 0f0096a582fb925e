"""The model as a chess player: exact move-level temperature over legal moves, or the paper's char sampling.

Prompt. The model reads the game as the training transcripts spell it (DESIGN.md):
`;1.e4 e5 2.Nf3` with canonical SAN, `+` and `#` included (the paper stripped the model's own `+`).
When the model is to move, its prompt is the transcript plus what precedes the next move: `;1.` at the
start, ` N.` before a White move, ` ` before a Black move. The candidate text is the bare SAN.

Move mode (default). A move's log-probability is the sum of its characters' log-probabilities plus
the log-probability that the move ends there, i.e. that the next character is a separator: a space
(the game goes on) or `;` (the game ends; the data puts `;` right after a final move such as a mate).
Counting the separator makes the move an exact event: P(`Rd1`) alone would also count `Rd1x...`
continuations, and it is exactly the probability that char sampling at T=1 writes this move. Both
separators are summed because either ends the move when sampling by characters. All legal moves are
scored in one batched pass that replicates the game's cached prefix rows. Temperature divides the
move log-probabilities; T=0 is the arg-max (ties: first in UCI order), the theory's majority vote.

Char mode (the paper's sampler, for parity). Characters are sampled at temperature T until a
separator; output that is not a legal move (compared without `+`/`#`) is retried at a rising
temperature T + RETRY_STEP * attempt (the paper retried at the same near-zero temperature, which
can repeat the same illegal output forever), and each illegal attempt is counted. After
MAX_ATTEMPTS a uniformly random legal move is played (counted as well, as an illegal attempt).

KV cache. Each game owns a slot (a row of one shared cache) that holds the transcript fed so far,
so each move only feeds the new characters. Games waiting for a move are gathered into one batch.
Context. When a game outgrows the model's context (`max_len`), the window slides: the cache is
rebuilt from the transcript's last ~max_len/2 characters, cut at a move boundary, at positions
0, 1, ... Training blocks are arbitrary 1024-character cuts of the concatenated games, so a window
that starts mid-game is what the model saw in training.
"""
from __future__ import annotations

import dataclasses

import chess
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from arena import MoveChoice, MoveRequest, Player
from jaxformer.eval.candidates import candidate_scores

SEPARATORS = (" ", ";")
MAX_SAN_CHARS = 7  # the longest SAN: e.g. "Qh4xe1#", "exd8=Q+"
CHAR_MAX_CHARS = 10  # char mode: output longer than this without a separator is illegal
RETRY_STEP = 0.25
MAX_ATTEMPTS = 20
ROW_BYTES_BUDGET = 256 << 20  # replicated cache rows scored per chunk (bounds memory in move mode)


def prompt_text(board: chess.Board, start: chess.Board | None = None) -> str:
    """The transcript of `board`'s game up to the next move, as the model is prompted: `;1.e4 e5 2.`."""
    replay = start.copy() if start is not None else chess.Board()
    parts = [";"]
    for move in board.move_stack:
        parts.append(_move_prefix(replay, first=len(parts) == 1) + replay.san(move))
        replay.push(move)
    parts.append(_move_prefix(replay, first=len(parts) == 1))
    return "".join(parts)


def _move_prefix(board: chess.Board, first: bool) -> str:
    sep = "" if first else " "
    if board.turn == chess.WHITE:
        return f"{sep}{board.fullmove_number}."
    return sep if not first else f"{board.fullmove_number}..."


@dataclasses.dataclass
class _Game:
    slot: int
    start: chess.Board  # the position the transcript starts from
    text: str = ""  # transcript text the cache holds (from `window` on)
    window: int = 0  # offset of cache position 0 in the full prompt text
    last_logp: np.ndarray | None = None  # next-character log-probs after `text`
    replay: chess.Board | None = None  # the game replayed up to the moves already in `transcript`
    transcript: str = ";"  # the moves so far, without the next move's prefix

    def prompt(self, board: chess.Board) -> str:
        """prompt_text(board), extended incrementally (recomputing every move would cost O(plies^2))."""
        if self.replay is None:
            self.replay = self.start.copy()
        done = len(self.replay.move_stack)
        if board.move_stack[:done] != self.replay.move_stack:
            raise RuntimeError("game transcript diverged from the cached prefix (was a move taken back?)")
        for move in board.move_stack[done:]:
            self.transcript += _move_prefix(self.replay, first=self.transcript == ";") + self.replay.san(move)
            self.replay.push(move)
        return self.transcript + _move_prefix(self.replay, first=self.transcript == ";")


def _bucket(n: int, lo: int = 1) -> int:
    return max(lo, 1 << max(0, n - 1).bit_length())


class ModelPlayer(Player):
    batched = True

    def __init__(self, model: nnx.Module, tokenizer, mode: str = "move", name: str = "model",
                 settings: dict | None = None, slots: int = 32):
        if mode not in ("move", "char"):
            raise ValueError(f"mode must be 'move' or 'char', got {mode!r}")
        self.name = name
        self.mode = mode
        self.tok = tokenizer
        self.cfg = model.cfg
        self.max_len = self.cfg.max_len
        self._settings = {"kind": "model", "mode": mode, **(settings or {})}
        self.sep_ids = np.array([tokenizer.vocab.index(s) for s in SEPARATORS])
        graphdef, self.state = nnx.split(model)
        self.cache = model.init_cache(slots)
        self.games: dict[str, _Game] = {}
        self.free = list(range(slots))[::-1]
        self.illegal_total = 0
        self._row_bytes = 2 * self.cfg.n_layer * self.cfg.d_model * jnp.dtype(self.cache.keys[0].dtype).itemsize

        def extend_rows(state, cache, slots_G, lengths_G, tokens_GxT, nvalid_G):
            m = nnx.merge(graphdef, state)
            rows = jax.tree.map(lambda a: a[slots_G], cache)
            rows = rows.replace(lengths=lengths_G)
            logits_GxTxV, rows = m.extend(tokens_GxT, rows, nvalid_G)
            cache = jax.tree.map(lambda a, r: a.at[slots_G].set(r), cache, rows)
            last_GxV = logits_GxTxV[jnp.arange(tokens_GxT.shape[0]), nvalid_G - 1]
            return jax.nn.log_softmax(last_GxV, axis=-1), cache

        def score_rows(state, cache, slots_R, lengths_R, prev_logp_RxV, cand_RxL, cand_len_R, sep_ids, s_max):
            m = nnx.merge(graphdef, state)
            rows = cache.replace(keys=tuple(k[slots_R, :s_max] for k in cache.keys),
                                 values=tuple(v[slots_R, :s_max] for v in cache.values), lengths=lengths_R)
            logits_RxLxV, _ = m.extend(cand_RxL, rows)
            logp_RxLxV = jax.nn.log_softmax(logits_RxLxV, axis=-1)
            R, L = cand_RxL.shape
            first_R = jnp.take_along_axis(prev_logp_RxV, cand_RxL[:, :1], axis=1)[:, 0]
            # position i predicts character i+1; only characters inside the candidate count
            next_RxL = jnp.take_along_axis(logp_RxLxV[:, :-1], cand_RxL[:, 1:, None], axis=2)[..., 0]
            inside_RxL = jnp.arange(1, L)[None, :] < cand_len_R[:, None]
            chars_R = first_R + jnp.sum(jnp.where(inside_RxL, next_RxL, 0.0), axis=1)
            end_RxV = logp_RxLxV[jnp.arange(R), cand_len_R - 1]
            sep_R = jax.nn.logsumexp(end_RxV[:, sep_ids], axis=1)
            return chars_R + sep_R

        def score_games(state, cache, slots_G, lengths_G, prev_logp_GxV, cand_GxKxL, cand_len_GxK, sep_ids, s_max):
            return candidate_scores(nnx.merge(graphdef, state), cache, slots_G, lengths_G, prev_logp_GxV,
                                    cand_GxKxL, cand_len_GxK, sep_ids, s_max)

        self._extend_rows = jax.jit(extend_rows, donate_argnums=(1,))
        self._score_games = jax.jit(score_games, static_argnums=(8,))
        self._score_rows = jax.jit(score_rows, static_argnums=(8,))

    # ------------------------------------------------------------------ Player
    def settings(self) -> dict:
        return dict(self._settings)

    def end_game(self, game_id: str) -> None:
        g = self.games.pop(game_id, None)
        if g is not None:
            self.free.append(g.slot)

    def choose(self, requests: list[MoveRequest]) -> list[MoveChoice]:
        games = [self._game(req) for req in requests]
        self._catch_up(games, [g.prompt(req.board) for g, req in zip(games, requests)])
        if self.mode == "move":
            return self._choose_moves(games, requests)
        return self._choose_chars(games, requests)

    # ------------------------------------------------------------------ move mode
    def move_log_probs(self, requests: list[MoveRequest]) -> list[tuple[list[chess.Move], np.ndarray]]:
        """For each game: its legal moves (UCI order) and their log-probabilities (normalised over them)."""
        games = [self._game(req) for req in requests]
        self._catch_up(games, [g.prompt(req.board) for g, req in zip(games, requests)])
        return self._score_legal(games, requests)

    def _choose_moves(self, games: list[_Game], requests: list[MoveRequest]) -> list[MoveChoice]:
        out = []
        for (moves, logp), req in zip(self._score_legal(games, requests), requests):
            if req.temperature <= 0.0:
                out.append(MoveChoice(moves[int(np.argmax(logp))]))
                continue
            z = logp / req.temperature
            p = np.exp(z - z.max())
            out.append(MoveChoice(moves[int(req.rng.choice(len(moves), p=p / p.sum()))]))
        return out

    def _score_legal(self, games: list[_Game], requests: list[MoveRequest]):
        per_game = []
        for req in requests:
            moves = sorted(req.board.legal_moves, key=chess.Move.uci)
            per_game.append((moves, [req.board.san(m) for m in moves]))
        need = max(len(g.text) for g in games) + MAX_SAN_CHARS + 1
        s_max = min(self.max_len, -(-need // 64) * 64)  # prefix keys read: multiples of 64 (few shapes)
        if self.cfg.scan_layers:  # stacked layers: fall back to scoring on replicated cache rows
            scores = self._score_replicated(games, per_game, s_max)
        else:
            scores = self._score_shared(games, per_game, s_max)
        return [(moves, sc - np.logaddexp.reduce(sc)) for (moves, _), sc in zip(per_game, scores)]

    def _encode_candidates(self, sans: list[str], rows: int,
                           width: int = MAX_SAN_CHARS + 1) -> tuple[np.ndarray, np.ndarray]:
        toks = np.zeros((rows, width), np.int32)
        lens = np.ones(rows, np.int32)
        for r, san in enumerate(sans):
            toks[r, :len(san)] = self.tok.encode(san)
            lens[r] = len(san)
        return toks, lens

    def _score_shared(self, games: list[_Game], per_game: list, s_max: int) -> list[np.ndarray]:
        """All candidates of a group of games in one pass that reads each game's prefix once."""
        K = -(-max(len(m) for m, _ in per_game) // 8) * 8  # multiples of 8: little padding, few shapes
        L = max(len(san) for _, sans in per_game for san in sans)  # padding characters cost full positions
        per_game_bytes = 4 * 3 * K * self.cfg.n_head * L * (s_max + L)
        chunk = max(1, _bucket(max(1, ROW_BYTES_BUDGET // per_game_bytes)) // 2)
        out = []
        for lo in range(0, len(games), chunk):
            part = list(range(lo, min(lo + chunk, len(games))))
            G = _bucket(len(part))
            idx = part + [part[0]] * (G - len(part))  # padding games repeat the first one
            toks = np.zeros((G, K, L), np.int32)
            lens = np.ones((G, K), np.int32)
            for r, i in enumerate(idx):
                sans = per_game[i][1]
                toks[r, :len(sans)], lens[r, :len(sans)] = self._encode_candidates(sans, len(sans), L)
            slots = np.array([games[i].slot for i in idx], np.int32)
            lengths = np.array([len(games[i].text) for i in idx], np.int32)
            prev = np.stack([games[i].last_logp for i in idx])
            sc = np.asarray(self._score_games(self.state, self.cache, slots, lengths, prev, toks, lens,
                                              self.sep_ids, s_max), np.float64)
            out.extend(sc[r, :len(per_game[i][0])] for r, i in enumerate(part))
        return out

    def _score_replicated(self, games: list[_Game], per_game: list, s_max: int) -> list[np.ndarray]:
        cands = [(i, san) for i, (_, sans) in enumerate(per_game) for san in sans]
        chunk = max(8, _bucket(ROW_BYTES_BUDGET // (self._row_bytes * s_max)) // 2)
        scores = np.empty(len(cands))
        for lo in range(0, len(cands), chunk):
            part = cands[lo:lo + chunk]
            R = _bucket(len(part), 8)
            toks, lens = self._encode_candidates([san for _, san in part], R)
            gidx = [i for i, _ in part] + [part[0][0]] * (R - len(part))
            slots = np.array([games[i].slot for i in gidx], np.int32)
            lengths = np.array([len(games[i].text) for i in gidx], np.int32)
            prev = np.stack([games[i].last_logp for i in gidx])
            out = self._score_rows(self.state, self.cache, slots, lengths, prev, toks, lens, self.sep_ids, s_max)
            scores[lo:lo + len(part)] = np.asarray(out)[:len(part)]
        bounds = np.cumsum([0] + [len(m) for m, _ in per_game])
        return [scores[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    # ------------------------------------------------------------------ char mode
    def _choose_chars(self, games: list[_Game], requests: list[MoveRequest]) -> list[MoveChoice]:
        legal = [{req.board.san(m).rstrip("+#"): m for m in req.board.legal_moves} for req in requests]
        base = [(g.text, g.last_logp) for g in games]
        attempts = [0] * len(games)
        chosen: list[chess.Move | None] = [None] * len(games)
        while any(c is None for c in chosen):
            todo = [i for i, c in enumerate(chosen) if c is None]
            temps = [requests[i].temperature + RETRY_STEP * attempts[i] for i in todo]
            texts = self._sample_texts([games[i] for i in todo], temps, [requests[i].rng for i in todo])
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
        return [MoveChoice(m, illegal_attempts=a) for m, a in zip(chosen, attempts)]

    def _sample_texts(self, games: list[_Game], temps: list[float], rngs) -> list[str | None]:
        """Sample characters per game until a separator; None where no separator came in time."""
        out: list[str | None] = [None] * len(games)
        texts = [""] * len(games)
        live = list(range(len(games)))
        for _ in range(CHAR_MAX_CHARS + 1):
            feed = []
            for i in live:
                logp = games[i].last_logp
                if temps[i] <= 0.0:
                    c = int(np.argmax(logp))
                else:
                    z = logp / temps[i]
                    p = np.exp(z - z.max())
                    c = int(rngs[i].choice(len(p), p=p / p.sum()))
                ch = self.tok.vocab[c]
                if ch in SEPARATORS:
                    out[i] = texts[i]
                elif len(texts[i]) < CHAR_MAX_CHARS:
                    texts[i] += ch
                    feed.append(i)
            if not feed:
                break
            self._feed([games[i] for i in feed], [texts[i][-1] for i in feed])
            live = feed
        return out

    # ------------------------------------------------------------------ cache upkeep
    def _game(self, req: MoveRequest) -> _Game:
        g = self.games.get(req.game_id)
        if g is None:
            if not self.free:
                self._grow()
            g = self.games[req.game_id] = _Game(slot=self.free.pop(), start=req.board.root())
        return g

    def _grow(self) -> None:
        n = self.cache.lengths.shape[0]
        self.cache = jax.tree.map(lambda a: jnp.concatenate([a, jnp.zeros_like(a)]), self.cache)
        self.free.extend(range(2 * n - 1, n - 1, -1))

    def _catch_up(self, games: list[_Game], prompts: list[str]) -> None:
        """Feed each game's cache the prompt characters it does not hold yet (sliding the window if needed)."""
        room = CHAR_MAX_CHARS + 2 if self.mode == "char" else MAX_SAN_CHARS + 2
        pending = []
        for g, prompt in zip(games, prompts):
            held = g.text
            if not prompt[g.window:].startswith(held):
                raise RuntimeError("game transcript diverged from the cached prefix (was a move taken back?)")
            if len(prompt) - g.window + room > self.max_len:
                g.window = _window_start(prompt, self.max_len // 2)
                g.text = ""
            pending.append(prompt[g.window + len(g.text):])
        self._feed(games, pending)

    def _feed(self, games: list[_Game], texts: list[str]) -> None:
        """Append `texts[i]` to game i's cache; updates its text and next-character log-probs.

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

    def _feed_pass(self, work: list[tuple[_Game, str]]) -> None:
        """One batched `extend` over games that all have room for the longest text in `work`."""
        longest = max(len(t) for _, t in work)
        # bucketed widths limit recompiles; padding must still fit: extend writes all T columns
        T = max(longest, min(_bucket(longest, 8), self.max_len - max(len(g.text) for g, _ in work)))
        G = _bucket(len(work))
        toks = np.zeros((G, T), np.int32)
        nvalid = np.ones(G, np.int32)
        slots = np.full(G, work[0][0].slot, np.int32)  # padding rows rewrite the first game's row identically
        lengths = np.full(G, len(work[0][0].text), np.int32)
        for r, (g, t) in enumerate(work):
            toks[r, :len(t)] = self.tok.encode(t)
            nvalid[r], slots[r], lengths[r] = len(t), g.slot, len(g.text)
        for r in range(len(work), G):
            toks[r], nvalid[r] = toks[0], nvalid[0]
        if lengths.max() + T > self.max_len:
            raise RuntimeError(f"cache overflow: {lengths.max()} + {T} > max_len {self.max_len}")
        logp, self.cache = self._extend_rows(self.state, self.cache, slots, lengths, toks, nvalid)
        logp = np.asarray(logp)
        for r, (g, t) in enumerate(work):
            g.text += t
            g.last_logp = logp[r]


def _window_start(prompt: str, keep: int) -> int:
    """Offset of the first move boundary (just after a space) that leaves at most `keep` characters."""
    cut = max(0, len(prompt) - keep)
    space = prompt.find(" ", cut)
    return cut if space < 0 else space + 1

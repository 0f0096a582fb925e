"""Move tokenizers: one token per move ("move"), optionally after each player's rating bucket ("move+elo").

Token ids (the same for both names; "move+elo" only adds the rating tokens at the end; a subclass that writes what
comes before each move, data_pipeline.board_tokenizer, puts its tokens between the moves and the ratings):

    0                 padding (PAD_ID; the loader pads with 0 under loss_mask 0)
    1                 game start (GAME_START_ID: the `;` of the character transcripts)
    2 .. 1969         the 1968 UCI moves in sorted UCI order (`a1a2`, `a1a3`, ..., `h8h7`): every from-to pair on a
                      queen line or a knight jump, plus the 176 promotions (`a7a8q`, ...) to n, b, r, q
    1970 .. 1996      move+elo: White's rating bucket, `w400`, `w500`, ..., `w3000`
    1997 .. 2023      move+elo: Black's rating bucket, `b400`, ..., `b3000`

A game is `[1] + rating ids (move+elo) + one id per move` (each move after its `position_ids`: none here). A rating
bucket is 100 Elo wide, named by its floor, with the rating clamped to [RATING_MIN, RATING_MAX] first (so `w3000` is
3000 and above, `w400` is 499 and below).
`decode` replays the moves with python-chess and writes the character transcripts' text: `;` at a game start, then
the rating tokens as a readable prefix `[w1500 b1400] `, then `1.e4 e5 2.Nf3 ...` (move numbers before White's
moves, canonical SAN with `+` and `#`). Lichess writes canonical SAN, so its transcripts come back byte for byte;
a PGN that writes, say, `Ngf3` where `Nf3` is unambiguous comes back as `Nf3`.
"""
from __future__ import annotations

import re

import chess
import numpy as np

PAD_ID = 0
GAME_START_ID = 1
MOVE_OFFSET = 2
RATING_MIN, RATING_MAX, RATING_STEP = 400, 3000, 100
RATING_BUCKETS = tuple(range(RATING_MIN, RATING_MAX + 1, RATING_STEP))
_PROMOTIONS = "nbrq"
_RATING_PREFIX = re.compile(rb"\[([^\]]*)\] ?")
_MOVE_NUMBER = re.compile(rb"^[0-9]+\.")


def _reachable(a: int, b: int) -> bool:
    """Is square b on a queen line or a knight jump from square a?"""
    df, dr = abs(chess.square_file(a) - chess.square_file(b)), abs(chess.square_rank(a) - chess.square_rank(b))
    return (df, dr) != (0, 0) and (df == 0 or dr == 0 or df == dr or {df, dr} == {1, 2})


def all_uci_moves() -> tuple[str, ...]:
    """The 1968 UCI moves of the vocabulary, in sorted UCI order."""
    moves = [chess.square_name(a) + chess.square_name(b) for a in chess.SQUARES for b in chess.SQUARES if _reachable(a, b)]
    for from_rank, to_rank in ((6, 7), (1, 0)):  # White's 7th to 8th, Black's 2nd to 1st: straight or capturing
        for f in range(8):
            for to_file in (f - 1, f, f + 1):
                if 0 <= to_file < 8:
                    uci = chess.square_name(chess.square(f, from_rank)) + chess.square_name(chess.square(to_file, to_rank))
                    moves += [uci + p for p in _PROMOTIONS]
    return tuple(sorted(moves))


UCI_MOVES = all_uci_moves()
MOVE_END = MOVE_OFFSET + len(UCI_MOVES)  # one past the last move id
_NO_TOKENS = np.zeros(0, np.uint16)


class MoveTokenizer:
    """One token per move; with `ratings`, each player's 100-Elo rating bucket after the game start.

    What a subclass writes before every move (`position_ids`, `position_width` tokens of `position_vocab`, ids from
    `position_offset` on) is given to the model, not predicted: `trains_on` weighs those targets 0.
    """

    kind = "move"
    base_name = "move"  # the registry name without "+elo"
    pad_id = PAD_ID
    game_start_id = GAME_START_ID
    token_dtype = np.uint16
    position_vocab: tuple[str, ...] = ()  # names of the tokens written before each move (none for "move")
    position_width = 0  # tokens written before each move
    position_order = ""  # how the manifest's vocab_order describes them

    def __init__(self, ratings: bool = False) -> None:
        self.name = f"{self.base_name}+elo" if ratings else self.base_name
        self.has_ratings = ratings
        self.position_offset = MOVE_END
        self.white_rating_offset = self.position_offset + len(self.position_vocab)
        self.black_rating_offset = self.white_rating_offset + len(RATING_BUCKETS)
        rating_names = [f"{side}{r}" for side in "wb" for r in RATING_BUCKETS] if ratings else []
        self.vocab: tuple[str, ...] = ("<pad>", ";", *UCI_MOVES, *self.position_vocab, *rating_names)
        self.vocab_size = len(self.vocab)
        ratings_order = (f", then White's rating buckets w{RATING_MIN}..w{RATING_MAX} and Black's b{RATING_MIN}.."
                         f"b{RATING_MAX} (100 Elo each, clamped)") if ratings else ""
        self.vocab_order = (f"0 padding, 1 game start, {MOVE_OFFSET}.. the {len(UCI_MOVES)} UCI moves in sorted UCI "
                            f"order (queen lines and knight jumps, plus promotions){self.position_order}{ratings_order}")
        self._rating_id = {name: i for i, name in enumerate(self.vocab) if i >= self.white_rating_offset}
        self._moves = [chess.Move.from_uci(u) for u in UCI_MOVES]
        # (from, to, promotion piece type or 0) -> token id; -1 where no vocabulary move exists
        self._id_table = np.full((64, 64, 7), -1, np.int32)
        for i, m in enumerate(self._moves):
            self._id_table[m.from_square, m.to_square, m.promotion or 0] = MOVE_OFFSET + i

    # ---- single tokens ----

    def move_id(self, move: chess.Move) -> int:
        """The token id of a move; ValueError for a move outside the vocabulary (a null move, a drop)."""
        token = int(self._id_table[move.from_square, move.to_square, move.promotion or 0]) if not move.drop else -1
        if token < 0:
            raise ValueError(f"move {move.uci()!r} is not in the {self.name} vocabulary of {len(UCI_MOVES)} UCI moves")
        return token

    def move_of(self, token_id: int) -> chess.Move:
        """The move a token id stands for; ValueError for an id that is not a move."""
        if not MOVE_OFFSET <= token_id < MOVE_END:
            raise ValueError(f"token id {token_id} is not a move of tokenizer {self.name} "
                             f"(moves are ids {MOVE_OFFSET}..{MOVE_END - 1})")
        return self._moves[token_id - MOVE_OFFSET]

    def legal_move_ids(self, board: chess.Board) -> np.ndarray:
        """int32 ids of the board's legal moves, ascending (ids follow sorted UCI order, so this is that order too)."""
        table = self._id_table
        ids = [table[m.from_square, m.to_square, m.promotion or 0] for m in board.legal_moves]
        return np.sort(np.asarray(ids, dtype=np.int32))

    def rating_ids(self, white_elo: int, black_elo: int) -> list[int]:
        """[White's bucket id, Black's bucket id] for move+elo; [] for move."""
        if not self.has_ratings:
            return []
        return [self.white_rating_offset + _bucket(white_elo), self.black_rating_offset + _bucket(black_elo)]

    def position_ids(self, board: chess.Board) -> list[int]:
        """The tokens written before the move played in `board` ([] for "move": the model reads only the moves)."""
        return self._position_array(board).tolist()

    def trains_on(self, targets: np.ndarray) -> np.ndarray | None:
        """A 0/1 float32 weight per target token (the loader multiplies its loss_mask by it); None: every token."""
        return None

    def _position_array(self, board: chess.Board) -> np.ndarray:
        return _NO_TOKENS

    # ---- whole games ----

    def encode_game(self, transcript: bytes, white_elo: int, black_elo: int) -> np.ndarray:
        """One game as records store it: game start, rating ids (+elo), then each move after its position_ids."""
        moves = self._encode_moves(transcript, 1)
        return np.concatenate([np.asarray([GAME_START_ID, *self.rating_ids(white_elo, black_elo)], self.token_dtype), moves])

    def encode_bytes(self, text: bytes) -> np.ndarray:
        """Transcript text (`;1.e4 e5 ...`, games separated by `;`, a `[w1500 b1400] ` prefix after a `;` for
        move+elo) -> uint16 ids; text before the first `;` is moves from the start position. ValueError naming
        the game, the ply and the move when a SAN move does not parse or is illegal."""
        pieces = text.split(b";")
        out: list[np.ndarray] = [self._encode_moves(pieces[0], 1)] if pieces[0] else []
        for number, piece in enumerate(pieces[1:], start=1):
            prefix = _RATING_PREFIX.match(piece)
            ratings = self._parse_ratings(prefix.group(1)) if prefix else []
            out.append(np.asarray([GAME_START_ID, *ratings], self.token_dtype))
            out.append(self._encode_moves(piece[prefix.end():] if prefix else piece, number))
        return np.concatenate(out) if out else np.zeros(0, self.token_dtype)

    def encode(self, text: str) -> np.ndarray:
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError as e:
            raise ValueError(f"non-ASCII symbol {text[e.start]!r} cannot be part of a transcript for tokenizer "
                             f"{self.name}") from e
        return self.encode_bytes(raw)

    def decode(self, ids: np.ndarray | list[int]) -> str:
        """Ids -> transcript text (module docstring); padding is skipped. ValueError for an illegal move or an id
        outside the vocabulary, naming the ply."""
        games: list[str] = []
        ratings: list[str] = []  # the game being decoded: its rating tokens' names, its moves as written
        sans: list[str] = []
        board, started = chess.Board(), False
        for token in np.asarray(ids, dtype=np.int64).tolist():
            if token == PAD_ID:
                continue
            if token == GAME_START_ID:
                if started or sans or ratings:
                    games.append(_game_text(started, ratings, sans))
                board, started, ratings, sans = chess.Board(), True, [], []
            elif MOVE_OFFSET <= token < MOVE_END:
                sans.append(self._replay(board, self._moves[token - MOVE_OFFSET], len(sans)))
            elif self.position_offset <= token < self.white_rating_offset:
                continue  # what is written before a move follows from the moves: no text of its own
            elif self.white_rating_offset <= token < self.vocab_size and not sans:
                ratings.append(self.vocab[token])
            else:
                raise ValueError(f"token id {token} after ply {len(sans)} is not a move, rating or game start of "
                                 f"tokenizer {self.name} (vocabulary size {self.vocab_size}; ratings come before moves)")
        if started or sans or ratings:
            games.append(_game_text(started, ratings, sans))
        return "".join(games)

    def decode_transcript(self, ids: np.ndarray | list[int]) -> str:
        """The transcript of the one game `ids` holds, as `encode_game` was given it (no game start, no ratings)."""
        arr = np.asarray(ids, dtype=np.int64)
        return self.decode(arr[(arr >= MOVE_OFFSET) & (arr < MOVE_END)])

    # ---- helpers ----

    def _encode_moves(self, text: bytes, game: int) -> np.ndarray:
        """`1.e4 e5 2.Nf3 ...` (move numbers are dropped, not checked) -> each move's position ids, then its id,
        replayed from the start position."""
        board, table, width = chess.Board(), self._id_table, self.position_width
        ids = np.empty((text.count(b" ") + 1 if text else 0) * (width + 1), self.token_dtype)
        for ply, token in enumerate(text.split(b" ") if text else []):
            san = _MOVE_NUMBER.sub(b"", token).decode("ascii")
            try:
                move = board.parse_san(san)
                if not move:  # python-chess reads `--` and `Z0` as a null move
                    raise ValueError(f"null move {san!r}")
            except ValueError as e:
                where = f"game {game}, " if game > 1 else ""
                raise ValueError(f"{where}ply {ply + 1}: move {san!r} does not replay ({e}): fix or drop this game; "
                                 f"tokenizer {self.name} needs legal SAN moves from the start position") from None
            at = ply * (width + 1)
            ids[at:at + width] = self._position_array(board)
            ids[at + width] = table[move.from_square, move.to_square, move.promotion or 0]
            board.push(move)
        return ids

    def _parse_ratings(self, prefix: bytes) -> list[int]:
        """`w1500 b1400` -> their ids; ValueError for a name that is no rating token of this tokenizer."""
        names = prefix.decode("ascii").split()
        unknown = [n for n in names if n not in self._rating_id]
        if unknown:
            known = f"w{RATING_MIN}..w{RATING_MAX}, b{RATING_MIN}..b{RATING_MAX} in steps of {RATING_STEP}"
            raise ValueError(f"rating prefix [{prefix.decode('ascii')}]: {unknown[0]!r} is not a rating token of "
                             f"tokenizer {self.name} ({'known: ' + known if self.has_ratings else 'it has none; use move+elo'})")
        return [self._rating_id[n] for n in names]

    def _replay(self, board: chess.Board, move: chess.Move, ply: int) -> str:
        """Push `move` and return how the transcript writes it (`1.e4` for White, `e5` for Black)."""
        if not board.is_legal(move):
            raise ValueError(f"ply {ply + 1}: move {move.uci()} is illegal in {board.fen()}: a move token sequence "
                             f"must replay from the start position")
        san = board.san(move)
        board.push(move)
        return f"{ply // 2 + 1}.{san}" if ply % 2 == 0 else san


def _bucket(elo: int) -> int:
    """A rating's bucket index: its 100-Elo floor after clamping to [RATING_MIN, RATING_MAX]."""
    return (min(max(int(elo), RATING_MIN), RATING_MAX) - RATING_MIN) // RATING_STEP


def _game_text(started: bool, ratings: list[str], sans: list[str]) -> str:
    prefix = f"[{' '.join(ratings)}]" if ratings else ""
    return (";" if started else "") + " ".join(p for p in (prefix, " ".join(sans)) if p)

"""Tokenizers: the paper's 32-symbol character vocabulary, and the registry that also knows the move and board
tokenizers."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import chess
import numpy as np

from data_pipeline.board_tokenizer import BoardTokenizer
from data_pipeline.move_tokenizer import MoveTokenizer

# The paper's vocabulary; a token id is the symbol's position in this string.
CHAR32_VOCAB = " #+-.0123456789;=BKNOQRabcdefghx"
GAME_START = ";"


class Tokenizer(Protocol):
    """What the build, loader, model and evaluation need from a tokenizer (CharTokenizer, MoveTokenizer,
    BoardTokenizer)."""

    name: str
    kind: str  # "char": one token per transcript character; "move": one token per move
    vocab_size: int
    game_start_id: int
    pad_id: int
    token_dtype: type[np.unsignedinteger]  # what records store each token as: uint8 (char32) or uint16 (move)
    has_ratings: bool  # True when encode_game writes each player's rating tokens after the game start

    @property
    def vocab(self) -> Sequence[str]: ...  # token id -> its symbol (char) or name (move: `e2e4`, `w1500`)

    def encode(self, text: str) -> np.ndarray: ...

    def decode(self, ids: np.ndarray | list[int]) -> str: ...

    def encode_bytes(self, text: bytes) -> np.ndarray: ...

    def encode_game(self, transcript: bytes, white_elo: int, black_elo: int) -> np.ndarray: ...

    def decode_transcript(self, ids: np.ndarray | list[int]) -> str: ...

    def position_ids(self, board: chess.Board) -> list[int]: ...  # written before each move ([] but for "board")

    def trains_on(self, targets: np.ndarray) -> np.ndarray | None: ...  # 0/1 weight per target; None: every token


class CharTokenizer:
    """One token per character of the transcript; `;` opens every game."""

    kind = "char"
    pad_id = 0  # the loader's padding id (a space in char32), never counted: loss_mask is 0 there
    token_dtype = np.uint8
    has_ratings = False

    def __init__(self, vocab: str = CHAR32_VOCAB, name: str = "char32") -> None:
        if len(set(vocab)) != len(vocab):
            raise ValueError(f"tokenizer {name!r}: vocabulary has repeated symbols")
        self.name = name
        self.vocab = vocab
        self.vocab_size = len(vocab)
        self.game_start_id = vocab.index(GAME_START)
        # 256-entry byte table: symbol byte -> id, everything else -> 255 (outside the vocabulary).
        table = np.full(256, 255, dtype=np.uint8)
        for i, ch in enumerate(vocab.encode("ascii")):
            table[ch] = i
        self._byte_to_id = table
        self._translate = bytes(table.tolist())
        self._id_to_byte = np.frombuffer(vocab.encode("ascii"), dtype=np.uint8)

    def encode_bytes(self, text: bytes) -> np.ndarray:
        """Bytes -> uint8 ids. Raises ValueError naming the first symbol outside the vocabulary."""
        ids = np.frombuffer(text.translate(self._translate), dtype=np.uint8)
        bad = np.flatnonzero(ids == 255)
        if bad.size:
            ch = chr(text[bad[0]])
            raise ValueError(f"{ch!r} at position {bad[0]} is outside the {self.name} vocabulary {self.vocab!r}")
        return ids

    def encode(self, text: str) -> np.ndarray:
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError as e:
            raise ValueError(f"non-ASCII symbol {text[e.start]!r} is outside the {self.name} vocabulary") from e
        return self.encode_bytes(raw)

    def decode(self, ids: np.ndarray | list[int]) -> str:
        arr = np.asarray(ids, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            raise ValueError(f"token id outside [0, {self.vocab_size}) for tokenizer {self.name}")
        return self._id_to_byte[arr].tobytes().decode("ascii")

    def encode_game(self, transcript: bytes, white_elo: int, black_elo: int) -> np.ndarray:
        """One game as records store it: `;` + transcript (the ratings are not part of a character game)."""
        return self.encode_bytes(GAME_START.encode("ascii") + transcript)

    def decode_transcript(self, ids: np.ndarray | list[int]) -> str:
        """The transcript of the one game `ids` holds, as `encode_game` was given it (without its leading `;`)."""
        text = self.decode(ids)
        return text[1:] if text.startswith(GAME_START) else text

    def position_ids(self, board: chess.Board) -> list[int]:
        """Nothing: a character transcript writes only the moves."""
        return []

    def trains_on(self, targets: np.ndarray) -> None:
        """None: every target character counts."""
        return None


_TOKENIZERS: dict[str, Callable[[], Tokenizer]] = {
    "char32": CharTokenizer,
    "move": MoveTokenizer,
    "move+elo": lambda: MoveTokenizer(ratings=True),
    "board": BoardTokenizer,
    "board+elo": lambda: BoardTokenizer(ratings=True),
}

TOKENIZER_NAMES = tuple(_TOKENIZERS)


def get_tokenizer(name: str = "char32") -> Tokenizer:
    """Look a tokenizer up by the name stored in manifests and run configs."""
    try:
        make = _TOKENIZERS[name]
    except KeyError:
        raise ValueError(f"unknown tokenizer {name!r}; known: {sorted(_TOKENIZERS)}") from None
    return make()

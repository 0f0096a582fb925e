"""PGN -> normalized games -> tokens -> ArrayRecord shards -> Grain batches.

The public face that `jaxformer` may import: the tokenizer, the manifest and the loader. Nothing here imports
`jaxformer`. Heavy modules (grain) load only when the loader is first used.
"""
from typing import TYPE_CHECKING

from data_pipeline.board_tokenizer import BoardTokenizer
from data_pipeline.move_tokenizer import MOVE_OFFSET, RATING_MAX, RATING_MIN, UCI_MOVES, MoveTokenizer
from data_pipeline.shards import read_manifest
from data_pipeline.tokenizer import (
    CHAR32_VOCAB,
    TOKENIZER_NAMES,
    CharTokenizer,
    Tokenizer,
    get_tokenizer,
)

__all__ = ["CHAR32_VOCAB", "MOVE_OFFSET", "RATING_MAX", "RATING_MIN", "TOKENIZER_NAMES", "UCI_MOVES", "BoardTokenizer",
           "CharTokenizer", "LoaderSpec", "MoveTokenizer", "Tokenizer", "get_tokenizer", "make_dataset", "read_manifest"]

if TYPE_CHECKING:  # loaded lazily at run time (grain is heavy); named here for type checkers
    from data_pipeline.loader import LoaderSpec, make_dataset


def __getattr__(name: str) -> object:
    if name in ("LoaderSpec", "make_dataset"):
        from data_pipeline import loader

        return getattr(loader, name)
    raise AttributeError(f"module 'data_pipeline' has no attribute {name!r}")

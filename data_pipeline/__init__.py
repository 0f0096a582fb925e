"""PGN -> normalized games -> tokens -> ArrayRecord shards -> Grain batches.

The public face that `jaxformer` may import: the tokenizer and the loader. Nothing here imports `jaxformer`.
"""
from data_pipeline.tokenizer import CHAR32_VOCAB, CharTokenizer, Tokenizer, get_tokenizer

__all__ = ["CHAR32_VOCAB", "CharTokenizer", "Tokenizer", "get_tokenizer"]

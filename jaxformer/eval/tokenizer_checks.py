"""What a run's tokenizer allows at evaluation: rating conditioning (`--as-rating R`) and the sampling mode.

A "+elo" tokenizer writes both players' rating tokens after the game start, so its model's moves depend on
them; at evaluation both are R (the model plays as, and against, a player rated R). A model trained without
rating tokens cannot be conditioned, and a "+elo" model must be: its prompt is incomplete without ratings.
A move tokenizer writes one token per move, so there are no characters to sample (char mode, the paper's
protocol). Checked here once, for the eval worker, the notebook API and the UCI engine; light (no JAX),
so they can refuse before they load a model.
"""
from __future__ import annotations


def check_as_rating(tokenizer, as_rating: int | None) -> None:
    """A clear ValueError when `as_rating` does not fit the tokenizer (see the module docstring)."""
    if as_rating is not None and not tokenizer.has_ratings:
        raise ValueError(f"--as-rating {as_rating}: this run's tokenizer {tokenizer.name!r} has no rating conditioning "
                         "(no rating tokens in its input), so it cannot be asked to play at a rating; drop "
                         "--as-rating, or train on a '+elo' tokenizer (`transcend data build --tokenizer move+elo`)")
    if as_rating is None and tokenizer.has_ratings:
        raise ValueError(f"this run's tokenizer {tokenizer.name!r} conditions the model on the players' ratings, and "
                         "no rating was given: pass --as-rating R (as_rating=R in the Python API), the Elo the model "
                         "should play as, e.g. --as-rating 1500")


def check_mode(tokenizer, mode: str) -> None:
    """A clear ValueError for char mode (or the paper's protocol, which samples characters) on a move tokenizer."""
    if tokenizer.kind == "move" and mode != "move":
        raise ValueError(f"mode {mode!r} (--mode char, or --protocol paper, which samples characters): this run's "
                         f"tokenizer {tokenizer.name!r} writes one token per move, so there are no characters to "
                         "sample; evaluate it in move mode (--protocol fixed, the default)")

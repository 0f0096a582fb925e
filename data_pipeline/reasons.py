"""Why a game is skipped: every reason the build counts, each a named code defined once.

The whole-chunk checks in `filters` and `normalize` keep one int8 code per game; the build counts skipped games
under the reason's name (`manifest["counts"]["rejected"]["outside_vocab"]`). A code is looked up by name here,
never by its position in some tuple, so adding or reordering reasons cannot relabel another one.
"""
from __future__ import annotations

import enum

KEPT = 0  # the code of a game no check rejected


class Reason(enum.IntEnum):
    """Skip reasons; a member's name is the key the manifest counts it under, its value the code arrays hold."""

    # From the headers (filters.check_headers / check_games), in the order HEADER_REASONS lists them.
    variant = 1  # not standard chess
    fen_start = 2  # starts from a set-up position
    unfinished = 3  # Result "*"
    bad_result = 4  # Result missing or not 1-0 / 0-1 / 1/2-1/2
    bad_rating = 5  # WhiteElo or BlackElo missing, not a number, or above filters.MAX_RATING
    filtered_time_control = 6  # --time-control
    casual = 19  # Event says Casual or Unrated: skipped unless --include-casual (a later code, checked here)
    filtered_unrated = 7  # --rated-only: the Event says neither Rated nor Casual (missing, "?", other text)
    filtered_bot = 8  # --exclude-bots
    filtered_termination = 9  # --termination
    # From the movetext (normalize.normalize_movetexts).
    outside_vocab = 10  # a symbol outside the tokenizer's vocabulary survives cleaning
    empty_movetext = 11  # no move at all
    unparsable_movetext = 12  # not SAN moves alternating after `N.` numbers
    bad_move_numbers = 13  # move numbers do not count 1, 2, 3, ...
    # From the build itself (build.process_chunk, build.iter_chunks).
    duplicate = 14  # a Lichess game id met earlier in the build
    filtered_min_plies = 15  # --min-plies
    illegal_move = 16  # --validate: python-chess cannot replay it
    truncated_stream = 17  # the partial game where a compressed source broke off
    control_byte = 18  # a NUL or other control byte in the game's text: damage (data_pipeline.control)


HEADER_REASONS = (Reason.variant, Reason.fen_start, Reason.unfinished, Reason.bad_result, Reason.bad_rating,
                  Reason.filtered_time_control, Reason.casual, Reason.filtered_unrated, Reason.filtered_bot,
                  Reason.filtered_termination)
MOVETEXT_REASONS = (Reason.outside_vocab, Reason.empty_movetext, Reason.unparsable_movetext, Reason.bad_move_numbers)

# code -> name for the per-game loops that turn code arrays into names; built from the enum, so it cannot disagree.
NAME_OF_CODE: dict[int, str | None] = {KEPT: None, **{r.value: r.name for r in Reason}}

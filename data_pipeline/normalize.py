"""PGN text -> games -> the paper's transcripts (`1.e4 e5 2.Nf3 Nc6 ...`), a whole chunk of games at a time.

Speed comes from working on many games at once: movetexts are joined into one buffer (games separated by
NUL) and cleaned by bytes.translate/replace, a NumPy mask for comments, and a few compiled regexes, so
Python touches each game only a few times (about 13 us a game on the shared sample, vs ~1.4 ms for
`chess.pgn.read_game`). Nothing here replays moves; `validate_transcript` (python-chess) is the optional
slow check behind `--validate`.
"""
from __future__ import annotations

import re

import numpy as np

from data_pipeline.tokenizer import CHAR32_VOCAB

SEP = b"\x00"  # separates games in a joined buffer; never occurs in PGN text
_PARAGRAPHS = re.compile(rb"\n[ \t\r]*\n\s*")
_BLANK_LINE = re.compile(rb"\n[ \t]+(?=\n)")
_GAME_START = re.compile(rb"\n\n+(?=\[)")
_TAG = re.compile(rb'\[(\w+)\s+"([^"\n]*)"\s*\]')
_LINE_COMMENT = re.compile(rb";[^\n\x00]*")
_WS_TO_SPACE = bytes.maketrans(b"\n\r\t\f\v", b"     ")
_BRACE_COMMENT = re.compile(rb"\{[^}\x00]*\}")
_VARIATION = re.compile(rb"\([^()\x00]*\)")  # innermost first; repeated for nesting
_NAG = re.compile(rb"\$\d+")
_BLACK_MOVE_NUMBER = re.compile(rb"\d+\.\.\. ?")
_SPACES = re.compile(rb"  +")
_RESULTS = (b"1-0", b"0-1", b"1/2-1/2", b"*")
_REASONS = (None, "outside_vocab", "empty_movetext", "unparsable_movetext", "bad_move_numbers")
_MAX_VARIATION_DEPTH = 64

# One SAN move: pawn move (capture, promotion), piece move (with disambiguation), or castling; then an
# optional check/mate sign. Alternatives are ordered by frequency: this regex is the costliest step.
_SAN = (rb"(?:[a-h](?:[1-8](?:=[NBRQ])?|x[a-h][1-8](?:=[NBRQ])?)"
        rb"|[NBRQK](?:[a-h][1-8]|x[a-h][1-8]|[a-h1-8]x?[a-h][1-8]|[a-h][1-8]x?[a-h][1-8])|O-O(?:-O)?)[+#]?")
# Move numbers before every White move only, strictly alternating White/Black; a NUL after each game.
# Possessive repeats: each White-Black-number step is self-delimiting, so the engine never needs to backtrack.
_GAME = re.compile(rb"(?:1\." + _SAN + rb"(?: " + _SAN + rb" [1-9]\d*\." + _SAN + rb")*+(?: " + _SAN + rb")?+)?+\x00")
_VOCAB_BYTES = CHAR32_VOCAB.encode("ascii")


def split_games(text: bytes) -> tuple[list[tuple[bytes, bytes]], int]:
    """Cut PGN text into (header block, movetext) pairs; also returns how many garbage paragraphs were dropped.

    A blank line followed by `[` starts a game; its first blank line separates headers from movetext. Text
    outside any game, or after a movetext that already ended with a result, counts as garbage.
    """
    if b"\r" in text:
        text = text.replace(b"\r\n", b"\n")
    if b"\n \n" in text or b"\n\t" in text:
        text = _BLANK_LINE.sub(b"\n\n", text)
    games: list[tuple[bytes, bytes]] = []
    garbage = 0
    for piece in _GAME_START.split(text.strip()):
        head, _, rest = piece.partition(b"\n\n")
        if head[:1] != b"[":
            garbage += len(_paragraphs(piece))
        elif head.count(b"\n") != head.count(b"\n[") or b"\n\n" in rest:
            garbage += _split_slow(piece, games)
        else:
            games.append((head, rest))
    return games, garbage


def _paragraphs(text: bytes) -> list[bytes]:
    return [p for p in _PARAGRAPHS.split(text) if p.strip()]


def _split_slow(piece: bytes, games: list[tuple[bytes, bytes]]) -> int:
    """One game with movetext glued to its headers, or extra paragraphs after it; returns garbage paragraphs."""
    paras = _paragraphs(piece)
    lines = paras[0].split(b"\n")
    n = next((i for i, line in enumerate(lines) if not line.startswith(b"[")), len(lines))
    head, movetext = b"\n".join(lines[:n]), b"\n".join(lines[n:])
    garbage = 0
    for para in paras[1:]:
        if not movetext:
            movetext = para
        elif not ends_with_result(movetext):
            movetext += b"\n" + para
        else:
            garbage += 1
    games.append((head, movetext))
    return garbage


def ends_with_result(movetext: bytes) -> bool:
    """True when the text's last token is a game result (the game is complete)."""
    return movetext.rstrip().endswith((b"1-0", b"0-1", b"1/2-1/2", b"*"))


def parse_headers(header_block: bytes) -> dict[bytes, bytes]:
    """`[Tag "value"]` lines -> {tag: value} (bytes; a repeated tag keeps its last value)."""
    return dict(_TAG.findall(header_block))


def normalize_movetexts(movetexts: list[bytes]) -> list[tuple[bytes | None, str | None, int]]:
    """Clean many movetexts at once -> one (transcript, reject_reason, plies) per input, in order.

    A transcript is `1.e4 e5 2.Nf3 ...`: no comments, clocks, NAGs, `!?` annotations, variations, Black move
    numbers or result; `+`, `#`, `=Q`, `O-O(-O)` kept. Reasons: `empty_movetext`, `outside_vocab`,
    `unparsable_movetext` (not SAN moves alternating after `N.` numbers), `bad_move_numbers`.
    """
    if not movetexts:
        return []
    buf = SEP + SEP.join(movetexts) + SEP
    if b";" in buf:
        buf = _LINE_COMMENT.sub(b"", buf)  # PGN rest-of-line comments, before newlines become spaces
    buf = buf.translate(_WS_TO_SPACE, b"!?")  # `!`/`?` annotations deleted in the same C pass
    if b"{" in buf or b"..." in buf:
        buf = _strip_comments(buf)
    for _ in range(_MAX_VARIATION_DEPTH):
        if b"(" not in buf:
            break
        new = _VARIATION.sub(b" ", buf)
        if new == buf:  # an unbalanced parenthesis: that game fails the grammar check below
            break
        buf = new
    if b"$" in buf:
        buf = _NAG.sub(b"", buf)
    if b"  " in buf:
        buf = _SPACES.sub(b" ", buf)
    # After the steps above every remaining `.` ends a White move number: `12. Nf3` -> `12.Nf3`.
    buf = buf.replace(b". ", b".").replace(b" \x00", b"\x00").replace(b"\x00 ", b"\x00")
    for result in _RESULTS:  # the result token ends the movetext: drop it (plain replaces, no regex scan)
        buf = buf.replace(b" " + result + b"\x00", b"\x00")
    joined = buf[1:]  # every game ends with SEP
    transcripts = joined[:-1].split(SEP)
    if len(transcripts) != len(movetexts):
        raise ValueError("a movetext contained a NUL byte")
    return _check(joined, transcripts)


def _strip_comments(buf: bytes) -> bytes:
    """Delete `{...}` comments and `N...` Black move numbers, each with the space after it.

    Lichess dumps carry a clock comment after every move and a Black move number after each of those, so this
    is the costliest step on real data; a NumPy mask does it in a few passes over the bytes instead of one
    regex replacement per comment. Braces that nest, don't pair up, or span two games fall back to regexes
    (which leave an unclosed `{` for the vocabulary check to reject).
    """
    a = np.frombuffer(buf, np.uint8)
    opens, closes = np.flatnonzero(a == ord("{")), np.flatnonzero(a == ord("}"))
    if opens.size != closes.size or not (opens < closes).all() or not (closes[:-1] < opens[1:]).all():
        return _BLACK_MOVE_NUMBER.sub(b"", _BRACE_COMMENT.sub(b" ", buf))
    padded = np.concatenate([np.zeros(8, np.uint8), a, np.zeros(8, np.uint8)])  # index i of `a` is i + 8 here
    # A comment between spaces takes the space after it along, leaving one separator: `e4 { c } e5` -> `e4 e5`.
    comment_ends = closes + 1 + ((padded[opens + 7] == ord(" ")) & (padded[closes + 9] == ord(" ")))
    # Black move numbers: a run of digits, then `...`, then an optional space.
    dots3 = np.flatnonzero((a[:-2] == ord(".")) & (a[1:-1] == ord(".")) & (a[2:] == ord(".")))
    starts = dots3.copy()
    for _ in range(6):
        prev = padded[starts + 7]
        starts -= (prev >= ord("0")) & (prev <= ord("9")) & (starts > 0)
    ends = dots3 + 3 + (padded[dots3 + 11] == ord(" "))
    # Span starts and ends in separate arrays: a start may sit where another span ends ("}{"). Within each
    # array positions are distinct: a `{` vs a digit/`.`; the byte after `}`/`} ` vs after `...`/`... `.
    begin, finish = np.zeros(a.size + 1, np.int8), np.zeros(a.size + 1, np.int8)
    begin[opens] = 1
    begin[starts] = 1
    finish[comment_ends] = 1
    finish[ends] = 1
    deleted = np.cumsum(begin[:-1] - finish[:-1], dtype=np.int8) != 0
    if deleted[np.flatnonzero(a == 0)].any():
        return _BLACK_MOVE_NUMBER.sub(b"", _BRACE_COMMENT.sub(b" ", buf))
    return a[~deleted].tobytes()


def _check(joined: bytes, transcripts: list[bytes]) -> list[tuple[bytes | None, str | None, int]]:
    """Vocabulary, grammar and move numbers of all games at once (NumPy over the joined bytes)."""
    n = len(transcripts)
    a = np.frombuffer(joined, np.uint8)
    ends = np.flatnonzero(a == 0)
    starts = np.concatenate([[0], ends[:-1] + 1])
    reason = np.zeros(n, np.int8)  # index into _REASONS; 0 = kept
    if joined.translate(None, _VOCAB_BYTES + SEP) or b";" in joined:
        for i, t in enumerate(transcripts):
            if t.translate(None, _VOCAB_BYTES) or b";" in t:
                reason[i] = 1
    matched = np.isin(starts, np.fromiter((m.start() for m in _GAME.finditer(joined)), np.int64))
    reason[(reason == 0) & (ends == starts)] = 2
    for i in np.flatnonzero((reason == 0) & ~matched).tolist():
        reason[i] = 2 if transcripts[i] in _RESULTS else 3  # a movetext that is only a result is empty
    # Move numbers: the digits before each `.`, which must count 1, 2, 3, ... within each game.
    dots = np.flatnonzero(a == ord("."))
    dots_per_game = np.diff(np.searchsorted(dots, ends), prepend=0)
    game_of_dot = np.repeat(np.arange(n), dots_per_game)
    value = np.zeros(dots.size, np.int64)
    scale, digits_left = 1, np.ones(dots.size, bool)
    padded = np.concatenate([np.zeros(8, np.uint8), a])
    for k in range(1, 7):
        c = padded[dots + 8 - k].astype(np.int64)
        digits_left &= (c >= 48) & (c <= 57)
        value += np.where(digits_left, (c - 48) * scale, 0)
        scale *= 10
    rank = np.arange(dots.size) - np.repeat(np.cumsum(dots_per_game) - dots_per_game, dots_per_game) + 1
    bad = np.zeros(n, bool)
    bad[game_of_dot[value != rank]] = True
    reason[(reason == 0) & bad] = 4
    spaces = np.diff(np.searchsorted(np.flatnonzero(a == ord(" ")), ends), prepend=0)
    return [(t, None, p) if r == 0 else (None, _REASONS[r], 0)
            for t, r, p in zip(transcripts, reason.tolist(), (spaces + 1).tolist())]


def normalize_movetext(movetext: bytes | str) -> bytes:
    """One game's movetext -> transcript; raises ValueError with the reason (for tests and small tools)."""
    raw = movetext.encode() if isinstance(movetext, str) else movetext
    transcript, reason, _ = normalize_movetexts([raw])[0]
    if reason is not None:
        raise ValueError(f"{reason}: {raw[:80]!r}")
    return transcript


def validate_transcript(transcript: bytes) -> bool:
    """Replay with python-chess (about 4 ms a game): True when every move is legal from the start position."""
    import chess

    board = chess.Board()
    try:
        for tok in transcript.decode("ascii").split(" "):
            board.push_san(tok.split(".", 1)[1] if "." in tok else tok)
    except ValueError:
        return False
    return True

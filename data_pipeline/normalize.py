"""PGN text -> games -> the paper's transcripts (`1.e4 e5 2.Nf3 Nc6 ...`), a whole chunk of games at a time.

Speed comes from working on many games at once: movetexts are joined into cache-sized buffers (games separated
by NUL) and cleaned by bytes.translate/replace and NumPy masks (comments, Black move numbers, edge spaces and
results); the SAN grammar is checked per token through a perfect-hash table of move shapes, and only games that
table cannot vouch for meet the `_GAME` regex, whose verdict is the definition. Python touches each game only a
few times (about 8 us a game on the shared sample, vs ~1 ms for `chess.pgn.read_game`). Nothing here replays
moves; `validate_transcript` (python-chess) is the optional slow check behind `--validate`.
"""
from __future__ import annotations

import re

import numpy as np

from data_pipeline.reasons import KEPT, NAME_OF_CODE, Reason
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
_MAX_VARIATION_DEPTH = 64
GAMES_PER_BATCH = 2048  # games cleaned together: large enough to amortize each pass, small enough to stay in cache

# One SAN move: pawn move (capture, promotion), piece move (with disambiguation), or castling; then an
# optional check/mate sign. Piece moves try the longest form first: the possessive repeats below never
# backtrack into a finished move, so `Qg1h2` must not stop at `Qg1`.
SAN = (rb"(?:[a-h](?:[1-8](?:=[NBRQ])?|x[a-h][1-8](?:=[NBRQ])?)"
        rb"|[NBRQK](?:[a-h][1-8]x?[a-h][1-8]|[a-h1-8]x?[a-h][1-8]|x[a-h][1-8]|[a-h][1-8])|O-O(?:-O)?)[+#]?")
# Move numbers before every White move only, strictly alternating White/Black; a NUL after each game.
# Possessive repeats: each White-Black-number step is self-delimiting, so the engine never needs to backtrack.
_GAME = re.compile(rb"(?:1\." + SAN + rb"(?: " + SAN + rb" [1-9]\d*\." + SAN + rb")*+(?: " + SAN + rb")?+)?+\x00")
_VOCAB_BYTES = CHAR32_VOCAB.encode("ascii")


def _shape_table() -> bytes:
    """Byte -> its class in the SAN grammar: a-h -> a, 1-8 -> 1, NBRQ -> N; separators and other SAN/number
    symbols stay; anything else -> `?`. A token's shape decides exactly whether `SAN` accepts it."""
    table = bytearray(b"?" * 256)
    for ch in b" \x00#+-.09=KOx":
        table[ch] = ch
    for chars, cls in ((b"abcdefgh", b"a"), (b"12345678", b"1"), (b"NBRQ", b"N")):
        for ch in chars:
            table[ch] = cls[0]
    return bytes(table)


def token_shapes() -> list[bytes]:
    """Every shape `SAN` accepts, and those of move numbers `[1-9]\\d*.` up to 4 digits (longer: regex path)."""
    pieces = [p + body for p in (b"N", b"K")
              for body in (b"a1", b"xa1", b"aa1", b"1a1", b"axa1", b"1xa1", b"a1a1", b"a1xa1")]
    sans = [m + c for m in [b"a1", b"a1=N", b"axa1", b"axa1=N", *pieces, b"O-O", b"O-O-O"] for c in (b"", b"+", b"#")]
    numbers = [[b"1", b"9"]]  # shapes of the first digit: 1-8 -> 1, 9; never 0
    for _ in range(3):
        numbers.append([n + d for n in numbers[-1] for d in (b"1", b"9", b"0")])
    return sans + [n + b"." for group in numbers for n in group]


def _perfect_hash(words: list[int], bits: int = 12) -> tuple[int, np.ndarray]:
    """A multiplier that sends every word to its own slot of a 2**bits table; empty slots hold a non-word."""
    for i in range(10_000):
        mult = (0x9E3779B97F4A7C15 + 2 * i) % (1 << 64)
        slots = {(w * mult) % (1 << 64) >> (64 - bits) for w in words}
        if len(slots) == len(words):
            table = np.full(1 << bits, np.iinfo(np.uint64).max, np.uint64)  # 0xFF bytes never occur in a shape
            for w in words:
                table[(w * mult) % (1 << 64) >> (64 - bits)] = w
            return mult, table
    raise RuntimeError("no perfect hash found for the SAN shape table")  # a few tries suffice for ~150 words


_SHAPE = _shape_table()
_SHAPE_MULT, _SHAPE_TABLE = _perfect_hash([int.from_bytes(s, "little") for s in token_shapes()])
_SHAPE_SHIFT = np.uint64(64 - 12)
# Low `length` bytes of a little-endian word; tokens of 8+ bytes get 0, which is no shape.
_LENGTH_MASK = np.array([(1 << 8 * n) - 1 for n in range(8)] + [0], np.uint64)


def token_shape(token: bytes) -> bytes:
    """The token's shape (`Nf3` -> `Na1`): `SAN` accepts a token exactly when its shape is in `token_shapes()`."""
    return token.translate(_SHAPE)


def split_games(text: bytes) -> tuple[list[tuple[bytes, bytes]], int]:
    """Cut PGN text into (header block, movetext) pairs; also returns how many garbage paragraphs were dropped.

    A blank line followed by `[` starts a game; its first blank line separates headers from movetext. Text
    outside any game, or after a movetext that already ended with a result, counts as garbage.
    """
    heads, movetexts, garbage = split_chunk(text)
    return list(zip(heads, movetexts)), garbage


def split_chunk(text: bytes) -> tuple[list[bytes], list[bytes], int]:
    """`split_games` as two parallel lists (header blocks, movetexts) plus the garbage count.

    Well-formed text (checked with NumPy over the newlines) is cut with one `bytes.split`; anything else takes
    the general path below, which gives the same answer on well-formed text.
    """
    if b"\r" in text:
        text = text.replace(b"\r\n", b"\n")
    end = len(text)
    while end and text[end - 1] in b" \t\n\r\x0b\x0c":  # what strip() would drop, without copying the chunk
        end -= 1
    if text[end:] in (b"", b"\n", b"\n\n") and _well_formed(text, end):
        paras = text.split(b"\n\n")
        if text[end:] == b"\n\n":
            paras.pop()
        elif text[end:] == b"\n":
            paras[-1] = paras[-1][:-1]
        return paras[0::2], paras[1::2], 0
    if b"\n \n" in text or b"\n\t" in text:
        text = _BLANK_LINE.sub(b"\n\n", text)
    text = text.strip()
    heads, movetexts = [], []
    garbage = 0
    for piece in _GAME_START.split(text):
        head, _, rest = piece.partition(b"\n\n")
        if head[:1] != b"[":
            garbage += len(_paragraphs(piece))
        elif head.count(b"\n") != head.count(b"\n[") or b"\n\n" in rest:
            garbage += _split_slow(piece, heads, movetexts)
        else:
            heads.append(head)
            movetexts.append(rest)
    return heads, movetexts, garbage


def _well_formed(text: bytes, end: int) -> bool:
    """True when in text[:end] (a chunk without trailing whitespace) blank lines (exactly two newlines, no
    indented lines) alternate header block / movetext, each header line starts with `[` and no movetext does:
    then cutting at blank lines is what the general path does."""
    if text[:1] != b"[":  # no leading whitespace either
        return False
    a = np.frombuffer(text, np.uint8, count=end)
    step = 1 << 22  # newline search in cache-sized slices: no chunk-sized temporary
    nl = np.concatenate([np.flatnonzero(a[i:i + step] == ord("\n")) + i for i in range(0, a.size, step)] or [[]])
    nl = nl.astype(np.int64)
    after = a[nl + 1]  # text is stripped: a newline is never its last byte
    after2 = a[np.minimum(nl + 2, a.size - 1)]  # read only after a newline that is not the last byte either
    if ((after == ord(" ")) | (after == ord("\t")) | ((after == ord("\n")) & (after2 == ord("\n")))).any():
        return False
    blank = after == ord("\n")  # first newline of each blank line
    if blank.sum() % 2 == 0:  # paragraphs must pair up as (header block, movetext)
        return False
    starts_head = after2[blank] == ord("[")
    if not (starts_head[1::2].all() and not starts_head[0::2].any()):
        return False
    single = ~blank & (np.concatenate([[0], a[nl[1:] - 1]]) != ord("\n"))  # newlines inside a paragraph
    in_head = np.cumsum(blank) % 2 == 0  # paragraphs before: even -> inside a header block
    return bool((a[nl[single & in_head] + 1] == ord("[")).all())


def _paragraphs(text: bytes) -> list[bytes]:
    return [p for p in _PARAGRAPHS.split(text) if p.strip()]


def _split_slow(piece: bytes, heads: list[bytes], movetexts: list[bytes]) -> int:
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
    heads.append(head)
    movetexts.append(movetext)
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
    out: list[tuple[bytes | None, str | None, int]] = []
    for i in range(0, len(movetexts), GAMES_PER_BATCH):  # cache-sized batches: ~2x faster than one huge buffer
        out += _normalize_batch(movetexts[i:i + GAMES_PER_BATCH])
    return out


def _normalize_batch(movetexts: list[bytes]) -> list[tuple[bytes | None, str | None, int]]:
    buf = SEP + SEP.join(movetexts) + SEP
    if b";" in buf:
        buf = _LINE_COMMENT.sub(b"", buf)  # PGN rest-of-line comments, before newlines become spaces
    buf = buf.translate(_WS_TO_SPACE, b"!?")  # `!`/`?` annotations deleted in the same C pass
    if b"{" in buf or b"..." in buf:
        buf = _strip_comments(buf)
    if b"(" in buf:
        buf = _strip_variations(buf)
    if b"$" in buf:
        buf = _NAG.sub(b"", buf)
    if b"  " in buf:
        buf = _SPACES.sub(b" ", buf)
    # After the steps above every remaining `.` ends a White move number: `12. Nf3` -> `12.Nf3`.
    transcripts = _trim_games(buf.replace(b". ", b"."))
    if len(transcripts) != len(movetexts):
        raise ValueError("a movetext contained a NUL byte")
    return _check(SEP.join(transcripts) + SEP, transcripts)


def _strip_variations(buf: bytes) -> bytes:
    """Replace each `(...)` variation by a space, innermost first, up to _MAX_VARIATION_DEPTH levels of nesting."""
    for _ in range(_MAX_VARIATION_DEPTH):
        if b"(" not in buf:
            break
        new = _VARIATION.sub(b" ", buf)
        if new == buf:  # an unbalanced parenthesis: that game fails the grammar check later
            break
        buf = new
    return buf


def _trim_games(buf: bytes) -> list[bytes]:
    """Cut the SEP-framed buffer into games, dropping a space at either end of each game, then the result token
    (`" 1-0"`, `" 0-1"`, `" 1/2-1/2"`, `" *"`, tried in that order, each at most once): what replacing
    `" \\x00"`, `"\\x00 "` and then each `" " + result + "\\x00"` by `"\\x00"` in the whole buffer does, found
    with NumPy at the game ends instead of six passes over the bytes."""
    a = np.frombuffer(bytes(8) + buf, np.uint8)  # index i of buf is i + 8 here: 8-byte reads before any end
    nul = np.flatnonzero(a == 0)
    nul = nul[nul >= 8]
    start, end = nul[:-1] + 1, nul[1:]
    end -= (end > start) & (a[end - 1] == ord(" "))
    start += (end > start) & (a[start] == ord(" "))
    last8 = np.ndarray((a.size - 7,), "<u8", a, strides=(1,))  # the 8 bytes from each offset
    for result in _RESULTS:
        tail = b" " + result
        hit = (end - start >= len(tail)) & (last8[end - 8] >> np.uint64(64 - 8 * len(tail))
                                             == np.uint64(int.from_bytes(tail, "little")))
        end -= hit * len(tail)
    return [buf[s:e] for s, e in zip((start - 8).tolist(), (end - 8).tolist())]


def _strip_comments(buf: bytes) -> bytes:
    """Delete `{...}` comments and `N...` Black move numbers, each with the space after it.

    Lichess dumps carry a clock comment after every move and a Black move number after each of those, so this
    is the costliest step on real data; a NumPy mask does it in a few passes over the bytes instead of one
    regex replacement per comment. Braces that nest, don't pair up, or span two games fall back to regexes
    (which leave an unclosed `{` for the vocabulary check to reject).
    """
    a = np.frombuffer(buf, np.uint8)
    padded = np.frombuffer(bytes(8) + buf + bytes(8), np.uint8)  # index i of `a` is i + 8 here
    comments = _comment_spans(a, padded)
    if comments is None:
        return _strip_comments_by_regex(buf)
    numbers = _black_number_spans(a, padded)
    out = a[_outside_spans(comments, numbers, a.size)].tobytes()
    if out.count(SEP) != buf.count(SEP):  # a span swallowed a game boundary
        return _strip_comments_by_regex(buf)
    return out


def _strip_comments_by_regex(buf: bytes) -> bytes:
    return _BLACK_MOVE_NUMBER.sub(b"", _BRACE_COMMENT.sub(b" ", buf))


def _comment_spans(a: np.ndarray, padded: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """[begin, end) of each `{...}` comment, sorted and disjoint; None when braces nest or do not pair up.

    A comment between spaces takes the space after it along, leaving one separator: `e4 { c } e5` -> `e4 e5`.
    """
    high = np.flatnonzero(a >= ord("{"))  # one pass for `{` and `}` (and rare `|`, `~`, non-ASCII bytes)
    opens, closes = high[a[high] == ord("{")], high[a[high] == ord("}")]
    if opens.size != closes.size or not (opens < closes).all() or not (closes[:-1] < opens[1:]).all():
        return None
    return opens, closes + 1 + ((padded[opens + 7] == ord(" ")) & (padded[closes + 9] == ord(" ")))


def _black_number_spans(a: np.ndarray, padded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[begin, end) of each Black move number: a run of up to 6 digits, then `...`, then an optional space."""
    dots = np.flatnonzero(a == ord("."))
    dots3 = dots[(padded[dots + 9] == ord(".")) & (padded[dots + 10] == ord("."))]
    starts = dots3.copy()
    for _ in range(6):
        prev = padded[starts + 7]
        starts -= (prev >= ord("0")) & (prev <= ord("9")) & (starts > 0)
    return starts, dots3 + 3 + (padded[dots3 + 11] == ord(" "))


def _outside_spans(comments: tuple[np.ndarray, np.ndarray], numbers: tuple[np.ndarray, np.ndarray],
                   size: int) -> np.ndarray:
    """Mask of the bytes outside every comment and every number span."""
    (opens, comment_ends), (starts, ends) = comments, numbers
    if not (starts[1:] < ends[:-1]).any():  # comments are disjoint, and so are numbers: two run-length masks
        return _outside(opens, comment_ends, size) & _outside(starts, ends, size)
    # Overlapping `....` runs: count nesting depth instead. +1 where a span starts, -1 where one ends;
    # positions are distinct within each index array (see the span ends above).
    step = np.zeros(size + 1, np.int8)
    step[opens] += 1
    step[starts] += 1
    step[comment_ends] -= 1
    step[ends] -= 1
    return np.cumsum(step[:-1], dtype=np.int8) == 0


def _outside(begin: np.ndarray, end: np.ndarray, size: int) -> np.ndarray:
    """Mask of the bytes outside the sorted, disjoint spans [begin, end)."""
    bounds = np.empty(2 * begin.size + 2, np.int64)
    bounds[0], bounds[1:-1:2], bounds[2:-1:2], bounds[-1] = 0, begin, end, size
    flags = np.ones(bounds.size - 1, bool)
    flags[1::2] = False
    return np.repeat(flags, np.diff(bounds))


def _grammar_fast(joined: bytes, starts: np.ndarray) -> np.ndarray:
    """Per game: True when `_GAME` certainly accepts it, decided for the whole chunk with NumPy.

    Each White move number is split off as its own token (`12.Nf3` -> `12.` `Nf3`), so a game must read
    number, move, move, number, move, move, ... ending on a move, with `1.` first; every token's shape must be
    one `token_shapes` lists (looked up through a perfect hash of its bytes as one 64-bit word). False means
    "ask the regex" (rare forms like 5-digit move numbers land there too), so the verdict is always `_GAME`'s.
    """
    shaped = joined.translate(_SHAPE).replace(b".", b". ")
    a = np.frombuffer(shaped + bytes(8), np.uint8)
    words_at = np.ndarray((len(shaped) + 1,), "<u8", shaped + bytes(8), strides=(1,))  # 8 bytes from each offset
    sep = np.flatnonzero(a[:len(shaped)] <= 32)  # spaces and the NUL after each game
    tok_start = np.empty_like(sep)
    tok_start[0], tok_start[1:] = 0, sep[:-1] + 1
    word = words_at[tok_start] & _LENGTH_MASK[np.minimum(sep - tok_start, 8)]
    known = _SHAPE_TABLE[(word * np.uint64(_SHAPE_MULT)) >> _SHAPE_SHIFT] == word
    is_num = a[sep - 1] == ord(".")
    is_last = a[sep] == 0
    first = np.ones(sep.size + 2, bool)  # padded by two: tokens before the first count as game starts
    first[3:] = is_last[:-1]
    num = np.ones(sep.size + 2, bool)
    num[2:] = is_num
    # A number opens each game and follows every two moves; nothing else is a number; no game ends on one.
    want_num = first[2:] | ~(num[1:-1] | num[:-2] | first[1:-1])
    ok = known & (is_num == want_num) & ~(is_last & is_num)
    good = np.ones(starts.size, bool)
    good[np.searchsorted(sep[is_last], sep[~ok])] = False
    raw = np.frombuffer(joined + bytes(2), np.uint8)
    return good & (raw[starts] == ord("1")) & (raw[starts + 1] == ord("."))


def _check(joined: bytes, transcripts: list[bytes]) -> list[tuple[bytes | None, str | None, int]]:
    """Vocabulary, grammar and move numbers of all games at once (NumPy over the joined bytes).

    Each game keeps the first reason that applies, in this order: outside_vocab, empty_movetext,
    unparsable_movetext, bad_move_numbers.
    """
    a = np.frombuffer(joined, np.uint8)
    ends = np.flatnonzero(a == 0)
    starts = np.concatenate([[0], ends[:-1] + 1])
    code = _vocabulary_codes(joined, transcripts)
    code[(code == KEPT) & (ends == starts)] = Reason.empty_movetext
    _mark_grammar_errors(joined, transcripts, starts, code)
    code[(code == KEPT) & _bad_move_numbers(a, ends)] = Reason.bad_move_numbers
    plies = np.diff(np.searchsorted(np.flatnonzero(a == ord(" ")), ends), prepend=0) + 1
    return [(t, None, p) if c == KEPT else (None, NAME_OF_CODE[c], 0)
            for t, c, p in zip(transcripts, code.tolist(), plies.tolist())]


def _vocabulary_codes(joined: bytes, transcripts: list[bytes]) -> np.ndarray:
    """int8 reason code per game: outside_vocab where a symbol is outside the vocabulary (or is `;`), else KEPT."""
    code = np.full(len(transcripts), KEPT, np.int8)
    if joined.translate(None, _VOCAB_BYTES + SEP) or b";" in joined:
        for i, t in enumerate(transcripts):
            if t.translate(None, _VOCAB_BYTES) or b";" in t:
                code[i] = Reason.outside_vocab
    return code


def _mark_grammar_errors(joined: bytes, transcripts: list[bytes], starts: np.ndarray, code: np.ndarray) -> None:
    """Set the code of each still-kept game `_GAME` rejects; only games `_grammar_fast` cannot vouch for meet it."""
    for i in np.flatnonzero((code == KEPT) & ~_grammar_fast(joined, starts)).tolist():
        if not _GAME.match(transcripts[i] + SEP):  # a movetext that is only a result is empty
            code[i] = Reason.empty_movetext if transcripts[i] in _RESULTS else Reason.unparsable_movetext


def _bad_move_numbers(a: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per game: do the digits before its `.`s fail to count 1, 2, 3, ...? (a: the joined bytes; ends: its NULs)"""
    dots = np.flatnonzero(a == ord("."))
    dots_per_game = np.diff(np.searchsorted(dots, ends), prepend=0)
    game_of_dot = np.repeat(np.arange(ends.size), dots_per_game)
    value = np.zeros(dots.size, np.int64)
    scale, digits_left = 1, np.ones(dots.size, bool)
    padded = np.concatenate([np.zeros(8, np.uint8), a])
    for k in range(1, 7):
        c = padded[dots + 8 - k].astype(np.int64)
        digits_left &= (c >= 48) & (c <= 57)
        value += np.where(digits_left, (c - 48) * scale, 0)
        scale *= 10
    rank = np.arange(dots.size) - np.repeat(np.cumsum(dots_per_game) - dots_per_game, dots_per_game) + 1
    bad = np.zeros(ends.size, bool)
    bad[game_of_dot[value != rank]] = True
    return bad


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

"""Which games to keep: the paper's defaults plus optional filters, decided from the PGN headers alone."""
from __future__ import annotations

import dataclasses
import functools
import re

import numpy as np

from data_pipeline.normalize import parse_headers
from data_pipeline.reasons import KEPT, NAME_OF_CODE, Reason

# Time-control classes stored in each record (uint8). Lichess's rule: estimated duration = base + 40 * increment.
TIME_CONTROLS = ("unknown", "ultrabullet", "bullet", "blitz", "rapid", "classical", "correspondence")
TC_ID = {name: i for i, name in enumerate(TIME_CONTROLS)}
RESULTS = {b"1-0": 0, b"0-1": 1, b"1/2-1/2": 2}  # stored result codes
RESULT_NAMES = ("1-0", "0-1", "1/2-1/2")
MAX_RATING = 4000  # anything above is not a Lichess rating: treated as bad
START_FEN = b"rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"
_TC = re.compile(rb"(\d+)\+(\d+)")
_GAME_ID = re.compile(rb"lichess\.org/([A-Za-z0-9]{8})")
_RATED = re.compile(rb"(?i)\brated\b")  # "Rated Blitz game" yes; "Unrated ..." no (no word boundary inside it)
_CASUAL = re.compile(rb"(?i)\b(casual|unrated)\b")
# What a game's Event says about it: the paper trained on Lichess's standard_rated dumps, so casual games are
# skipped by default; an Event that says neither (missing, "?", another site's text) cannot be classified.
EVENT_CLASSES = ("rated", "casual", "unknown")
EVENT_ID = {name: i for i, name in enumerate(EVENT_CLASSES)}
_EVENT_SPEED = re.compile(rb"(?i)\b(ultrabullet|bullet|blitz|rapid|classical|correspondence)\b")


@dataclasses.dataclass(frozen=True)
class FilterSpec:
    """Optional filters on top of the paper's defaults (standard chess, numeric ratings, decisive-or-drawn result,
    first game per Lichess id). Empty/zero values mean "no filter"."""

    time_controls: tuple[str, ...] = ()  # keep only these classes, e.g. ("blitz", "rapid")
    include_casual: bool = False  # keep games whose Event says Casual or Unrated (skipped by default, as `casual`)
    rated_only: bool = False  # Event must say "Rated": games it does not classify are dropped too
    exclude_bots: bool = False  # no WhiteTitle/BlackTitle "BOT"
    min_plies: int = 0
    terminations: tuple[str, ...] = ()  # keep only these Termination values, e.g. ("Normal",)
    validate: bool = False  # replay with python-chess and reject illegal games (slow)

    def __post_init__(self) -> None:
        bad = [t for t in self.time_controls if t not in TIME_CONTROLS]
        if bad:
            raise ValueError(f"unknown time-control class {bad}; choose from {list(TIME_CONTROLS)}")
        if self.min_plies < 0:
            raise ValueError(f"min_plies must be >= 0, got {self.min_plies}")
        if self.include_casual and self.rated_only:
            raise ValueError("--include-casual keeps casual games but --rated-only drops them (and every game whose "
                             "Event is not Rated): choose one of the two")


@functools.lru_cache(maxsize=4096)  # a month of Lichess games has only a few hundred distinct pairs
def time_control_class(time_control: bytes | None, event: bytes | None) -> int:
    """Lichess speed from `TimeControl` ("300+3"); when that is absent or "-", from the Event's speed word."""
    if time_control:
        m = _TC.fullmatch(time_control)
        if m:
            seconds = int(m.group(1)) + 40 * int(m.group(2))
            for limit, name in ((29, "ultrabullet"), (179, "bullet"), (479, "blitz"), (1499, "rapid")):
                if seconds <= limit:
                    return TC_ID[name]
            return TC_ID["classical"]
    if event:
        m = _EVENT_SPEED.search(event)
        if m:
            return TC_ID[m.group(1).lower().decode()]
    if time_control == b"-":
        return TC_ID["correspondence"]
    return TC_ID["unknown"]


@functools.lru_cache(maxsize=4096)  # a month has a few thousand distinct Events (tournament URLs)
def event_class(event: bytes | None) -> int:
    """EVENT_ID of what the Event tag says: "Casual ..."/"Unrated ..." casual, "Rated ..." rated, anything else unknown."""
    if event is None:
        return EVENT_ID["unknown"]
    if _CASUAL.search(event):
        return EVENT_ID["casual"]
    return EVENT_ID["rated"] if _RATED.search(event) else EVENT_ID["unknown"]


def event_rule(spec: FilterSpec) -> str:
    """The rated-games rule in words, as the manifest records it."""
    casual = "kept (include_casual)" if spec.include_casual else "skipped, counted as `casual`"
    unknown = ("skipped, counted as `filtered_unrated` (rated_only)" if spec.rated_only
               else "kept, counted in counts.event_unknown")
    return (f"Event says Rated: kept; Event says Casual or Unrated: {casual}; Event missing, \"?\" or naming "
            f"neither: {unknown}")


def game_id(tags: dict[bytes, bytes]) -> bytes | None:
    """The 8-character Lichess game id from the Site URL, or None."""
    m = _GAME_ID.search(tags.get(b"Site", b""))
    return m.group(1) if m else None


def _rating(value: bytes | None) -> int | None:
    if value is None or not value.isdigit():
        return None
    r = int(value)
    return r if 0 < r <= MAX_RATING else None


def check_headers(tags: dict[bytes, bytes], spec: FilterSpec) -> tuple[str | None, tuple[int, int, int, int]]:
    """-> (reject reason or None, (white_elo, black_elo, result code, time-control class))."""
    none = (0, 0, 0, 0)
    variant = tags.get(b"Variant")
    if variant is not None and variant.lower() not in (b"standard", b"chess", b"from position"):
        return Reason.variant.name, none
    fen = tags.get(b"FEN")
    if variant is not None and variant.lower() == b"from position" or (fen is not None and fen != START_FEN):
        return Reason.fen_start.name, none
    result = tags.get(b"Result")
    if result == b"*":
        return Reason.unfinished.name, none
    if result not in RESULTS:
        return Reason.bad_result.name, none
    white, black = _rating(tags.get(b"WhiteElo")), _rating(tags.get(b"BlackElo"))
    if white is None or black is None:
        return Reason.bad_rating.name, none
    tc = time_control_class(tags.get(b"TimeControl"), tags.get(b"Event"))
    if spec.time_controls and TIME_CONTROLS[tc] not in spec.time_controls:
        return Reason.filtered_time_control.name, none
    event = event_class(tags.get(b"Event"))
    if event == EVENT_ID["casual"] and not spec.include_casual:
        return Reason.casual.name, none
    if spec.rated_only and event != EVENT_ID["rated"]:
        return Reason.filtered_unrated.name, none
    if spec.exclude_bots and b"BOT" in (tags.get(b"WhiteTitle"), tags.get(b"BlackTitle")):
        return Reason.filtered_bot.name, none
    if spec.terminations and tags.get(b"Termination", b"").decode("utf-8", "replace") not in spec.terminations:
        return Reason.filtered_termination.name, none
    return None, (white, black, RESULTS[result], tc)


# ---- Whole-chunk header checks -------------------------------------------------------------------------------
# `check_headers(parse_headers(head))` costs ~8 us a game in Python; `check_games` gets the same answers for a
# chunk with NumPy. It reads only "simple" header lines (`[Name "value"]`: one `[`, two quotes, nothing after
# `]`), where the line's single tag is plain to see; a game with any other line takes the per-game path.
_TAGS = (b"Site", b"Variant", b"FEN", b"Result", b"WhiteElo", b"BlackElo", b"TimeControl", b"Event")  # optional
# filters' tags (titles, Termination) are read by check_headers itself: games with a filter on take that path.
_LICHESS_URL = b"https://lichess.org/"
GAMES_PER_BATCH = 4096  # header blocks checked together: cache-sized
_ALNUM = np.zeros(256, bool)
_ALNUM[list(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")] = True
_WORD_CHAR = _ALNUM.copy()  # what `\w` matches in a bytes regex
_WORD_CHAR[ord("_")] = True
_EVENT = np.zeros(256, bool)
_EVENT[[ord("\n"), ord('"'), ord("[")]] = True
_LOW_BYTES = np.array([(1 << 8 * k) - 1 for k in range(8)] + [(1 << 64) - 1], np.uint64)  # the low k bytes


def _word(text: bytes) -> int:
    return int.from_bytes(text[:8].ljust(8, b"\0"), "little")


def _words(buf: bytes) -> np.ndarray:
    """The 8 bytes starting at each offset of buf, as little-endian uint64 (buf must end with 8 padding bytes)."""
    return np.ndarray((len(buf) - 7,), "<u8", buf, strides=(1,))


def _equals(words: np.ndarray, at: np.ndarray, length: np.ndarray, text: bytes) -> np.ndarray:
    """Per position: do the `length` bytes at `at` equal text (texts up to 24 bytes)?"""
    ok = length == len(text)
    for k in range(0, len(text), 8):
        part = text[k:k + 8]
        mask = np.uint64((1 << 8 * len(part)) - 1)
        ok &= (words[at + k] & mask) == np.uint64(_word(part))
    return ok


class _Columns:
    """Where each wanted tag's value sits in the joined header text: per game, start/end offsets (-1: absent)."""

    def __init__(self, heads: list[bytes], names: tuple[bytes, ...]) -> None:
        n = len(heads)
        self.text = b"\n".join([*heads, bytes(24)])  # each head ends with a newline; padding for 8-byte reads
        a = np.frombuffer(self.text, np.uint8)[:-24]
        self.a, self.words = a, _words(self.text)
        line_game, line_start, line_end, q1, simple = _header_lines(a, heads)
        self.fallback = np.zeros(n, bool)  # games with a line that is not simple: check_headers reads them
        self.fallback[line_game[~simple]] = True
        lines = np.flatnonzero(simple)
        line_game, q1, line_end = line_game[lines], q1[lines], line_end[lines]
        name_at, name_len = line_start[lines] + 1, np.minimum(q1 - 2 - line_start[lines], 16)
        # The name's first 16 bytes as two words, zero past its end: one comparison pair per wanted name.
        name_lo = self.words[name_at] & _LOW_BYTES[np.minimum(name_len, 8)]
        name_hi = self.words[name_at + 8] & _LOW_BYTES[np.maximum(name_len - 8, 0)]
        self.cols: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        for name in names:
            padded = name.ljust(16, b"\0")
            found = np.flatnonzero((name_lo == np.uint64(_word(padded[:8]))) & (name_hi == np.uint64(_word(padded[8:])))
                                   & (name_len == len(name)))
            games = line_game[found]
            last = np.ones(games.size, bool)  # a repeated tag keeps its last value
            last[:-1] = games[1:] != games[:-1]
            start, end = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
            start[games[last]] = q1[found[last]] + 1
            end[games[last]] = line_end[found[last]] - 2
            self.cols[name] = start, end

    def values(self, name: bytes, games: np.ndarray) -> list[bytes | None]:
        start, end = self.cols[name]
        text = self.text
        return [None if s < 0 else text[s:e] for s, e in zip(start[games].tolist(), end[games].tolist())]


def _header_lines(a: np.ndarray, heads: list[bytes]) -> tuple[np.ndarray, ...]:
    """The lines of the joined header blocks `a`: per line (game, start, end (its newline), first quote, simple).

    A simple line is `[Name "value"]` exactly: its events -- newline, quote, bracket, found in one pass -- are
    `[`, `"`, `"` then the newline, so `_TAG` would find just this one tag on it, with this name and value.
    """
    at = np.flatnonzero(_EVENT[a])
    kind = a[at]
    newline = np.flatnonzero(kind == ord("\n"))  # event index of each line's end
    line_end = at[newline]
    line_start = np.empty_like(line_end)
    line_start[0], line_start[1:] = 0, line_end[:-1] + 1
    head_end = np.cumsum(np.fromiter(map(len, heads), np.int64, len(heads)) + 1) - 1
    line_game = np.zeros(line_end.size, np.int64)
    line_game[np.searchsorted(line_end, head_end[:-1]) + 1] = 1
    line_game = np.cumsum(line_game)
    three = newline - np.concatenate([[-1], newline[:-1]]) == 4
    bracket, q1, q2 = (at[np.maximum(newline - k, 0)] for k in (3, 2, 1))
    simple = (three & (kind[np.maximum(newline - 3, 0)] == ord("["))
              & (kind[np.maximum(newline - 2, 0)] == ord('"')) & (kind[np.maximum(newline - 1, 0)] == ord('"'))
              & (bracket == line_start) & (q2 == line_end - 2)
              & (a[np.maximum(line_end - 1, 0)] == ord("]")) & (a[np.maximum(q1 - 1, 0)] == ord(" "))
              & _WORD_CHAR[a[np.maximum(q1 - 2, 0)]] & (q1 - 2 > line_start))
    return line_game, line_start, line_end, q1, simple


def _ratings(cols: _Columns, name: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rating, valid, too long to read here) per game; valid as `_rating` decides: digits, 0 < r <= MAX_RATING."""
    start, end = cols.cols[name]
    length = np.where(start < 0, 0, end - start)
    value = np.zeros(start.size, np.int64)
    digits = length > 0
    for k in range(9):
        use = k < length
        c = cols.a[np.where(use, start + k, 0)].astype(np.int64)
        digits &= ~use | ((c >= 48) & (c <= 57))
        value = np.where(use, value * 10 + c - 48, value)
    return value, digits & (value > 0) & (value <= MAX_RATING), length > 9


def check_games(heads: list[bytes], spec: FilterSpec) -> tuple[list[str | None], np.ndarray, list[bytes | None], np.ndarray]:
    """`check_headers`, `game_id` and `event_class` for a chunk of header blocks at once.

    Returns (reject reason or None per game, int64 array [n, 4] of (white_elo, black_elo, result, time-control
    class) (zeros where rejected), Lichess game id or None per game, int8 array [n] of EVENT_ID); the same values as
    `check_headers(parse_headers(head), spec)`, `game_id(...)` and `event_class(tags.get(b"Event"))` game by game.
    """
    reasons: list[str | None] = []
    fields: list[np.ndarray] = [np.zeros((0, 4), np.int64)]
    gids: list[bytes | None] = []
    events: list[np.ndarray] = [np.zeros(0, np.int8)]
    for i in range(0, len(heads), GAMES_PER_BATCH):
        r, f, g, e = _check_batch(heads[i:i + GAMES_PER_BATCH], spec)
        reasons += r
        fields.append(f)
        gids += g
        events.append(e)
    return reasons, np.concatenate(fields), gids, np.concatenate(events)


def _check_batch(heads: list[bytes], spec: FilterSpec) -> tuple[list[str | None], np.ndarray, list[bytes | None], np.ndarray]:
    """`check_games` for one batch: the common rules vectorized, then the games they do not cover one by one."""
    cols = _Columns(heads, _TAGS)
    white, white_ok, white_long = _ratings(cols, b"WhiteElo")
    black, black_ok, black_long = _ratings(cols, b"BlackElo")
    # Games the vectorized rules do not cover go through check_headers: odd lines, a Variant or FEN tag, long Elo.
    slow = cols.fallback | (cols.cols[b"Variant"][0] >= 0) | (cols.cols[b"FEN"][0] >= 0) | white_long | black_long
    result, code = _result_codes(cols)
    code[(result >= 0) & ~(white_ok & black_ok)] = Reason.bad_rating
    live = np.flatnonzero((code == KEPT) & ~slow)
    tc = _time_control_classes(cols, live)
    if spec.time_controls:
        allowed = np.array([name in spec.time_controls for name in TIME_CONTROLS])
        code[live[~allowed[tc]]] = Reason.filtered_time_control
    events = np.fromiter(map(event_class, cols.values(b"Event", np.arange(len(heads)))), np.int8, len(heads))
    if not spec.include_casual:
        code[live[(code[live] == KEPT) & (events[live] == EVENT_ID["casual"])]] = Reason.casual
    fields = np.zeros((len(heads), 4), np.int64)
    fields[live] = np.stack([white[live], black[live], result[live], tc], axis=1)
    fields[code != KEPT] = 0
    if spec.rated_only or spec.exclude_bots or spec.terminations:  # tags only check_headers reads
        slow |= code == KEPT
    reasons = [NAME_OF_CODE[c] for c in code.tolist()]
    gids = _game_ids(cols, len(heads))
    for i in np.flatnonzero(slow).tolist():
        tags = parse_headers(heads[i])
        reasons[i], fields[i] = check_headers(tags, spec)
        gids[i] = game_id(tags)
        events[i] = event_class(tags.get(b"Event"))
    return reasons, fields, gids, events


def _result_codes(cols: _Columns) -> tuple[np.ndarray, np.ndarray]:
    """Per game: (stored result code, -1 when not a finished result; int8 reason code: unfinished, bad_result or KEPT)."""
    start, end = cols.cols[b"Result"]
    length, at = np.where(start < 0, -1, end - start), np.maximum(start, 0)
    result = np.full(start.size, -1, np.int64)
    for text, c in RESULTS.items():
        result[_equals(cols.words, at, length, text)] = c
    code = np.where(result < 0, Reason.bad_result, KEPT).astype(np.int8)
    code[_equals(cols.words, at, length, b"*")] = Reason.unfinished
    return result, code


def _time_control_classes(cols: _Columns, games: np.ndarray) -> np.ndarray:
    """Time-control class of each game in `games`, through the cached function (a chunk has few distinct pairs)."""
    classes = map(time_control_class, cols.values(b"TimeControl", games), cols.values(b"Event", games))
    return np.fromiter(classes, np.int64, games.size)


def _game_ids(cols: _Columns, n: int) -> list[bytes | None]:
    """Lichess ids from Site values: `https://lichess.org/<8 alnum>` read directly, other long values by regex."""
    start, end = cols.cols[b"Site"]
    length = np.where(start < 0, -1, end - start)
    at = np.maximum(start, 0)
    url = (length == len(_LICHESS_URL) + 8) & _equals(cols.words, at, length - 8, _LICHESS_URL)
    for k in range(8):
        url &= _ALNUM[cols.a[np.minimum(at + len(_LICHESS_URL) + k, cols.a.size - 1)]]
    gids: list[bytes | None] = [None] * n
    text = cols.text
    for i, s in zip(np.flatnonzero(url).tolist(), (at[url] + len(_LICHESS_URL)).tolist()):
        gids[i] = text[s:s + 8]
    for i in np.flatnonzero(~url & (length >= 20)).tolist():  # the id needs 20 bytes: `lichess.org/` + 8
        m = _GAME_ID.search(text[start[i]:end[i]])
        gids[i] = m.group(1) if m else None
    return gids

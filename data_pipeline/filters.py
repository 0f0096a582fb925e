"""Which games to keep: the paper's defaults plus optional filters, decided from the PGN headers alone."""
from __future__ import annotations

import dataclasses
import functools
import re

# Time-control classes stored in each record (uint8). Lichess's rule: estimated duration = base + 40 * increment.
TIME_CONTROLS = ("unknown", "ultrabullet", "bullet", "blitz", "rapid", "classical", "correspondence")
TC_ID = {name: i for i, name in enumerate(TIME_CONTROLS)}
RESULTS = {b"1-0": 0, b"0-1": 1, b"1/2-1/2": 2}  # stored result codes
RESULT_NAMES = ("1-0", "0-1", "1/2-1/2")
MAX_RATING = 4000  # anything above is not a Lichess rating: treated as bad
START_FEN = b"rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"
_TC = re.compile(rb"(\d+)\+(\d+)")
_GAME_ID = re.compile(rb"lichess\.org/([A-Za-z0-9]{8})")
_RATED = re.compile(rb"(?i)\brated\b")  # "Rated Blitz game" yes; "Casual ..." / "Unrated ..." no
_EVENT_SPEED = re.compile(rb"(?i)\b(ultrabullet|bullet|blitz|rapid|classical|correspondence)\b")


@dataclasses.dataclass(frozen=True)
class FilterSpec:
    """Optional filters on top of the paper's defaults (standard chess, numeric ratings, decisive-or-drawn result,
    first game per Lichess id). Empty/zero values mean "no filter"."""

    time_controls: tuple[str, ...] = ()  # keep only these classes, e.g. ("blitz", "rapid")
    rated_only: bool = False  # Event must say "Rated"
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
    variant = tags.get(b"Variant")
    if variant is not None and variant.lower() not in (b"standard", b"chess", b"from position"):
        return "variant", (0, 0, 0, 0)
    fen = tags.get(b"FEN")
    if variant is not None and variant.lower() == b"from position" or (fen is not None and fen != START_FEN):
        return "fen_start", (0, 0, 0, 0)
    result = tags.get(b"Result")
    if result == b"*":
        return "unfinished", (0, 0, 0, 0)
    if result not in RESULTS:
        return "bad_result", (0, 0, 0, 0)
    white, black = _rating(tags.get(b"WhiteElo")), _rating(tags.get(b"BlackElo"))
    if white is None or black is None:
        return "bad_rating", (0, 0, 0, 0)
    tc = time_control_class(tags.get(b"TimeControl"), tags.get(b"Event"))
    if spec.time_controls and TIME_CONTROLS[tc] not in spec.time_controls:
        return "filtered_time_control", (0, 0, 0, 0)
    if spec.rated_only and not _RATED.search(tags.get(b"Event", b"")):
        return "filtered_unrated", (0, 0, 0, 0)
    if spec.exclude_bots and b"BOT" in (tags.get(b"WhiteTitle"), tags.get(b"BlackTitle")):
        return "filtered_bot", (0, 0, 0, 0)
    if spec.terminations and tags.get(b"Termination", b"").decode("utf-8", "replace") not in spec.terminations:
        return "filtered_termination", (0, 0, 0, 0)
    return None, (white, black, RESULTS[result], tc)

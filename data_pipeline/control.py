"""Games holding a control byte (NUL, ESC, DEL, ...): never part of PGN text, so a sign of damage.

Such a game is skipped (reason `control_byte`) and reported with the byte offset of the control byte in the
source's text (decompressed for a compressed source) and the game's Lichess id when it has one. Tab, newline,
vertical tab, form feed and carriage return are whitespace in PGN, not control bytes here. A chunk without a
control byte (every chunk of a sound file) costs one C-speed scan.
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np

from data_pipeline import filters, normalize

CONTROL_BYTES = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])
_CONTROL = re.compile(b"[" + re.escape(CONTROL_BYTES) + b"]")
_SLICE = 1 << 20  # bytes compared at a time: no chunk-sized temporary


@dataclasses.dataclass(frozen=True)
class DamagedGame:
    position: int  # index of the game in the chunk's split (normalize.split_chunk)
    offset: int  # offset of its first control byte in the chunk
    byte: int  # that byte's value
    game_id: str | None  # its Lichess id, when its headers name one

    def describe(self, source: str, chunk_offset: int) -> dict:
        """The report of this game as the build records it: source, absolute text offset, byte, game id."""
        return {"source": source, "offset": chunk_offset + self.offset, "byte": f"0x{self.byte:02x}",
                "game_id": self.game_id}


def has_control_byte(text: bytes) -> bool:
    return _CONTROL.search(text) is not None


def chunk_has_control_byte(chunk: bytes) -> bool:
    """`has_control_byte` for a whole chunk, 10x faster than the regex: three NumPy comparisons per slice."""
    a = np.frombuffer(chunk, np.uint8)
    for i in range(0, a.size, _SLICE):
        part = a[i:i + _SLICE]
        # 0x00-0x08; 0x0E-0x1F (uint8 arithmetic wraps the bytes below 0x0E above 0xF1); 0x7F.
        if (part < 0x09).any() or (part - np.uint8(0x0E) < 0x12).any() or (part == 0x7F).any():
            return True
    return False


def find_damaged_games(chunk: bytes, heads: list[bytes], movetexts: list[bytes]) -> list[DamagedGame]:
    """The games of `chunk` (split into `heads` and `movetexts` by normalize.split_chunk) that hold a control byte."""
    if not chunk_has_control_byte(chunk):
        return []
    damaged, cursor = [], 0
    for i, (head, movetext) in enumerate(zip(heads, movetexts)):
        start = chunk.find(head.split(b"\n", 1)[0], cursor)  # games are in chunk order: walk their first lines
        cursor = start + 1 if start >= 0 else cursor
        if has_control_byte(head) or has_control_byte(movetext):
            hit = _CONTROL.search(chunk, cursor - 1 if start >= 0 else cursor)
            offset = hit.start() if hit else cursor
            gid = filters.game_id(normalize.parse_headers(head))
            damaged.append(DamagedGame(i, offset, chunk[offset] if hit else 0, gid.decode("ascii") if gid else None))
    return damaged

"""zstd files decoded one block at a time, so that damage costs only the games it can have touched.

The decoder alone judges the bytes; the frame and block headers are read here only to cut the input where each
zstd block ends, so the decoded text of every block is in hand as soon as its block is. Two kinds of damage:

- The decoder rejects a block other than the frame's last as corrupt. The blocks before it decoded cleanly:
  their text is passed on (kept), and the damage is reported at the block's compressed offset.
- Anything else: most flipped bits decode into wrong text without complaint and only the frame's content
  checksum, at the frame's end, catches them (or its content size, checked as the last block decodes, or a
  damaged frame header does). That does
  not say where the damage lies, so the decoded text of each frame is held back until the frame ends cleanly:
  on such a failure the held text is dropped, and the report names the frame's start and where the failure
  was found. A frame larger than `hold_bytes` (a Lichess month is one frame) cannot be held whole: its text is
  passed on in windows of `hold_bytes`, and a failure drops the window it arrives in (the text passed on
  before it is not vouched for by the checksum; the report says so).

A file cut short keeps the text of every block that arrived whole (truncation damages no decoded block).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import BinaryIO

import zstandard

READ_BYTES = 1 << 20  # file read size
HOLD_BYTES = 16 << 20  # decoded text of one frame held back until the frame ends cleanly
FALLBACK_PIECE = 1 << 14  # input piece size where the block layout cannot be read
_MAGIC = 0xFD2FB528
_MAX_FRAME_HEADER = 18  # magic 4 + descriptor 1 + window 1 + dictionary id 4 + content size 8
_MAX_BLOCK = 128 << 10  # the largest block content the format allows


class ZstdDamage(Exception):
    """The stream cannot be decoded past `offset`, the compressed byte offset where the failure was found; the
    damage lies in the compressed bytes [span[0], span[1]); `why` says what happened and what was kept."""

    def __init__(self, offset: int, span: tuple[int, int], why: str) -> None:
        super().__init__(why)
        self.offset, self.span, self.why = offset, span, why


@dataclasses.dataclass(frozen=True)
class _Piece:
    offset: int  # compressed offset of its first byte
    data: bytes
    is_block: bool  # exactly one whole block (its 3-byte header and content) and not the frame's last, as the layout says


class _Reader:
    """The compressed file, handed out in pieces of any size; `offset` is the file offset of the next byte."""

    def __init__(self, f: BinaryIO) -> None:
        self._f, self._buf, self._pos, self.offset = f, b"", 0, 0

    def peek(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n and (more := self._f.read(max(READ_BYTES, n))):
            self._buf = self._buf[self._pos:] + more
            self._pos = 0
        return self._buf[self._pos:self._pos + n]

    def take(self, n: int) -> bytes:
        piece = self.peek(n)
        self._pos += len(piece)
        self.offset += len(piece)
        return piece

    def unread(self, data: bytes) -> None:
        """Give back bytes the decoder did not use (they start the next frame)."""
        self._buf = data + self._buf[self._pos:]
        self._pos = 0
        self.offset -= len(data)


def frame_header_size(head: bytes) -> tuple[int, bool] | None:
    """(header size, has a content checksum) of the zstd frame that `head` starts, or None when it is not one."""
    if len(head) < 5 or int.from_bytes(head[:4], "little") != _MAGIC or head[4] & 0x08:  # reserved bit
        return None
    descriptor = head[4]
    single_segment = descriptor >> 5 & 1
    size = 5 + (1 - single_segment) + (0, 1, 2, 4)[descriptor & 3] + (single_segment, 2, 4, 8)[descriptor >> 6]
    return size, bool(descriptor & 0x04)


def block_size(header: bytes) -> tuple[int, bool] | None:
    """(size with its 3-byte header, is the frame's last block) of the block `header` starts, or None when invalid."""
    if len(header) < 3:
        return None
    word = int.from_bytes(header[:3], "little")
    kind, size = word >> 1 & 3, word >> 3
    if kind == 3 or size > _MAX_BLOCK:  # reserved block type, or larger than the format allows
        return None
    return 3 + (1 if kind == 1 else size), bool(word & 1)  # an RLE block stores one byte


def _frame_pieces(reader: _Reader) -> Iterator[_Piece]:
    """One frame's input: its header, each block, its checksum; the rest in small pieces where the layout is odd."""
    layout = frame_header_size(reader.peek(_MAX_FRAME_HEADER))
    if layout is None:  # a damaged magic number or descriptor (or no zstd file at all)
        yield from _fallback_pieces(reader, _MAX_FRAME_HEADER)
        return
    header, has_checksum = layout
    yield _Piece(reader.offset, reader.take(header), False)
    while (block := block_size(reader.peek(3))) is not None:
        size, last = block
        yield _Piece(reader.offset, reader.take(size), not last)
        if last:
            if has_checksum:
                yield _Piece(reader.offset, reader.take(4), False)
            return
    yield from _fallback_pieces(reader, 3)  # a block header the format does not allow (or the file's end)


def _fallback_pieces(reader: _Reader, first: int) -> Iterator[_Piece]:
    """Where the layout cannot be read: the decoder finds the frame's end (or its damage) itself, fed `first` bytes
    (what the broken header spans, so a failure there is located tightly), then small pieces."""
    size = first
    while piece := reader.take(size):
        yield _Piece(reader.offset - len(piece), piece, False)
        size = FALLBACK_PIECE


class _Held:
    """Decoded text of the current frame not yet passed on."""

    def __init__(self, hold_bytes: int) -> None:
        self.hold_bytes, self.size, self.passed_on = hold_bytes, 0, 0
        self.parts: list[bytes] = []

    def add(self, text: bytes) -> Iterator[bytes]:
        self.parts.append(text)
        self.size += len(text)
        if self.size >= self.hold_bytes:  # too large to hold: pass this window on unverified
            yield from self.release()

    def release(self) -> Iterator[bytes]:
        if self.size:
            yield b"".join(self.parts)
        self.passed_on += self.size
        self.parts, self.size = [], 0


def decode(f: BinaryIO, hold_bytes: int = HOLD_BYTES) -> Iterator[bytes]:
    """The decoded text of a zstd file (any number of frames) in pieces; raises ZstdDamage where it cannot go on,
    after passing on every text the rules of this module keep."""
    reader = _Reader(f)
    dctx = zstandard.ZstdDecompressor()
    while reader.peek(1):
        yield from _decode_frame(reader, dctx.decompressobj(), hold_bytes)


def _decode_frame(reader: _Reader, dobj: zstandard.ZstdDecompressionObj, hold_bytes: int) -> Iterator[bytes]:
    frame_start = reader.offset
    held = _Held(hold_bytes)
    for piece in _frame_pieces(reader):
        try:
            text = dobj.decompress(piece.data)
        except zstandard.ZstdError as err:
            if piece.is_block and "corruption" in str(err).lower():
                yield from held.release()
                span = (piece.offset, piece.offset + len(piece.data))
                raise ZstdDamage(piece.offset, span, f"corrupt zstd block at byte {piece.offset} of the compressed "
                                                     f"file ({err}); the text decoded before it is kept") from None
            span = (frame_start, piece.offset + len(piece.data))
            raise ZstdDamage(piece.offset, span, _unlocated(err, piece.offset, frame_start, held)) from None
        yield from held.add(text)
        if dobj.eof:  # the frame ended cleanly: its checksum (when it has one) vouches for the text held
            reader.unread(dobj.unused_data)
            yield from held.release()
            return
    yield from held.release()
    raise ZstdDamage(reader.offset, (reader.offset, reader.offset),
                     f"truncated zstd stream: the file ends at byte {reader.offset} inside the frame that starts at "
                     f"byte {frame_start}; the text of its whole blocks is kept")


def _unlocated(err: zstandard.ZstdError, found_at: int, frame_start: int, held: _Held) -> str:
    """The report of damage that the decoder could not pin to a block (e.g. the content checksum fails)."""
    text = (f"damaged zstd frame: {err} at byte {found_at} of the compressed file, the damage lying somewhere "
            f"from byte {frame_start} (the frame's start) to there; the {held.size:,} decoded bytes of the frame "
            f"held back, which its checksum could not vouch for, are dropped")
    if held.passed_on:
        text += (f"; its first {held.passed_on:,} decoded bytes were passed on before (the frame is too large to hold "
                 f"back) and may hold the damage: rebuild with --validate to replay every game")
    return text

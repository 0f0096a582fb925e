"""Damaged sources: a control byte skips only its game (named with file, offset and id); damage in a `.zst`
keeps every game decoded before it and reports the true compressed offset; text the frame checksum could not
vouch for is dropped; no failure leaves a temporary file behind."""
import io
import re

import pytest
import zstandard
from data_fixtures import pgn
from data_fixtures.built import kept_transcripts

from data_pipeline import build as build_mod
from data_pipeline import cli, control, read_manifest, shards, zst


def _build(src, out, **kw) -> dict:
    return build_mod.build(build_mod.BuildConfig(sources=(str(src),), out_dir=str(out), **kw))


def _game_ends(raw: bytes) -> list[int]:
    """Offset just past each game's result (its text without the trailing blank line)."""
    games = re.split(rb"(?<=\n\n)(?=\[Event )", raw)
    ends, at = [], 0
    for g in games:
        at += len(g)
        ends.append(at - (len(g) - len(g.rstrip())))
    return ends


def _complete_before(raw: bytes, decoded: int) -> int:
    """Games whose whole text lies in raw[:decoded]: what a build keeps of a stream decoded that far."""
    return sum(end <= decoded for end in _game_ends(raw))


# ---------------------------------------------------------------------------------------------- control bytes


def test_control_bytes_are_the_non_whitespace_bytes_below_space_and_del():
    expected = {b for b in range(256) if b < 0x20 and b not in b"\t\n\v\f\r" or b == 0x7F}
    assert set(control.CONTROL_BYTES) == expected
    for b in range(256):
        text = b"1. e4 e5" * 1000 + bytes([b]) + b" 2. Nf3"  # the byte past the first NumPy slice boundary too
        assert control.chunk_has_control_byte(text * 200) == control.has_control_byte(text) == (b in expected), b


def test_a_control_byte_skips_only_its_game_and_names_file_offset_and_id(tmp_path, capsys):
    text, truth = pgn.random_pgn(40, seed=11)
    games = re.split(r"(?<=\n\n)(?=\[Event )", text)
    games[5] = games[5].replace(" 2. ", " 2.\x00 ", 1) if " 2. " in games[5] else games[5].replace("\n\n", "\n\n\x00", 1)
    games[20] = games[20].replace('[White "a"]', '[White "a\x1b"]')  # ESC in a header
    text = "".join(games)
    src = tmp_path / "in.pgn"
    src.write_bytes(text.encode())
    args = ["build", "--source", str(src), "--out", str(tmp_path / "out"), "--workers", "2", "--shard-mb", "0.002"]
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    m = read_manifest(tmp_path / "out")
    assert m["counts"]["rejected"] == {"control_byte": 2} and m["counts"]["kept"] == 38
    for byte, game in ((b"\x00", 5), (b"\x1b", 20)):
        gid = truth[game]["site"][-8:]
        offset = text.encode().index(byte)
        assert (f"warning: {src}: skipped game {gid}: control byte 0x{byte[0]:02x} at byte {offset} of the file "
                f"(counted as control_byte)") in err
    kept = [t["transcript"] for i, t in enumerate(truth) if i not in (5, 20)]
    assert kept_transcripts(tmp_path / "out") == kept
    assert not list((tmp_path / "out").glob("*.tmp"))
    assert cli.main(args) == 0 and read_manifest(tmp_path / "out") == m  # a rerun reuses every shard
    assert "(" + str(m["shards"]) + " finished shards reused)" in capsys.readouterr().err


def test_a_control_byte_in_a_zst_is_located_in_the_decompressed_text(tmp_path, capsys):
    text, truth = pgn.random_pgn(30, seed=12)
    at = text.index("[Event ", 4000)
    text = text[:at] + text[at:].replace("1.", "1.\x07", 1)
    (tmp_path / "in.pgn.zst").write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(text.encode()))
    assert cli.main(["build", "--source", str(tmp_path / "in.pgn.zst"), "--out", str(tmp_path / "out"),
                     "--workers", "1"]) == 0
    offset = text.encode().index(b"\x07")
    assert f"control byte 0x07 at byte {offset} of the decompressed text" in capsys.readouterr().err
    assert read_manifest(tmp_path / "out")["counts"]["rejected"] == {"control_byte": 1}


def test_a_failed_shard_leaves_no_temporary_and_the_rerun_completes(tmp_path, monkeypatch):
    text, _ = pgn.random_pgn(40, seed=13)
    (tmp_path / "in.pgn").write_text(text)
    real = shards.ShardWriter.finalize
    written = []

    def disk_full_on_third(self, meta):
        written.append(self.number)
        if len(written) == 3:
            raise OSError(28, "No space left on device")
        real(self, meta)

    monkeypatch.setattr(shards.ShardWriter, "finalize", disk_full_on_third)
    with pytest.raises(OSError, match="No space left"):
        _build(tmp_path / "in.pgn", tmp_path / "out", shard_bytes=3000)
    assert not list((tmp_path / "out").glob("*.tmp"))
    monkeypatch.setattr(shards.ShardWriter, "finalize", real)
    m = _build(tmp_path / "in.pgn", tmp_path / "out", shard_bytes=3000)
    assert m["counts"]["kept"] == 40 and m["errors"] == []


# ------------------------------------------------------------------------------------------------- zstd damage


def _frames(raw: bytes, size: int) -> tuple[bytes, list[int]]:
    """One zstd frame (with checksum) per `size` bytes of text -> (file, compressed start of each frame + end)."""
    c = zstandard.ZstdCompressor(write_checksum=True)
    parts = [c.compress(raw[i:i + size]) for i in range(0, len(raw), size)]
    starts = [0]
    for p in parts:
        starts.append(starts[-1] + len(p))
    return b"".join(parts), starts


def _blocks(raw: bytes, size: int) -> tuple[bytes, list[int], list[int]]:
    """One frame whose blocks each hold `size` bytes of text -> (file, compressed start of each block, decoded
    start of each block); the block boundaries are the writer's own flushes."""
    cobj = zstandard.ZstdCompressor(write_checksum=True).compressobj()
    out, starts, decoded = b"", [], []
    for i in range(0, len(raw), size):
        out += cobj.compress(raw[i:i + size])
        flushed = cobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        header = zst.frame_header_size(flushed)[0] if i == 0 else 0  # the first flush carries the frame header
        starts.append(len(out) + header)
        decoded.append(i)
        out += flushed
    out += cobj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
    for a, b in zip(starts, starts[1:]):  # the writer's flushes are the file's blocks
        assert zst.block_size(out[a:a + 3]) == (b - a, False)
    return out, starts, decoded


def _flip(data: bytes, offset: int) -> bytes:
    b = bytearray(data)
    b[offset] ^= 1 << (offset * 7 % 8)
    return bytes(b)


def test_a_flipped_bit_keeps_every_game_of_the_frames_before_it(tmp_path):
    text, truth = pgn.random_pgn(60, seed=14)
    raw = text.encode()
    data, starts = _frames(raw, 2000)  # small frames: each a single block
    n_frames = len(starts) - 1
    for k, frame in enumerate((1, n_frames // 3, n_frames // 2, n_frames - 2)):
        lo, hi = starts[frame], starts[frame + 1]
        for flip in (lo + 2, lo + (hi - lo) // 2, hi - 2):  # the magic number, the block, the checksum
            src = tmp_path / f"f{k}-{flip}.pgn.zst"
            src.write_bytes(_flip(data, flip))
            m = _build(src, tmp_path / f"out-{k}-{flip}")
            expected = _complete_before(raw, frame * 2000)
            assert m["counts"]["kept"] == expected, (frame, flip)
            assert kept_transcripts(tmp_path / f"out-{k}-{flip}") == \
                [t["transcript"] for t in truth[:expected]]
            (error,) = m["errors"]
            d_lo, d_hi = error["damaged_bytes"]
            assert lo <= d_lo <= flip < d_hi <= hi and d_lo <= error["offset"] < d_hi, (frame, flip, error)


def test_damage_inside_a_large_frame_keeps_the_blocks_decoded_before_it(tmp_path):
    text, truth = pgn.random_pgn(120, seed=15)
    raw = text.encode()
    data, block_starts, decoded_starts = _blocks(raw, 6000)
    assert len(block_starts) >= 8
    kinds = set()
    for j in range(2, len(block_starts) - 1, 2):
        flip = (block_starts[j] + block_starts[j + 1]) // 2
        src = tmp_path / f"b{j}.pgn.zst"
        src.write_bytes(_flip(data, flip))
        m = _build(src, tmp_path / f"out{j}")
        (error,) = m["errors"]
        if error["offset"] == block_starts[j]:  # the decoder rejected this very block: what came before is kept
            kinds.add("block")
            expected = _complete_before(raw, decoded_starts[j])
            assert error["damaged_bytes"] == [block_starts[j], block_starts[j + 1]]
            assert f"corrupt zstd block at byte {block_starts[j]} " in error["error"]
        else:  # found later (by the checksum): the whole frame was held back, and is dropped
            kinds.add("checksum")
            expected = 0
            assert error["damaged_bytes"][0] == 0 and error["offset"] > flip and "could not vouch" in error["error"]
        assert m["counts"]["kept"] == expected
        assert kept_transcripts(tmp_path / f"out{j}") == \
            [t["transcript"] for t in truth[:expected]]
    assert kinds == {"block", "checksum"}  # both kinds of damage were met


def test_a_frame_too_large_to_hold_drops_only_the_window_its_checksum_failure_arrives_in():
    text, _ = pgn.random_pgn(120, seed=16)
    raw = text.encode()
    data, block_starts, decoded_starts = _blocks(raw, 6000)
    damaged = _flip(data, len(data) - 2)  # the content checksum itself
    got = []
    with pytest.raises(zst.ZstdDamage, match="could not vouch for.*were passed on before") as e:
        for piece in zst.decode(io.BytesIO(damaged), hold_bytes=20_000):
            got.append(piece)
    sizes = [b - a for a, b in zip(decoded_starts, [*decoded_starts[1:], len(raw)])]
    released, held = 0, 0
    for size in sizes:  # windows are passed on when the held text reaches hold_bytes
        held += size
        if held >= 20_000:
            released, held = released + held, 0
    assert b"".join(got) == raw[:released] and 0 < released < len(raw)
    assert e.value.offset == len(data) - 4  # where the checksum sits


def test_a_truncated_frame_keeps_its_whole_blocks(tmp_path):
    text, truth = pgn.random_pgn(120, seed=17)
    raw = text.encode()
    data, block_starts, decoded_starts = _blocks(raw, 6000)
    cut = block_starts[5] + 10
    (tmp_path / "cut.pgn.zst").write_bytes(data[:cut])
    m = _build(tmp_path / "cut.pgn.zst", tmp_path / "out")
    assert m["errors"][0]["offset"] == cut and "truncated" in m["errors"][0]["error"]
    assert m["counts"]["kept"] == _complete_before(raw, decoded_starts[5]) > 0

"""A corpus of damaged and malformed PGN inputs, each built by the real `transcend data build` in its own process.

Every build must end by itself (a timeout per build counts a hang), with exit status 0 (built), 1 (a source broke
off; what was decoded before is built) or 2 (bad input, one sentence), never a traceback; and every game it kept
must replay in python-chess (chess.pgn), move for move. Inputs whose damage can turn one legal-looking move into
another (bit flips in plain text, broken movetexts) are built with --validate; the others without it, so a
damaged game that slipped through (e.g. text the zstd checksum could not vouch for) would show.

    python -m tests.data_fixtures.fuzz OUT_DIR   # prints one JSON line: files, builds, tracebacks, hangs, ...
"""
from __future__ import annotations

import bz2
import collections
import concurrent.futures
import dataclasses
import gzip
import io
import json
import pathlib
import random
import subprocess
import sys
import time

import chess.pgn
import zstandard

from . import pgn
from .built import kept_transcripts

BUILD_TIMEOUT_S = 60
EXIT_STATUSES = (0, 1, 2)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str  # the file name; its suffix gives the format
    data: bytes
    validate: bool = False  # build with --validate


def _zst(data: bytes, frame: int | None = None) -> bytes:
    c = zstandard.ZstdCompressor(write_checksum=True)
    if frame is None:
        return c.compress(data)
    return b"".join(c.compress(data[i:i + frame]) for i in range(0, len(data), frame))


def _flip(data: bytes, offset: int, bit: int) -> bytes:
    b = bytearray(data)
    b[offset] ^= 1 << bit
    return bytes(b)


def _insert(text: bytes, at: int, what: bytes) -> bytes:
    return text[:at] + what + text[at:]


def corpus(seed: int = 0) -> list[Case]:
    """About 40 inputs, from sound files to junk; the same bytes for the same seed."""
    rng = random.Random(seed)
    text = pgn.random_pgn(40, seed=seed)[0].encode()
    mid = text.index(b"[Event ", len(text) // 2)
    packed, framed = _zst(text), _zst(text, 1500)
    return [
        *_sound(text, packed),
        *_broken_streams(text, packed, framed, rng),
        *_control_bytes(text, mid),
        *_junk(rng),
        *_malformed(text, mid),
        *_encodings(text),
        *_plain_flips(text, rng),
    ]


def _sound(text: bytes, packed: bytes) -> list[Case]:
    return [Case("sound.pgn", text), Case("sound.pgn.zst", packed), Case("sound.pgn.gz", gzip.compress(text)),
            Case("sound.pgn.bz2", bz2.compress(text))]


def _broken_streams(text: bytes, packed: bytes, framed: bytes, rng: random.Random) -> list[Case]:
    cases = [Case(f"cut-{k}.pgn.zst", packed[: len(packed) * k // 4 + 3]) for k in range(4)]
    cases += [Case(f"flip-{k}.pgn.zst", _flip(packed, rng.randrange(len(packed)), rng.randrange(8))) for k in range(4)]
    cases += [Case(f"frames-flip-{k}.pgn.zst", _flip(framed, rng.randrange(len(framed)), rng.randrange(8)))
              for k in range(4)]
    gz, bz = gzip.compress(text), bz2.compress(text)
    cases += [Case("cut.pgn.gz", gz[: len(gz) // 2]), Case("cut.pgn.bz2", bz[: len(bz) // 2]),
              Case("flip.pgn.gz", _flip(gz, len(gz) // 2, 3)), Case("not-zstd.pgn.zst", text)]
    return cases


def _control_bytes(text: bytes, mid: int) -> list[Case]:
    movetext = text.index(b"\n\n1.", mid) + 5
    return [Case("nul-movetext.pgn", _insert(text, movetext, b"\x00")),
            Case("nul-header.pgn", _insert(text, mid + 3, b"\x00")),
            Case("esc-and-del.pgn", _insert(_insert(text, movetext, b"\x1b[31m"), 20, b"\x7f")),
            Case("many-nuls.pgn", text.replace(b" e4 ", b" e4\x00 ")),
            Case("nul-in.pgn.zst", _zst(_insert(text, movetext, b"\x00")))]


def _junk(rng: random.Random) -> list[Case]:
    noise = bytes(rng.randrange(256) for _ in range(20_000))
    return [Case("binary.pgn", noise), Case("binary.pgn.zst", noise), Case("empty.pgn", b""),
            Case("empty.pgn.zst", _zst(b"")), Case("blank.pgn", b"\n \n\t\n" * 100),
            Case("prose.pgn", b"Dear diary, today I played chess [and lost].\n\n" * 200)]


def _malformed(text: bytes, mid: int) -> list[Case]:
    heads_only = b"".join(part for i, part in enumerate(text.split(b"\n\n")) if i % 2 == 0)
    moves_only = b"\n\n".join(part for i, part in enumerate(text.split(b"\n\n")) if i % 2 == 1)
    huge_line = b"1. e4 e5 " + b"{ " + b"x" * 2_000_000 + b" } 2. Nf3 Nc6 1-0"
    return [
        Case("headers-only.pgn", heads_only), Case("movetext-only.pgn", moves_only),
        Case("no-results.pgn", text.replace(b'[Result "', b'[Rslt "')),
        Case("huge-line.pgn", text[:mid] + b'[Event "x"]\n[Result "1-0"]\n[WhiteElo "1500"]\n[BlackElo "1500"]\n\n'
             + huge_line + b"\n\n" + text[mid:]),
        Case("huge-header.pgn", _insert(text, mid, b'[Annotator "' + b"y" * 1_000_000 + b'"]\n')),
        Case("nested-comments.pgn", text.replace(b"1-0\n", b"{ a { nested { deep } } } 1-0\n"), validate=True),
        Case("deep-variations.pgn", text.replace(b" 2. ", b" " + b"( 2. a3 " * 100 + b")" * 100 + b" 2. ", 3),
             validate=True),
        Case("unbalanced.pgn", text.replace(b" 3. ", b" ( { 3. ", 5), validate=True),
        Case("broken-moves.pgn", text.replace(b" 2. ", b" 2. Qz9 ", 4).replace(b" 4. ", b" 7. ", 4), validate=True),
        Case("glued-games.pgn", text.replace(b"\n\n[Event", b"\n[Event")),
        Case("garbage-between.pgn", text.replace(b"\n\n[Event", b"\n\nlorem ipsum\n\n[Event")),
    ]


def _encodings(text: bytes) -> list[Case]:
    latin = text.replace(b'[White "a"]', '[White "Jos\u00e9"]'.encode("latin-1"))
    return [Case("utf16.pgn", text.decode().encode("utf-16")), Case("latin1.pgn", latin),
            Case("bom.pgn", b"\xef\xbb\xbf" + text), Case("crlf.pgn", text.replace(b"\n", b"\r\n")),
            Case("cr-only.pgn", text.replace(b"\n", b"\r"))]


def _plain_flips(text: bytes, rng: random.Random) -> list[Case]:
    return [Case(f"text-flip-{k}.pgn", _flip(text, rng.randrange(len(text)), rng.randrange(8)), validate=True)
            for k in range(3)]


def run_case(case: Case, work: pathlib.Path, timeout_s: float = BUILD_TIMEOUT_S) -> dict:
    """Build one input in its own `transcend data build` process -> its exit status, traceback, hang, kept games."""
    folder = work / case.name.replace(".", "_")
    folder.mkdir(parents=True, exist_ok=True)
    src = folder / case.name
    src.write_bytes(case.data)
    cmd = [sys.executable, "-m", "experiments.cli", "data", "build", "--source", str(src), "--out",
           str(folder / "out"), "--workers", "1", "--shard-mb", "0.01", *(["--validate"] if case.validate else [])]
    result = {"name": case.name, "exit": None, "traceback": False, "hang": False, "kept": 0, "unparsable": 0}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        result["hang"] = True
        return result
    result["exit"] = proc.returncode
    result["traceback"] = "Traceback" in proc.stderr
    if (folder / "out" / "manifest.json").exists():
        transcripts = kept_transcripts(folder / "out")
        result["kept"] = len(transcripts)
        result["unparsable"] = sum(not replays(t) for t in transcripts)
    return result


def replays(transcript: str) -> bool:
    """python-chess's PGN reader takes the transcript as a game without errors, with one move per SAN token."""
    game = chess.pgn.read_game(io.StringIO(transcript + " *\n"))
    if game is None or game.errors:
        return False
    sans = [tok.split(".", 1)[-1] for tok in transcript.split(" ")]
    return len(list(game.mainline_moves())) == len(sans)


def run_corpus(work: pathlib.Path, parallel: int = 3, seed: int = 0) -> dict:
    """Build every input of the corpus -> the figures: files, builds, tracebacks, hangs, exit statuses, games."""
    t0 = time.monotonic()
    cases = corpus(seed)
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        results = list(pool.map(lambda c: run_case(c, work), cases))
    exits = collections.Counter(str(r["exit"]) for r in results if not r["hang"])
    return {"files": len(cases), "builds": len(results), "tracebacks": sum(r["traceback"] for r in results),
            "hangs": sum(r["hang"] for r in results), "exit_status": dict(sorted(exits.items())),
            "kept_games": sum(r["kept"] for r in results), "unparsable_kept_games": sum(r["unparsable"] for r in results),
            "seconds": round(time.monotonic() - t0, 1), "results": results}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.data_fixtures.fuzz OUT_DIR", file=sys.stderr)
        return 2
    figures = run_corpus(pathlib.Path(argv[0]))
    print(json.dumps({k: v for k, v in figures.items() if k != "results"}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

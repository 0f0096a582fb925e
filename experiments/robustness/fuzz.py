"""fuzz: damaged PGN inputs through `transcend data build`, counting tracebacks, hangs and exit codes.

The inputs are the data pipeline's fuzz corpus (`python -m tests.data_fixtures.fuzz DIR`) when the checkout has
one, else the damaged inputs below (40 kinds: NUL and control bytes, cut files, bit flips, broken compression,
bad encodings, non-PGN text, ...). An input passes when the build ends within the time limit with no
traceback and exit 0 (having kept at least one game: a build of nothing must say so), 1 (a source broke off
early: the data build's partial success, its shards valid) or 2 (bad input).
"""
from __future__ import annotations

import bz2
import collections
import gzip
import json
import pathlib
import random
import subprocess
import sys

import zstandard

from experiments.bench.ingest import random_pgn
from experiments.robustness.common import REPO, Outcome, env, log, run_cli

TIMEOUT_S = 120
DEFAULT_TRIALS = 100  # at most this many inputs


def run(work: pathlib.Path, trials: int, rng: random.Random) -> Outcome:
    outcome = Outcome("fuzz")
    root = outcome.fresh_root(work)
    inputs, source = _corpus(root / "corpus", rng)
    codes: collections.Counter[str] = collections.Counter()
    tracebacks = hangs = 0
    for path in inputs[:trials]:
        done = run_cli(["data", "build", "--source", str(path), "--out", str(root / "builds" / path.name),
                        "--workers", "1"], root / "logs" / f"{path.name}.log", timeout=TIMEOUT_S)
        codes[str(done.rc) if done.rc is not None else "hang"] += 1
        tracebacks += done.traceback
        hangs += done.rc is None
        outcome.record(path.name, _problem(done.rc, done.traceback, done.last_line(), root / "builds" / path.name))
    outcome.figures = {"inputs": outcome.trials, "source": source, "tracebacks": tracebacks, "hangs": hangs,
                       "exit_codes": dict(codes), "timeout_s": TIMEOUT_S}
    return outcome


def _problem(rc: int | None, traceback: bool, last: str, out: pathlib.Path) -> str | None:
    if rc is None:
        return f"hang: still running after {TIMEOUT_S} s"
    if traceback:
        return f"traceback (exit {rc}): {last}"
    if rc not in (0, 1, 2):
        return f"exit {rc}: {last}"
    if rc == 0:
        manifest = out / "manifest.json"
        kept = json.loads(manifest.read_text()).get("counts", {}).get("kept") if manifest.exists() else None
        if not kept:
            return f"exit 0 but no game kept (kept={kept}): a build of nothing should be an error"
    return None


def _corpus(root: pathlib.Path, rng: random.Random) -> tuple[list[pathlib.Path], str]:
    root.mkdir(parents=True, exist_ok=True)
    if (REPO / "tests" / "data_fixtures" / "fuzz.py").is_file():
        done = subprocess.run([sys.executable, "-m", "tests.data_fixtures.fuzz", str(root)], cwd=REPO, env=env(),
                              capture_output=True, text=True, timeout=600)
        # the fixture writes each input into a directory of its own (NAME/INPUT, with its build beside it in NAME/out)
        files = sorted(f for case in root.iterdir() if case.is_dir() for f in case.iterdir() if f.is_file())
        if done.returncode == 0 and files:
            log.info("fuzz: %d inputs from tests/data_fixtures/fuzz.py", len(files))
            return files, "tests/data_fixtures/fuzz.py"
        log.warning("fuzz: tests/data_fixtures/fuzz.py failed (%s); generating the inputs here", done.returncode)
    for name, data in generated_inputs(rng).items():
        if data is None:
            (root / name).mkdir()
        else:
            (root / name).write_bytes(data)
    return sorted(root.iterdir()), "experiments/robustness/fuzz.py"


def generated_inputs(rng: random.Random) -> dict[str, bytes | None]:
    """name -> bytes (None: a directory) of each damaged input; the file suffix says its compression."""
    good = random_pgn(30, seed=7)
    games = good.split(b"\n\n[")
    middle = len(good) // 2
    movetext = good.index(b"\n1. ") + 20  # inside the first game's moves
    zst = zstandard.ZstdCompressor(level=3).compress(good)

    def flipped(data: bytes, n: int, seed: int) -> bytes:
        r = random.Random(seed)
        out = bytearray(data)
        for _ in range(n):
            out[r.randrange(len(out))] ^= 1 << r.randrange(8)
        return bytes(out)

    def at(pos: int, insert: bytes) -> bytes:
        return good[:pos] + insert + good[pos:]

    return {
        "nul-in-movetext.pgn": at(movetext, b"\x00"),
        "nul-in-tag.pgn": good.replace(b'[White "w0"]', b'[White "w\x000"]', 1),
        "control-bytes.pgn": at(movetext, b"\x01\x02\x1b[31m"),
        "many-nuls.pgn": at(middle, b"\x00" * 4096),
        "cut-in-tag.pgn": good[: good.index(b'[Result', 200) + 5],
        "cut-in-movetext.pgn": good[: movetext + 7],
        "cut-at-half.pgn": good[:middle],
        **{f"bit-flips-{k}.pgn": flipped(good, 20, k) for k in range(4)},
        "random-bytes.pgn": bytes(rng.randrange(256) for _ in range(20_000)),
        "empty.pgn": b"",
        "whitespace-only.pgn": b"\n\n   \n\t\n",
        "tags-only.pgn": b'[Event "x"]\n[White "a"]\n[Black "b"]\n[Result "1-0"]\n\n',
        "not-pgn-readme.pgn": b"# A README\n\nThis is not a chess game file.\n" * 50,
        "latin1-names.pgn": good.replace(b'"w1"', b'"J\xf6rg \xe9\xe8"', 1),
        "invalid-utf8.pgn": at(movetext, b"\xff\xfe\xc3\x28"),
        "utf8-bom.pgn": b"\xef\xbb\xbf" + good,
        "crlf.pgn": good.replace(b"\n", b"\r\n"),
        "cr-only.pgn": good.replace(b"\n", b"\r"),
        "one-huge-line.pgn": b"1. e4 " * 200_000,
        "unclosed-comment.pgn": at(movetext, b" { never closed "),
        "unclosed-variation.pgn": at(movetext, b" ( 1... d5 2. c4 "),
        "illegal-moves.pgn": good.replace(b"1. ", b"1. Qxh8 Ke9 ", 3),
        "garbage-san.pgn": good.replace(b"2. ", b"2. zz9 @@ ", 3),
        "bad-elo.pgn": good.replace(b"WhiteElo \"", b"WhiteElo \"-9x", 5).replace(b"BlackElo \"", b"BlackElo \"99999999", 5),
        "missing-result.pgn": b"\n\n[".join(g.replace(b'[Result "', b'[Rslt "') for g in games),
        "duplicate-games.pgn": good + good,
        "long-tag-value.pgn": good.replace(b'[Event "', b'[Event "' + b"x" * 100_000, 1),
        "only-moves-no-tags.pgn": b"1. e4 e5 2. Nf3 Nc6 1-0\n\n" * 20,
        "bit-flip.pgn.zst": flipped(zst, 1, 11),
        "bit-flips.pgn.zst": flipped(zst, 8, 12),
        "truncated.pgn.zst": zst[: len(zst) // 2],
        "empty.pgn.zst": b"",
        "plain-text-named.pgn.zst": good,
        "zst-then-garbage.pgn.zst": zst + b"garbage after the frame",
        "truncated.pgn.gz": gzip.compress(good)[: len(gzip.compress(good)) // 2],
        "truncated.pgn.bz2": bz2.compress(good)[: len(bz2.compress(good)) // 2],
        "unknown-suffix.txt": good,
        "a-directory.pgn": None,
    }

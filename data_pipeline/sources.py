"""Where games come from: local PGN files (plain, .zst, .gz, .bz2), streamed in blocks, and Lichess monthly dumps
(`lichess:YYYY-MM`), downloaded with resume into a cache directory and checked against the published SHA-256."""
from __future__ import annotations

import bz2
import datetime
import gzip
import hashlib
import os
import pathlib
import re
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator

from data_pipeline import zst

BLOCK = 1 << 20
LICHESS_BASE_URL = os.environ.get("TRANSCEND_LICHESS_URL", "https://database.lichess.org/standard")
_LICHESS_SPEC = re.compile(r"lichess:(\d{4})-(\d{2})")
FIRST_LICHESS_MONTH = (2013, 1)


class StreamError(Exception):
    """A compressed stream ended early or is corrupt: the file, the compressed byte offset where it was found,
    and the compressed bytes [span[0], span[1]) that hold the damage."""

    def __init__(self, path: str, offset: int, why: str, span: tuple[int, int] | None = None) -> None:
        super().__init__(f"{path}: {why}. Re-download or repair the file, then rerun the build (finished shards "
                         f"are reused).")
        self.path, self.offset, self.why = path, offset, why
        self.span = span or (offset, offset)


def iter_blocks(path: str | os.PathLike, hold_bytes: int = zst.HOLD_BYTES) -> Iterator[bytes]:
    """Decompressed blocks of a PGN file, never the whole file in memory. Raises StreamError at the bad offset,
    after yielding the text decoded before the damage (for .zst, the rules of `data_pipeline.zst`, which holds back
    up to `hold_bytes` of a frame's text until its checksum vouches for it)."""
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"PGN source {path!r} does not exist (pass a .pgn, .pgn.zst, .pgn.gz or .pgn.bz2 file, "
                                f"or lichess:YYYY-MM)")
    if path.endswith(".zst"):
        with open(path, "rb") as f:
            try:
                yield from zst.decode(f, hold_bytes)
            except zst.ZstdDamage as e:
                raise StreamError(path, e.offset, e.why, e.span) from None
    elif path.endswith((".gz", ".bz2")):
        opener = gzip.open if path.endswith(".gz") else bz2.open
        with open(path, "rb") as raw, opener(raw, "rb") as f:
            while True:
                try:
                    block = f.read(BLOCK)
                except (EOFError, OSError, zlib.error) as e:
                    raise StreamError(path, raw.tell(), f"corrupt or truncated stream ({e}) at byte {raw.tell()} of the "
                                                        f"compressed file; the text decoded before it is kept") from e
                if not block:
                    return
                yield block
    else:
        with open(path, "rb") as f:
            while block := f.read(BLOCK):
                yield block


# ----------------------------------------------------------------------------------------------- Lichess dumps


def lichess_file_name(spec: str, today: datetime.date | None = None) -> str:
    """`lichess:YYYY-MM` -> the dump's file name; the month must be one Lichess publishes: 2013-01 up to now."""
    today = today or datetime.datetime.now(datetime.UTC).date()
    m = _LICHESS_SPEC.fullmatch(spec)
    month = (int(m.group(1)), int(m.group(2))) if m else None
    if month is None or not 1 <= month[1] <= 12 or not FIRST_LICHESS_MONTH <= month <= (today.year, today.month):
        raise ValueError(f"bad Lichess source {spec!r}: write lichess:YYYY-MM with a month (01-12) from "
                         f"{FIRST_LICHESS_MONTH[0]}-{FIRST_LICHESS_MONTH[1]:02d} (the first dump) to "
                         f"{today.year}-{today.month:02d}, e.g. lichess:2013-01")
    return f"lichess_db_standard_rated_{month[0]}-{month[1]:02d}.pgn.zst"


def resolve_source(spec: str, cache_dir: str | os.PathLike, base_url: str | None = None) -> str:
    """A local path stays as it is; `lichess:YYYY-MM` is downloaded (resumably) and verified, then its path returned."""
    if not spec.startswith("lichess:"):
        return spec
    name = lichess_file_name(spec)
    base_url = (base_url or LICHESS_BASE_URL).rstrip("/")
    cache = pathlib.Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / name
    if final.exists():
        return str(final)
    try:
        expected = _published_sha256(base_url, name)
        part = cache / (name + ".part")
        _download_resumable(f"{base_url}/{name}", part)
    except (urllib.error.URLError, OSError) as e:
        raise ConnectionError(
            f"cannot download {spec} from {base_url} ({e}). Offline? Download {base_url}/{name} elsewhere "
            f"and pass the local file instead: --source /path/to/{name}") from e
    digest = _sha256_file(part)
    if digest != expected:
        part.unlink()
        raise ValueError(f"{name}: SHA-256 {digest} does not match the published {expected}; the partial download "
                         f"was deleted, rerun to download it again")
    os.replace(part, final)  # only a verified file ever carries the final name
    return str(final)


def _published_sha256(base_url: str, name: str) -> str:
    with urllib.request.urlopen(f"{base_url}/sha256sums.txt", timeout=30) as r:
        for line in r.read().decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].lstrip("*") == name:
                return parts[0].lower()
    raise ValueError(f"{name} is not listed in {base_url}/sha256sums.txt (is the month published yet?)")


def _download_resumable(url: str, part: pathlib.Path) -> None:
    """Append to `part` from where it stopped (HTTP Range); start over when the server ignores the range."""
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416:  # requested range starts at the end: the file is complete
            return
        raise
    with resp:
        if have and resp.status != 206:
            have = 0  # no range support: restart
        total = have + int(resp.headers.get("Content-Length", 0) or 0)
        with open(part, "ab" if have else "wb") as out, tqdm(total=total or None, initial=have, unit="B",
                                                             unit_scale=True, desc=part.name) as bar:
            while chunk := resp.read(BLOCK):
                out.write(chunk)
                bar.update(len(chunk))


def _sha256_file(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 * BLOCK):
            h.update(block)
    return h.hexdigest()

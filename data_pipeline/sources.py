"""Where games come from: local PGN files (plain, .zst, .gz, .bz2), streamed in blocks, and Lichess monthly dumps
(`lichess:YYYY-MM`), downloaded with resume into a cache directory and checked against the published SHA-256."""
from __future__ import annotations

import bz2
import gzip
import hashlib
import os
import pathlib
import re
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator

import zstandard

BLOCK = 1 << 20
LICHESS_BASE_URL = os.environ.get("TRANSCEND_LICHESS_URL", "https://database.lichess.org/standard")
_LICHESS_SPEC = re.compile(r"lichess:(\d{4})-(\d{2})")


class StreamError(Exception):
    """A compressed stream ended early or is corrupt; names the file and the byte offset."""

    def __init__(self, path: str, offset: int, why: str) -> None:
        super().__init__(f"{path}: {why} at byte {offset} of the compressed file; games before it are kept. "
                         f"Re-download or repair the file, then rerun the build (finished shards are reused).")
        self.path, self.offset, self.why = path, offset, why


def iter_blocks(path: str | os.PathLike) -> Iterator[bytes]:
    """Decompressed blocks of a PGN file, never the whole file in memory. Raises StreamError at the bad offset."""
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"PGN source {path!r} does not exist (pass a .pgn, .pgn.zst, .pgn.gz or .pgn.bz2 file, "
                                f"or lichess:YYYY-MM)")
    if path.endswith(".zst"):
        yield from _zst_blocks(path)
    elif path.endswith((".gz", ".bz2")):
        opener = gzip.open if path.endswith(".gz") else bz2.open
        with open(path, "rb") as raw, opener(raw, "rb") as f:
            while True:
                try:
                    block = f.read(BLOCK)
                except (EOFError, OSError, zlib.error) as e:
                    raise StreamError(path, raw.tell(), f"corrupt or truncated stream ({e})") from e
                if not block:
                    return
                yield block
    else:
        with open(path, "rb") as f:
            while block := f.read(BLOCK):
                yield block


def _zst_blocks(path: str) -> Iterator[bytes]:
    """zstandard's stream reader ends silently on a truncated frame, so frames are tracked here; a corrupt frame
    is reported at its first byte."""
    dctx = zstandard.ZstdDecompressor()
    with open(path, "rb") as f:
        block_start = 0
        frame_start = 0
        dobj = None
        while raw := f.read(BLOCK):
            block_end = block_start + len(raw)
            while raw:
                if dobj is None:
                    dobj = dctx.decompressobj()
                    frame_start = block_end - len(raw)
                try:
                    out = dobj.decompress(raw)
                except zstandard.ZstdError as e:
                    raise StreamError(path, frame_start, f"corrupt zstd frame ({e})") from e
                if out:
                    yield out
                if dobj.eof:  # frame finished; anything left over starts the next frame
                    raw = dobj.unused_data
                    dobj = None
                else:
                    raw = b""
            block_start = block_end
        if dobj is not None:
            raise StreamError(path, block_start, "truncated zstd stream (the file ends inside a frame)")


# ----------------------------------------------------------------------------------------------- Lichess dumps


def lichess_file_name(spec: str) -> str:
    m = _LICHESS_SPEC.fullmatch(spec)
    if not m:
        raise ValueError(f"bad Lichess source {spec!r}: write lichess:YYYY-MM, e.g. lichess:2013-01")
    return f"lichess_db_standard_rated_{m.group(1)}-{m.group(2)}.pgn.zst"


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

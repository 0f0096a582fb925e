"""Files that are never half-written: atomic replacement, durable JSONL appends, and one JSONL reader.

Every part of the project writes its outputs through these (shards' manifest, run configs, ratings,
populations, reports, game records), so a kill at any moment leaves either the old file or the new
one, and an append-only log at worst a cut last line, which `read_jsonl` ignores and
`repair_jsonl` removes. This package imports nothing from the repository: `data_pipeline` and
`arena`, which import no other part, may use it.
"""
from __future__ import annotations

import json
import logging
import os
import pathlib
from typing import Any

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_text_atomic(path: PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: PathLike, obj: Any, indent: int | None = 2) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent) + "\n")


def append_line(path: PathLike, line: str) -> None:
    """Append one line (a newline is added) and flush it to disk before returning."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def append_jsonl(path: PathLike, obj: Any) -> None:
    append_line(path, json.dumps(obj, sort_keys=True))


def read_jsonl(path: PathLike) -> list[Any]:
    """Every complete line of a JSONL file; [] when it does not exist.

    A last line without its newline was cut by a kill mid-write and is ignored; any other line that
    is not JSON is corruption, reported with the file and line number.
    """
    path = pathlib.Path(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    complete = lines[:-1]  # the piece after the last newline is "" or a cut line
    rows = []
    for lineno, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: line {lineno} is not valid JSON ({err}); the file is corrupt: "
                             "move it aside to start it again") from None
    return rows


def repair_jsonl(path: PathLike) -> int:
    """Cut a partial last line left by an interrupted append; returns the bytes removed (0 when intact)."""
    path = pathlib.Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with open(path, "r+b") as f:
        f.truncate(keep)
    log.warning("%s: dropped a partial last line (%d bytes) left by an interrupted write", path, len(data) - keep)
    return len(data) - keep

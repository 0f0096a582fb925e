"""On-disk format: ArrayRecord shards (one record per game), a NumPy index per shard, and manifest.json.

A record is an 8-byte header (`<HHBBH`: white_elo, black_elo, result, time-control class, plies) followed by
the game's token ids (`tokenizer.encode_game(transcript, white_elo, black_elo)`) in the manifest's `token_dtype`:
uint8 for char32, little-endian uint16 for the move tokenizers (a manifest without the key is uint8).
A shard is finished when its index file exists: the index is renamed into place last, after the records, so an
interrupted build never leaves a half shard that looks finished.
"""
from __future__ import annotations

import io
import json
import os
import pathlib
import struct

import numpy as np
from array_record.python import array_record_module

import safeio

RECORD_HEADER = struct.Struct("<HHBBH")
# manifest "token_dtype" -> how records store token ids
TOKEN_DTYPES: dict[str, np.dtype] = {"uint8": np.dtype("u1"), "uint16": np.dtype("<u2")}
# One record per chunk, uncompressed: the shuffled loader reads single games, and zstd saves only ~25% on
# 300-byte records while costing 4x the write time and 2x the read time.
WRITER_OPTIONS = "group_size:1,uncompressed"
INDEX_FIELDS = {"white_elo": np.uint16, "black_elo": np.uint16, "result": np.uint8, "time_control": np.uint8,
                "plies": np.uint16, "split": np.uint8, "n_tokens": np.uint32}
SPLITS = ("train", "validation")
MANIFEST = "manifest.json"
CUTOFFS = tuple(range(800, 2500, 100))


def record_format(token_dtype: str) -> str:
    """The record layout in words, as the manifest states it."""
    return (f"header <HHBBH (white_elo, black_elo, result 0=1-0/1=0-1/2=draw, time_control, plies) + "
            f"{token_dtype} tokens")


def dtype_name(token_dtype: type[np.unsignedinteger] | np.dtype) -> str:
    """A tokenizer's token dtype as the manifest names it ("uint8", "uint16")."""
    name = np.dtype(token_dtype).name
    if name not in TOKEN_DTYPES:
        raise ValueError(f"token dtype {name} cannot be stored in records; use one of {', '.join(TOKEN_DTYPES)}")
    return name


def record_dtype(token_dtype: type[np.unsignedinteger] | np.dtype) -> np.dtype:
    """How records store a tokenizer's ids (explicitly little-endian)."""
    return TOKEN_DTYPES[dtype_name(token_dtype)]


def token_dtype(manifest: dict) -> np.dtype:
    """How this data directory's records store token ids (manifests older than the key: uint8)."""
    name = manifest.get("token_dtype", "uint8")
    if name not in TOKEN_DTYPES:
        raise ValueError(f"manifest token_dtype {name!r} is not one of {', '.join(TOKEN_DTYPES)}: the manifest was "
                         f"edited or written by a newer version; rebuild the shards with `transcend data build`")
    return TOKEN_DTYPES[name]


def decode_record(record: bytes, dtype: np.dtype = TOKEN_DTYPES["uint8"]) -> tuple[tuple[int, int, int, int, int], np.ndarray]:
    """A record -> ((white_elo, black_elo, result, time control, plies), token ids as stored, in `dtype`)."""
    return RECORD_HEADER.unpack_from(record), np.frombuffer(record, dtype, offset=RECORD_HEADER.size)


def shard_name(number: int) -> str:
    return f"shard-{number:05d}"


def record_path(data_dir: str | os.PathLike, number: int) -> pathlib.Path:
    return pathlib.Path(data_dir) / f"{shard_name(number)}.array_record"


def index_path(data_dir: str | os.PathLike, number: int) -> pathlib.Path:
    return pathlib.Path(data_dir) / f"{shard_name(number)}.index.npz"


class ShardWriter:
    """Writes one shard under temporary names; `finalize` renames records first, then the index (the marker)."""

    def __init__(self, data_dir: str | os.PathLike, number: int, token_dtype: np.dtype = TOKEN_DTYPES["uint8"]) -> None:
        self.number = number
        self._token_bytes = np.dtype(token_dtype).itemsize
        self.final_records, self.final_index = record_path(data_dir, number), index_path(data_dir, number)
        self.tmp_records = self.final_records.with_name(self.final_records.name + ".tmp")
        self._writer = array_record_module.ArrayRecordWriter(str(self.tmp_records), WRITER_OPTIONS)
        self._rows: list[tuple[int, ...]] = []

    def add_many(self, games: list[tuple[int, int, int, int, int, int, bytes]]) -> None:
        """games: (white, black, result, time control, plies, split, token bytes in the writer's dtype) each, in
        record order."""
        write, pack, rows, width = self._writer.write, RECORD_HEADER.pack, self._rows, self._token_bytes
        for white, black, result, tc, plies, split, tokens in games:
            plies = min(plies, 65535)
            write(pack(white, black, result, tc, plies) + tokens)
            rows.append((white, black, result, tc, plies, split, len(tokens) // width))

    def finalize(self, meta: dict) -> None:
        """Close the records and move them into place, then write the index (with `meta`): the shard is done."""
        self._writer.close()
        table = np.asarray(self._rows, dtype=np.int64).reshape(-1, len(INDEX_FIELDS))
        arrays = {k: table[:, i].astype(dt) for i, (k, dt) in enumerate(INDEX_FIELDS.items())}
        index = io.BytesIO()
        np.savez(index, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
        os.replace(self.tmp_records, self.final_records)  # written by ArrayRecord under its temporary name
        safeio.write_bytes_atomic(self.final_index, index.getvalue())

    def abort(self) -> None:
        """Give up this shard: close and delete its temporary records (a finished shard is never touched)."""
        try:
            self._writer.close()
        finally:
            self.tmp_records.unlink(missing_ok=True)


def load_shard_index(data_dir: str | os.PathLike, number: int) -> tuple[dict[str, np.ndarray], dict]:
    """-> (index arrays, shard meta). Raises FileNotFoundError when the shard is not finished."""
    with np.load(index_path(data_dir, number)) as z:
        arrays = {k: z[k] for k in INDEX_FIELDS}
        meta = json.loads(str(z["meta"]))
    return arrays, meta


def load_index(data_dir: str | os.PathLike, shards: list[int]) -> dict[str, np.ndarray]:
    """All shards' index fields concatenated, plus `shard` and `record` (position inside its shard)."""
    parts = [load_shard_index(data_dir, n)[0] for n in shards]
    out = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, dt) for k, dt in INDEX_FIELDS.items()}
    sizes = [p["split"].size for p in parts]
    out["shard"] = np.repeat(np.asarray(shards, dtype=np.int32), sizes)
    out["record"] = np.concatenate([np.arange(s, dtype=np.int64) for s in sizes]) if sizes else np.zeros(0, np.int64)
    return out


def summarize(index: dict[str, np.ndarray], cutoffs: tuple[int, ...] = CUTOFFS) -> dict:
    """Manifest figures computed from the index: games/tokens per split, histograms, counts per cutoff."""
    white, black = index["white_elo"].astype(np.int64), index["black_elo"].astype(np.int64)
    top = np.maximum(white, black)
    out: dict = {"games": {}, "tokens": {}, "counts_per_cutoff_by_split": {}}
    for s, name in enumerate(SPLITS):
        sel = index["split"] == s
        out["games"][name] = int(sel.sum())
        out["tokens"][name] = int(index["n_tokens"][sel].sum())
        out["counts_per_cutoff_by_split"][name] = {str(c): int((top[sel] <= c).sum()) for c in cutoffs}
    out["counts_per_cutoff"] = {str(c): int((top <= c).sum()) for c in cutoffs}
    players = np.concatenate([white, black])
    out["rating_min"] = int(players.min()) if players.size else None
    out["rating_max"] = int(players.max()) if players.size else None

    def hist(values: np.ndarray) -> dict[str, int]:
        bins, counts = np.unique(values // 100 * 100, return_counts=True)
        return {str(int(b)): int(c) for b, c in zip(bins, counts)}

    out["rating_histogram"] = {"bin_width": 100, "max_of_both": hist(top), "players": hist(players)}
    return out


def read_manifest(data_dir: str | os.PathLike) -> dict:
    """The parsed manifest.json of a built data directory: the one way every part of the project reads it.

    Raises FileNotFoundError naming the path when the build has not finished (the manifest is written last),
    and ValueError naming the path when the file is not a JSON object (corrupt or edited by hand); both say how
    to fix it.
    """
    path = pathlib.Path(data_dir) / MANIFEST
    rebuild = f"`transcend data build --source FILE.pgn.zst --out {data_dir}`"
    if not pathlib.Path(data_dir).is_dir():
        raise FileNotFoundError(f"data directory {str(data_dir)!r} does not exist: pass the --out directory of a "
                                f"finished build, or build one with {rebuild}")
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: build the shards first with {rebuild} (or finish that build)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}): the manifest is corrupt; rerun the build that made it, "
                         f"{rebuild} (finished shards are reused)") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{path} holds a JSON {type(manifest).__name__}, not the manifest's object: rerun the build "
                         f"that made it, {rebuild} (finished shards are reused)")
    return manifest

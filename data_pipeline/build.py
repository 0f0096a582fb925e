"""`transcend data build`: PGN sources -> rating-indexed ArrayRecord shards + manifest.json, in parallel, resumable.

The main process streams each source, cuts it at game boundaries into raw chunks of about `shard_bytes`
(one chunk = one shard), and decides duplicates in stream order: it passes each chunk the Lichess ids that
already appeared in earlier chunks. Workers split, filter, normalize, tokenize and write their shard.
A rerun with the same settings skips every shard whose index exists and whose raw chunk (length and CRC)
is unchanged, so an interrupted build resumes where it stopped; nothing that stops a build (an error, Ctrl-C)
leaves a temporary file or a half shard behind.

Damage costs only what it touches: a game holding a control byte is skipped and reported (data_pipeline.control),
a broken compressed source keeps the games decoded before the damage (data_pipeline.zst for .zst files).
"""
from __future__ import annotations

import collections
import dataclasses
import json
import logging
import os
import pathlib
import re
import time
import zlib
from collections.abc import Iterator

import numpy as np

import safeio
from data_pipeline import control, dedup, filters, inputs, normalize, pool, shards, sources
from data_pipeline.move_tokenizer import MoveTokenizer
from data_pipeline.reasons import Reason
from data_pipeline.tokenizer import CharTokenizer, Tokenizer, get_tokenizer

log = logging.getLogger(__name__)

_SITE_ID = re.compile(rb'\[Site\s+"[^"\n]*lichess\.org/([A-Za-z0-9]{8})')  # literal start: a fast scan
_VAL_BUCKETS = 1_000_000
MAX_REPORTED = 10  # damaged games a shard's meta names and the build logs (all of them are counted)
_Kept = tuple[int, bytes, int]  # a game that passed the filters: (position in the chunk, transcript, plies)


@dataclasses.dataclass(frozen=True)
class BuildConfig:
    sources: tuple[str, ...]
    out_dir: str
    filters: filters.FilterSpec = filters.FilterSpec()
    workers: int = 1
    shard_bytes: int = 64 << 20  # raw PGN bytes per shard
    val_fraction: float = 0.01
    tokenizer: str = "char32"
    cache_dir: str = "cache/lichess"

    def __post_init__(self) -> None:
        inputs.check_settings(self.val_fraction)

    def settings(self) -> dict:
        """What must match for a rerun to reuse finished shards."""
        return json.loads(json.dumps({"sources": list(self.sources), "filters": dataclasses.asdict(self.filters),
                                      "shard_bytes": self.shard_bytes, "val_fraction": self.val_fraction,
                                      "tokenizer": self.tokenizer}))


@dataclasses.dataclass
class Job:
    number: int
    source: str
    chunk: bytes
    prior_ids: frozenset
    crc: int
    truncated_tail: int  # 1 when the stream broke inside this chunk's last game
    offset: int = 0  # where the chunk starts in its source's (decompressed) text


def _val_threshold(fraction: float) -> int:
    return int(round(fraction * _VAL_BUCKETS))


def is_validation(key: bytes, fraction: float) -> bool:
    """Stable split: CRC-32 of the Lichess id (or of the game's text when it has none)."""
    return zlib.crc32(key) % _VAL_BUCKETS < _val_threshold(fraction)


def _crc32_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1).astype(np.uint32)
    return table


_CRC32_TABLE = _crc32_table()


def validation_flags(keys: list[bytes], fraction: float) -> list[int]:
    """`is_validation` for many keys: the 8-byte Lichess ids get zlib's CRC-32 computed with NumPy, all at once."""
    flags = [0] * len(keys)
    ids = [i for i, k in enumerate(keys) if len(k) == 8]  # Lichess ids (any 8-byte key gives the same CRC)
    if ids:
        data = np.frombuffer(b"".join([keys[i] for i in ids]), np.uint8).reshape(-1, 8)
        crc = np.full(len(ids), 0xFFFFFFFF, np.uint32)
        for byte in range(8):
            crc = _CRC32_TABLE[(crc ^ data[:, byte]) & 0xFF] ^ (crc >> np.uint32(8))
        crc ^= np.uint32(0xFFFFFFFF)
        for i, v in zip(ids, (crc % _VAL_BUCKETS < _val_threshold(fraction)).tolist()):
            flags[i] = int(v)
    for i, k in enumerate(keys):
        if len(k) != 8:
            flags[i] = int(is_validation(k, fraction))
    return flags


def split_rule(fraction: float) -> str:
    """The split rule in words, as the manifest records it."""
    return (f"validation iff crc32(key) % {_VAL_BUCKETS} < {_val_threshold(fraction)}, key = the "
            f"8-character Lichess game id from Site, else the game's header block + movetext bytes")


def process_chunk(job: Job, out_dir: str, spec: filters.FilterSpec, val_fraction: float, tokenizer: str) -> dict:
    """Worker: one raw chunk -> one finished shard. Returns the shard's meta (counts by reason, sizes)."""
    heads, movetexts, garbage = normalize.split_chunk(job.chunk)
    damaged = control.find_damaged_games(job.chunk, heads, movetexts)
    rejected: collections.Counter[str] = collections.Counter()
    screened = _screen_headers(heads, job.prior_ids, spec, {d.position for d in damaged}, rejected)
    passed, rows, gids = screened.passed, screened.fields, screened.game_ids
    good = _screen_movetexts(passed, [movetexts[i] for i in passed], spec, rejected)
    tok = get_tokenizer(tokenizer)
    encoded = _encode_games(tok, good, rows, rejected)
    event_unknown = sum(screened.events[i] == filters.EVENT_ID["unknown"] for (i, _, _), _ in encoded)
    if job.truncated_tail:
        rejected[Reason.truncated_stream.name] += job.truncated_tail
    meta = {"shard": job.number, "source": job.source, "chunk_bytes": len(job.chunk), "chunk_crc32": job.crc,
            "raw_games": len(heads) + job.truncated_tail,
            "kept": len(heads) - sum(rejected.values()) + job.truncated_tail,
            "rejected": dict(rejected), "garbage_paragraphs": garbage, "tagged_games": screened.tagged,
            "event_unknown": event_unknown,
            "damaged": [d.describe(job.source, job.offset) for d in damaged[:MAX_REPORTED]]}
    # A game without a Lichess id is split by its own text.
    games = [(rows[i], gids[i] or heads[i] + b"\n\n" + movetexts[i], ids, plies) for (i, _, plies), ids in encoded]
    _write_shard(out_dir, job.number, games, val_fraction, tok, meta)
    return meta


@dataclasses.dataclass
class _Screened:
    passed: list[int]  # positions of the games that pass
    fields: list[list[int]]  # header fields per game
    game_ids: list[bytes | None]  # Lichess id or None per game
    events: list[int]  # filters.EVENT_ID per game: what its Event tag says (rated, casual, unknown)
    tagged: int  # games with at least one `[Tag "value"]` line: PGN games, whatever their fate


def _screen_headers(heads: list[bytes], prior_ids: frozenset, spec: filters.FilterSpec, damaged: set[int],
                    rejected: collections.Counter[str]) -> _Screened:
    """Duplicates (by Lichess id, earlier chunks' ids in `prior_ids`) and header rules, counted into `rejected`;
    the games at the `damaged` positions are skipped first, as control_byte."""
    header_reasons, fields, gids, events = filters.check_games(heads, spec)  # whole chunk at once
    seen: set[bytes] = set()
    passed: list[int] = []
    tagged, bad_result = 0, Reason.bad_result.name
    for i, (gid, reason) in enumerate(zip(gids, header_reasons)):
        # A missing Result is bad_result: only those games need a look for any tag at all.
        tagged += reason != bad_result or bool(normalize.parse_headers(heads[i]))
        if i in damaged:
            rejected[Reason.control_byte.name] += 1
            continue
        if gid is not None:
            if gid in prior_ids or gid in seen:
                rejected[Reason.duplicate.name] += 1
                continue
            seen.add(gid)
        if reason:
            rejected[reason] += 1
        else:
            passed.append(i)
    return _Screened(passed, fields.tolist(), gids, events.tolist(), tagged)


def _screen_movetexts(positions: list[int], movetexts: list[bytes], spec: filters.FilterSpec,
                      rejected: collections.Counter[str]) -> list[_Kept]:
    """Normalize the movetexts, then the length filter and the optional replay, counted into `rejected`.

    -> (position, transcript, plies) of each game kept, in order.
    """
    good: list[_Kept] = []
    for i, (transcript, reason, plies) in zip(positions, normalize.normalize_movetexts(movetexts)):
        if reason is None and plies < spec.min_plies:
            reason = Reason.filtered_min_plies.name
        if reason is None and spec.validate and not normalize.validate_transcript(transcript):
            reason = Reason.illegal_move.name
        if reason:
            rejected[reason] += 1
        else:
            good.append((i, transcript, plies))
    return good


def _write_shard(out_dir: str, number: int, games: list[tuple[list[int], bytes, bytes, int]], val_fraction: float,
                 tok: Tokenizer, meta: dict) -> None:
    """games: (header fields, split key, token bytes, plies) each; records in this order, then the index."""
    splits = validation_flags([key for _, key, _, _ in games], val_fraction)
    writer = shards.ShardWriter(out_dir, number, shards.record_dtype(tok.token_dtype))
    try:
        writer.add_many([(*row, plies, split, ids) for (row, _, ids, plies), split in zip(games, splits)])
        writer.finalize(meta)
    except BaseException:  # an error or Ctrl-C mid-shard: no temporary is left behind
        writer.abort()
        raise


def _encode_games(tok: Tokenizer, good: list[_Kept], fields: list[list[int]],
                  rejected: collections.Counter[str]) -> list[tuple[_Kept, bytes]]:
    """Each kept game with its record tokens (`tok.encode_game`, as stored bytes); `fields` are the chunk's header
    fields (white_elo, black_elo first). A character tokenizer encodes the whole chunk in one call; a move
    tokenizer replays each game, and a game that does not replay is left out, counted as illegal_move."""
    if isinstance(tok, CharTokenizer):
        ids = tok.encode_bytes(b";" + b";".join(t for _, t, _ in good)).tobytes()
        out, pos = [], 0
        for game in good:
            out.append((game, ids[pos:pos + len(game[1]) + 1]))
            pos += len(game[1]) + 1
        return out
    dtype = shards.record_dtype(tok.token_dtype)
    encoded = []
    for game in good:
        white, black = fields[game[0]][:2]
        try:
            encoded.append((game, tok.encode_game(game[1], white, black).astype(dtype, copy=False).tobytes()))
        except ValueError as e:
            log.debug("skipped a game as illegal_move: %s", e)
            rejected[Reason.illegal_move.name] += 1
    return encoded


def iter_chunks(path: str, shard_bytes: int, errors: list[dict]) -> Iterator[tuple[bytes, int, int]]:
    """Raw chunks of about shard_bytes, cut before a header line that follows a blank line;
    -> (chunk, partial games, offset of the chunk in the source's decompressed text).

    A broken stream ends the source: the complete games before the break form the last chunk, the partial game
    is counted, and the error (file and byte offset) is appended to `errors`.
    """
    buf = bytearray()
    start = 0  # offset of buf[0] in the source's text
    blocks = sources.iter_blocks(path)
    while True:
        try:
            block = next(blocks)
        except StopIteration:
            if buf.strip():
                yield bytes(buf), 0, start
            return
        except sources.StreamError as e:
            errors.append({"source": path, "offset": e.offset, "damaged_bytes": list(e.span), "error": str(e)})
            log.error("%s", e)
            cut = buf.rfind(b"\n\n[")
            complete, tail = (buf[: cut + 2], buf[cut + 2:]) if cut >= 0 else (b"", buf)
            if normalize.ends_with_result(bytes(tail)):  # the break fell right after a finished game
                complete, tail = buf, b""
            if complete.strip() or tail.strip():
                yield bytes(complete), int(bool(tail.strip())), start
            return
        buf += block
        # Cut at the first game boundary past shard_bytes: chunks do not depend on how the stream was read.
        while len(buf) >= shard_bytes and (cut := buf.find(b"\n\n[", shard_bytes - 2)) >= 0:
            yield bytes(buf[: cut + 2]), 0, start
            del buf[: cut + 2]
            start += cut + 2


def _finished(out_dir: pathlib.Path, number: int, chunk_len: int, crc: int) -> bool:
    try:
        _, meta = shards.load_shard_index(out_dir, number)
    except (FileNotFoundError, OSError, ValueError, KeyError):
        return False
    same_chunk = meta.get("chunk_bytes") == chunk_len and meta.get("chunk_crc32") == crc
    return same_chunk and shards.record_path(out_dir, number).exists()


@dataclasses.dataclass
class _Progress:
    errors: list[dict] = dataclasses.field(default_factory=list)  # broken streams: source, offset, message
    reused: int = 0  # finished shards skipped on this run
    shards: int = 0  # shards this build consists of


def _jobs(cfg: BuildConfig, paths: list[str], out: pathlib.Path, progress: _Progress) -> Iterator[Job]:
    seen = dedup.IdSet()  # every Lichess id met so far, 16 bytes each
    for path in paths:
        for chunk, tail, offset in iter_chunks(path, cfg.shard_bytes, progress.errors):
            ids = _SITE_ID.findall(chunk)
            prior = frozenset(i for i, was in zip(ids, seen.add(dedup.pack_ids(ids)).tolist()) if was)
            crc = zlib.crc32(chunk)
            number = progress.shards
            progress.shards += 1
            if _finished(out, number, len(chunk), crc):
                progress.reused += 1
            else:
                yield Job(number, path, chunk, prior, crc, tail, offset)


def build(cfg: BuildConfig) -> dict:
    """Build (or resume) the shards and write manifest.json; returns the manifest.

    Every input is checked before anything is read or written (data_pipeline.inputs). Logs the plan, a warning
    for each game skipped as damaged, `built ...` (INFO) at the end, and a warning when no game was kept.
    Whatever stops it (an error, Ctrl-C) leaves finished shards valid and no temporary file behind.
    """
    inputs.check_sources(cfg.sources)
    out = pathlib.Path(cfg.out_dir)
    inputs.check_out_dir(out)
    paths = _resolve_sources(cfg)
    _prepare_out_dir(cfg, out)
    log.info("build %s: %d source(s), %s on disk, %d worker(s), shards of %s of PGN text; finished shards are "
             "reused", out, len(paths), _megabytes(sum(os.path.getsize(p) for p in paths)), max(cfg.workers, 1),
             _megabytes(cfg.shard_bytes))
    progress = _Progress()
    t0 = time.time()
    _run_jobs(cfg, paths, out, progress)
    metas = [shards.load_shard_index(out, n)[1] for n in range(progress.shards)]
    inputs.check_games_found(paths, metas, progress.errors)
    manifest = write_manifest(cfg, out, metas, progress.errors)
    log.info("built %s: %s games, %s tokens in %.1fs (%d finished shards reused)",
             out, manifest["games"], manifest["tokens"], time.time() - t0, progress.reused)
    if manifest["counts"]["kept"] == 0:
        log.warning("no game was kept from %s; see `transcend data stats %s` for the reasons", list(cfg.sources), out)
    return manifest


def _megabytes(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MB"


def _resolve_sources(cfg: BuildConfig) -> list[str]:
    """The local path of every source (downloading lichess:YYYY-MM months, which come back verified)."""
    return [sources.resolve_source(s, cfg.cache_dir) for s in cfg.sources]


def _prepare_out_dir(cfg: BuildConfig, out: pathlib.Path) -> None:
    """Create the output directory, refuse one built with other settings, record ours, drop stale temporaries."""
    out.mkdir(parents=True, exist_ok=True)
    settings_path = out / "build_settings.json"
    if settings_path.exists() and json.loads(settings_path.read_text()) != cfg.settings():
        raise ValueError(f"{out} was built with other settings ({settings_path}); use a new --out directory "
                         f"(or delete {out}) to build with these sources/filters")
    safeio.write_json_atomic(settings_path, cfg.settings())
    _remove_temporaries(out)  # leftovers of a killed build: never renamed, never used


def _remove_temporaries(out: pathlib.Path) -> None:
    for stale in out.glob("*.tmp"):
        stale.unlink(missing_ok=True)


def _run_jobs(cfg: BuildConfig, paths: list[str], out: pathlib.Path, progress: _Progress) -> None:
    """Every unfinished shard through process_chunk (in cfg.workers processes); on any failure, Ctrl-C included,
    the workers are stopped and their temporaries removed before the exception goes on."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    args = (str(out), cfg.filters, cfg.val_fraction, cfg.tokenizer)
    # Warnings print above the progress bar, not into its line.
    with logging_redirect_tqdm([logging.getLogger("data_pipeline")]), \
            tqdm(unit=" games", desc=f"build {out.name}", smoothing=0.1) as bar:
        def done(meta: dict) -> None:
            bar.update(meta["raw_games"])
            _report_damaged(meta)

        try:
            pool.run_in_order(process_chunk, _jobs(cfg, paths, out, progress), args, cfg.workers, done)
        except BaseException:
            _remove_temporaries(out)
            raise


def _report_damaged(meta: dict) -> None:
    """A warning for each game of the shard skipped for a control byte (the first MAX_REPORTED of them)."""
    for d in meta.get("damaged", []):
        where = "of the decompressed text" if d["source"].endswith((".zst", ".gz", ".bz2")) else "of the file"
        game = f"game {d['game_id']}" if d["game_id"] else "a game (no Lichess id)"
        log.warning("%s: skipped %s: control byte %s at byte %d %s (counted as control_byte)",
                    d["source"], game, d["byte"], d["offset"], where)
    unnamed = meta["rejected"].get(Reason.control_byte.name, 0) - len(meta.get("damaged", []))
    if unnamed > 0:
        log.warning("%s: skipped %d more game(s) with control bytes in shard %d", meta["source"], unnamed, meta["shard"])


def write_manifest(cfg: BuildConfig, out: pathlib.Path, metas: list[dict], errors: list[dict]) -> dict:
    """Sum the shards' counts (`metas`, one per shard in order) and index figures into manifest.json (written last,
    atomically); returns it as read back."""
    n_shards = len(metas)
    numbers = list(range(n_shards))
    extra = sorted(p.name for p in out.glob("shard-*.index.npz") if int(p.name.split("-")[1].split(".")[0]) >= n_shards)
    if extra:  # e.g. an earlier build of a source that has since been cut short
        log.warning("%s holds %d shard(s) past this build's %d (%s...); they are not part of the manifest",
                    out, len(extra), n_shards, extra[0])
    rejected: collections.Counter = collections.Counter()
    raw = garbage = event_unknown = 0
    for meta in metas:
        rejected.update(meta["rejected"])
        raw += meta["raw_games"]
        garbage += meta["garbage_paragraphs"]
        event_unknown += meta["event_unknown"]
    tok = get_tokenizer(cfg.tokenizer)
    manifest = {
        "format_version": 1,
        "sources": list(cfg.sources),
        "filters": dataclasses.asdict(cfg.filters),
        "tokenizer": tok.name,
        **({"vocab_order": tok.vocab_order} if isinstance(tok, MoveTokenizer) else {"vocab": tok.vocab}),
        "vocab_size": tok.vocab_size,
        "token_dtype": shards.dtype_name(tok.token_dtype),
        "record_format": shards.record_format(shards.dtype_name(tok.token_dtype)),
        "time_controls": list(filters.TIME_CONTROLS),
        "results": list(filters.RESULT_NAMES),
        "split_rule": split_rule(cfg.val_fraction),
        "event_rule": filters.event_rule(cfg.filters),
        "val_fraction": cfg.val_fraction,
        "shards": len(numbers),
        "counts": {"raw_games": raw, "kept": raw - sum(rejected.values()), "rejected": dict(sorted(rejected.items())),
                   "garbage_paragraphs": garbage, "event_unknown": event_unknown},
        "errors": errors,
    }
    manifest.update(shards.summarize(shards.load_index(out, numbers)))
    safeio.write_json_atomic(out / shards.MANIFEST, manifest)
    return shards.read_manifest(out)

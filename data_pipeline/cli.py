"""`transcend data build|stats|dump`: build rating-indexed token shards from PGN, and look inside them."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator

from data_pipeline import build as build_mod
from data_pipeline import filters, shards
from data_pipeline.tokenizer import TOKENIZER_NAMES, get_tokenizer


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="transcend data", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="PGN files or Lichess months -> ArrayRecord shards + manifest.json (resumable)")
    b.add_argument("--source", nargs="+", required=True, action="extend",
                   help="PGN file (.pgn, .pgn.zst, .pgn.gz, .pgn.bz2) or lichess:YYYY-MM (downloaded, SHA-256 checked)")
    b.add_argument("--out", required=True,
                   help="output directory: new, empty, or an earlier build's (rerun the same command to resume)")
    b.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="worker processes (default: all cores, here %(default)s)")
    b.add_argument("--shard-mb", type=float, default=64, help="raw PGN megabytes per shard (default: %(default)s)")
    b.add_argument("--val-fraction", type=float, default=0.01,
                   help="share of games in validation, by game-id hash, in [0, 1) (default: %(default)s)")
    b.add_argument("--tokenizer", default="char32", choices=TOKENIZER_NAMES,
                   help="char32: the paper's 32 characters; move: one token per UCI move (uint16 records); move+elo: "
                        "move, after each player's 100-Elo rating bucket; board: move, each move after its position (64 squares "
                        "and the side to move: 66 tokens a ply, only the moves trained on); board+elo: board with the "
                        "rating buckets (default: %(default)s)")
    b.add_argument("--cache-dir", default="cache/lichess", help="where lichess:YYYY-MM downloads go (default: %(default)s)")
    b.add_argument("--time-control", nargs="+", default=[], choices=filters.TIME_CONTROLS[1:], metavar="CLASS",
                   help=f"keep only these Lichess speed classes: {', '.join(filters.TIME_CONTROLS[1:])} "
                        f"(from TimeControl, else the Event name; default: all)")
    events = b.add_mutually_exclusive_group()
    events.add_argument("--include-casual", action="store_true",
                        help="keep games whose Event says Casual or Unrated too (default: skip them, counted as "
                             "`casual`: the paper trained on Lichess's rated games only)")
    events.add_argument("--rated-only", action="store_true",
                        help="keep only games whose Event says Rated (default: a game whose Event is missing, \"?\" or "
                             "says neither is kept and counted in the manifest as counts.event_unknown)")
    b.add_argument("--exclude-bots", action="store_true", help="drop games with a BOT title on either side")
    b.add_argument("--min-plies", type=int, default=0, help="drop games shorter than this many half-moves (default: %(default)s)")
    b.add_argument("--termination", nargs="+", default=[], help="keep only these Termination values, e.g. Normal (default: all)")
    b.add_argument("--validate", action="store_true", help="replay every game with python-chess; reject illegal ones (slow)")

    s = sub.add_parser("stats", help="print a built directory's manifest figures")
    s.add_argument("data_dir")
    s.add_argument("--json", action="store_true", help="print the whole manifest as JSON")

    d = sub.add_parser("dump", help="print decoded transcripts, one game a line (the same text for every tokenizer)")
    d.add_argument("data_dir")
    d.add_argument("--split", choices=shards.SPLITS, default=None, help="only this split (default: both)")
    d.add_argument("--max-rating", type=int, default=None, help="only games with max(WhiteElo, BlackElo) <= this (default: all)")
    d.add_argument("--limit", type=int, default=None, help="stop after this many games (default: all)")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    with _log_to_stderr():
        if args.command == "build":
            return _build(args)
        return _stats(args) if args.command == "stats" else _dump(args)


class _LevelPrefix(logging.Formatter):
    """`built ...` for INFO; `warning: ...` and `error: ...` above it: the lines `transcend data` has always shown."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


@contextlib.contextmanager
def _log_to_stderr() -> Iterator[None]:
    """Show the `data_pipeline` loggers' INFO and above on stderr while a command runs, and only there.

    Attached for the command's duration (not once per process) so that each call writes to the sys.stderr of
    its time, and a caller's own logging setup is left as it was.
    """
    logger = logging.getLogger("data_pipeline")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LevelPrefix("%(message)s"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the lines are shown here; a root handler would print them twice
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _build(args: argparse.Namespace) -> int:
    spec = filters.FilterSpec(time_controls=tuple(args.time_control), include_casual=args.include_casual,
                              rated_only=args.rated_only, exclude_bots=args.exclude_bots, min_plies=args.min_plies,
                              terminations=tuple(args.termination), validate=args.validate)
    try:
        cfg = build_mod.BuildConfig(sources=tuple(args.source), out_dir=args.out, filters=spec, workers=args.workers,
                                    shard_bytes=int(args.shard_mb * (1 << 20)), val_fraction=args.val_fraction,
                                    tokenizer=args.tokenizer, cache_dir=args.cache_dir)
        manifest = build_mod.build(cfg)
    except (FileNotFoundError, ValueError, ConnectionError) as e:
        print(f"transcend data build: {e}", file=sys.stderr)
        return 2
    if manifest["errors"]:
        print(f"transcend data build: {len(manifest['errors'])} source(s) broke off early (see manifest 'errors'); "
              f"the shards written are valid", file=sys.stderr)
        return 1
    if manifest["counts"]["kept"] == 0:  # an empty training set is never what was meant
        print(f"transcend data build: no game of {', '.join(args.source)} was kept; `transcend data stats {args.out}` "
              "lists why each was skipped (check the filters, e.g. --include-casual, --min-plies)", file=sys.stderr)
        return 1
    return 0


def _stats(args: argparse.Namespace) -> int:
    m = shards.read_manifest(args.data_dir)
    if args.json:
        print(json.dumps(m, indent=2))
        return 0
    c = m["counts"]
    tokens = f" ({m['vocab_size']} ids, {m['token_dtype']} records)" if "vocab_size" in m else ""  # older manifests: char32
    print(f"{args.data_dir}: {m['shards']} shards, tokenizer {m['tokenizer']}{tokens}")
    print(f"sources: {', '.join(m['sources'])}")
    print(f"games read {c['raw_games']:,}, kept {c['kept']:,}; train {m['games']['train']:,} "
          f"({m['tokens']['train']:,} tokens), validation {m['games']['validation']:,} ({m['tokens']['validation']:,} tokens)")
    for reason, n in c["rejected"].items():
        print(f"  skipped {reason}: {n:,}")
    if c["event_unknown"]:
        print(f"  kept with an Event that says neither Rated nor Casual (missing or \"?\"): {c['event_unknown']:,}")
    if c["garbage_paragraphs"]:
        print(f"  text outside any game (paragraphs): {c['garbage_paragraphs']:,}")
    print(f"ratings {m['rating_min']}..{m['rating_max']}; games with both players <= cutoff:")
    print("  " + "  ".join(f"{k}:{v:,}" for k, v in m["counts_per_cutoff"].items()))
    for e in m["errors"]:
        print(f"error: {e['error']}")
    return 0


def _dump(args: argparse.Namespace) -> int:
    from array_record.python import array_record_module

    m = shards.read_manifest(args.data_dir)
    tok, dtype = get_tokenizer(m["tokenizer"]), shards.token_dtype(m)
    printed = 0
    for n in range(m["shards"]):
        idx, _ = shards.load_shard_index(args.data_dir, n)
        sel = idx["split"] >= 0
        if args.split is not None:
            sel &= idx["split"] == shards.SPLITS.index(args.split)
        if args.max_rating is not None:
            sel &= (idx["white_elo"] <= args.max_rating) & (idx["black_elo"] <= args.max_rating)
        rows = [int(i) for i in sel.nonzero()[0]]
        if args.limit is not None:
            rows = rows[: args.limit - printed]
        if not rows:
            continue
        reader = array_record_module.ArrayRecordReader(str(shards.record_path(args.data_dir, n)))
        for rec in reader.read(rows):
            print(tok.decode_transcript(shards.decode_record(rec, dtype)[1]))
        reader.close()
        printed += len(rows)
        if args.limit is not None and printed >= args.limit:
            break
    return 0

"""The benchmarks' generated input: random legal games in Lichess's format that the build keeps whole."""
from data_pipeline import build as build_mod
from data_pipeline import filters, read_manifest
from experiments.bench import ingest


def test_random_pgn_games_are_legal_and_every_copy_has_fresh_ids(tmp_path):
    sample = ingest.Sample(ingest.random_pgn(40, seed=3), ingest.SYNTHETIC, [ingest.synthetic_label(40)],
                           fresh_ids_per_copy=True)
    assert ingest.random_pgn(40, seed=3) == sample.text  # seeded: the same input on every machine
    src = tmp_path / "in.pgn"
    src.write_bytes(sample.copy(0) + sample.copy(1) + sample.copy(0))  # the third is a repeat of the first
    build_mod.build(build_mod.BuildConfig(sources=(str(src),), out_dir=str(tmp_path / "out"),
                                          filters=filters.FilterSpec(validate=True)))
    m = read_manifest(tmp_path / "out")
    assert m["counts"]["raw_games"] == 120 and m["counts"]["kept"] == 80
    assert m["counts"]["rejected"] == {"duplicate": 40}  # python-chess replays every game: all legal


def test_without_a_source_the_shared_sample_or_else_synthetic_is_used(tmp_path):
    paths = ingest.source_paths(None)
    assert paths is None or paths == sorted(ingest.SHARED.glob("*.pgn.zst"))
    assert ingest.source_paths([ingest.SYNTHETIC]) is None
    (tmp_path / "a.pgn.zst").write_bytes(b"")
    assert ingest.source_paths([str(tmp_path)]) == [tmp_path / "a.pgn.zst"]

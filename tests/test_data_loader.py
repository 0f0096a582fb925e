"""Loader: rating selection, packing, determinism, exact resume through Orbax, per-process sharding.
(The paper's packing rule itself: test_data_paper_packing.py.)"""
import collections

import numpy as np
import pytest
from data_fixtures.built import random_shards
from data_fixtures.resume import batches_across_a_restore

from data_pipeline import LoaderSpec, get_tokenizer, loader, make_dataset, read_manifest
from data_pipeline import build as build_mod

TOK = get_tokenizer("char32")


@pytest.fixture(scope="module")
def shards_dir(tmp_path_factory):
    return random_shards(tmp_path_factory.mktemp("loader"), 240, seed=11, max_plies=30, shard_bytes=20_000,
                         val_fraction=0.1)


def _games(truth, split_of, rule=lambda t: True):
    return collections.Counter(t["transcript"] for t in truth if split_of(t) and rule(t))


def _train(t):
    return not build_mod.is_validation(t["site"][-8:].encode(), 0.1)


def _take(spec, n, pi=0, pc=1):
    it = iter(make_dataset(spec, pi, pc))
    return [next(it) for _ in range(n)]


def _games_in_rows(rows_LxT: list[np.ndarray]) -> list[str]:
    """Decode rows of `pad` batches -> the games they hold (each starts with `;`, padding dropped)."""
    out = []
    for row in rows_LxT:
        text = TOK.decode(row).rstrip(" ")
        out += [g for g in text.split(";") if g]
    return out


def test_selection_matches_manifest_and_rules(shards_dir):
    data_dir, truth = shards_dir
    m = read_manifest(data_dir)
    sel = loader.select_games(LoaderSpec(data_dir, cutoff=1500))
    assert sel["shard"].size == sum(_games(truth, _train, lambda t: max(t["white"], t["black"]) <= 1500).values())
    assert m["counts_per_cutoff_by_split"]["train"]["1500"] == sel["shard"].size
    band = loader.select_games(LoaderSpec(data_dir, rule="band", band=(1000, 2000), split="validation"))
    assert band["shard"].size == sum(_games(truth, lambda t: not _train(t),
                                            lambda t: 1000 <= t["white"] <= 2000 and 1000 <= t["black"] <= 2000).values())
    with pytest.raises(ValueError, match="band"):
        LoaderSpec(data_dir, rule="band")


def test_concat_rows_are_the_paper_stream_and_cover_the_selection(shards_dir):
    data_dir, truth = shards_dir
    spec = LoaderSpec(data_dir, cutoff=1800, seq_len=64, batch_size=2, num_epochs=1)
    batches = list(make_dataset(spec, 0, 1))
    b = batches[0]
    assert b["inputs"].shape == (2, 64) and b["inputs"].dtype == np.int32 and b["loss_mask"].dtype == np.float32
    assert (b["loss_mask"] == 1).all()
    rows = [r for bt in batches for r in zip(bt["inputs"], bt["targets"])]
    for (x0, y0), (x1, _) in zip(rows, rows[1:]):
        assert (x0[1:] == y0[:-1]).all() and y0[-1] == x1[0]  # targets are inputs shifted; rows continue the stream
    stream = TOK.decode(np.concatenate([x for x, _ in rows] + [rows[-1][1][-1:]]))
    games = stream.split(";")[1:-1]  # the last game may be cut by the dropped remainder
    expected = _games(truth, _train, lambda t: max(t["white"], t["black"]) <= 1800)
    assert collections.Counter(games) <= expected and sum(expected.values()) - len(games) <= 2 * 64 // 10 + 2
    assert stream.startswith(";1.")


def test_pad_packing_never_splits_a_game(shards_dir):
    data_dir, truth = shards_dir
    spec = LoaderSpec(data_dir, seq_len=256, batch_size=4, packing="pad", num_epochs=1)
    batches = list(make_dataset(spec, 0, 1))
    rows = [np.concatenate([x[:1], y]) for b in batches for x, y in zip(b["inputs"], b["targets"])]
    games = collections.Counter(_games_in_rows(rows))
    expected = _games(truth, _train)
    assert games <= expected and sum(expected.values()) - sum(games.values()) < 4 * 30  # at most the dropped last batch
    for b in batches:
        for _x, y, m in zip(b["inputs"], b["targets"], b["loss_mask"]):
            real = np.flatnonzero(m)
            assert real.size and (m[: real[-1] + 1] == 1).all() and (m[real[-1] + 1:] == 0).all()
            assert (y[real[-1] + 1:] == loader.PAD_ID).all()


def test_deterministic_and_epochs_reshuffled(shards_dir):
    data_dir, truth = shards_dir
    spec = LoaderSpec(data_dir, seq_len=512, batch_size=1, packing="pad", num_epochs=2, seed=3)
    a, b = _take(spec, 6), _take(spec, 6)
    assert all((x[k] == y[k]).all() for x, y in zip(a, b) for k in x)
    other = _take(LoaderSpec(data_dir, seq_len=512, batch_size=1, packing="pad", num_epochs=2, seed=4), 6)
    assert any((x["inputs"] != y["inputs"]).any() for x, y in zip(a, other))
    rows = [np.concatenate([b["inputs"][0][:1], b["targets"][0]]) for b in make_dataset(spec, 0, 1)]
    games = _games_in_rows(rows)
    n = sum(_games(truth, _train).values())
    first, second = games[: n], games[n:]
    assert collections.Counter(first) == _games(truth, _train)  # every game once per epoch
    assert first != second[: len(first)]  # a fresh order in epoch 2


@pytest.mark.parametrize("packing", loader.PACKINGS)
def test_resume_from_orbax_checkpoint_gives_the_same_batches(shards_dir, tmp_path, packing):
    data_dir, _ = shards_dir
    spec = LoaderSpec(data_dir, seq_len=96, batch_size=4, packing=packing, seed=1)
    # 12 batches after a checkpoint at batch 7: they cross blocks of games and epoch boundaries
    expected, got = batches_across_a_restore(spec, tmp_path / "ckpt", after=7, n=12)
    for e, g in zip(expected, got):
        for k in e:
            np.testing.assert_array_equal(e[k], g[k])


@pytest.mark.parametrize("packing", ["concat", "paper"])
def test_state_roundtrip_across_many_positions(shards_dir, packing):
    data_dir, _ = shards_dir
    spec = LoaderSpec(data_dir, seq_len=200, batch_size=2, seed=2, packing=packing)
    it = iter(make_dataset(spec, 0, 1))
    for step in range(60):  # every third position over 60 batches (several blocks of games, the epoch end)
        state = it.get_state()
        want = next(it)
        if step % 3:
            continue
        other = iter(make_dataset(spec, 0, 1))
        other.set_state(state)
        got = next(other)
        assert all((want[k] == got[k]).all() for k in want), step


def test_processes_read_disjoint_games_that_cover_the_data(shards_dir):
    data_dir, truth = shards_dir
    pc = 3
    spec = LoaderSpec(data_dir, seq_len=512, batch_size=pc, packing="pad", num_epochs=1, seed=5)
    per_process = []
    for pi in range(pc):
        rows = []
        for b in make_dataset(spec, pi, pc):
            assert b["inputs"].shape == (1, 512)
            rows.append(np.concatenate([b["inputs"][0][:1], b["targets"][0]]))
        per_process.append(collections.Counter(_games_in_rows(rows)))
    total = sum(per_process, collections.Counter())
    assert sum(total.values()) == sum(sum(c.values()) for c in per_process)
    for i in range(pc):
        for j in range(i + 1, pc):
            assert not (per_process[i] & per_process[j]) or per_process[i] & per_process[j] <= (
                collections.Counter({g: n - 1 for g, n in _games(truth, _train).items() if n > 1}))
    expected = _games(truth, _train)
    assert total <= expected and sum(expected.values()) - sum(total.values()) < pc  # only the remainder is left out
    with pytest.raises(ValueError, match="divisible"):
        make_dataset(LoaderSpec(data_dir, batch_size=4), 0, 3)


@pytest.mark.slow
def test_multiprocess_prefetch_is_deterministic_and_resumable(shards_dir):
    data_dir, _ = shards_dir
    spec = LoaderSpec(data_dir, seq_len=128, batch_size=4, seed=6, worker_count=1)
    it = iter(make_dataset(spec, 0, 1))
    first = [next(it) for _ in range(4)]
    state = it.get_state()
    expected = [next(it) for _ in range(3)]
    again = iter(make_dataset(spec, 0, 1))
    assert all((a[k] == b[k]).all() for a, b in zip(first, [next(again) for _ in range(4)]) for k in a)
    resumed = iter(make_dataset(spec, 0, 1))
    resumed.set_state(state)
    got = [next(resumed) for _ in range(3)]
    assert all((a[k] == b[k]).all() for a, b in zip(expected, got) for k in a)
    for i in (it, again, resumed):
        i.close()

"""Packing "paper": the loader's blocks equal the paper's rule (chess_research/data/zstd_process.py
StreamingBlockPGNDataset.read_game_block, transcribed below) over our stream of games, including games longer
than a block, a game that fits a block exactly, epoch ends, and a kill-and-resume through Orbax."""
import numpy as np
import pytest
from data_fixtures.built import random_shards
from data_fixtures.resume import batches_across_a_restore

from data_pipeline import LoaderSpec, get_tokenizer, loader, make_dataset

TOK = get_tokenizer("char32")


@pytest.fixture(scope="module")
def long_games_dir(tmp_path_factory):
    """Random games of 1..400 plies: many longer than the paper's 1024-character block."""
    data_dir, _ = random_shards(tmp_path_factory.mktemp("paper"), 90, seed=21, max_plies=400, shard_bytes=40_000,
                                val_fraction=0.1)
    return data_dir


def paper_blocks(games: list[str], block_size: int) -> list[str]:
    """read_game_block (zstd_process.py lines 204-229) on strings that already start with `;`, ending with the
    stream (the paper's stream never ends)."""
    ds = iter(games)
    game = None
    full_block = ""
    out = []
    while True:
        if game is not None:  # use the previous game that was cut off in the last block
            full_block += game
            game = None
        while len(full_block) < block_size:
            game = next(ds, None)
            if game is None:
                return out
            full_block += game
        out.append(full_block[:block_size])
        full_block = ""


def _stream(data_dir: str, seed: int, epochs: int) -> list[str]:
    """Our game stream: the selected training games, shuffled per epoch, as the loader reads them (one process)."""
    sel = loader.select_games(LoaderSpec(data_dir))
    blocks = loader.GameBlocks(loader.GameSource(data_dir, sel["shard"], sel["record"]), seed, 0, 1, epochs)
    return [TOK.decode(g) for i in range(len(blocks)) for g in blocks[i]]


def _blocks(spec: LoaderSpec, limit: int) -> list[str]:
    """The loader's rows as text, at most `limit` batches: inputs plus the last target (the paper's block of
    seq_len + 1 characters)."""
    out = []
    for _, b in zip(range(limit), make_dataset(spec, 0, 1)):
        assert b["inputs"].shape == b["targets"].shape == b["loss_mask"].shape == (spec.batch_size, spec.seq_len)
        assert (b["loss_mask"] == 1).all() and (b["inputs"][:, 1:] == b["targets"][:, :-1]).all()
        out += [TOK.decode(np.concatenate([x, y[-1:]])) for x, y in zip(b["inputs"], b["targets"])]
    return out


def _last_game(block: str) -> str:
    return block[block.rindex(";"):]


def test_paper_blocks_of_1024_characters_equal_the_papers_rule(long_games_dir):
    spec = LoaderSpec(long_games_dir, seq_len=1023, batch_size=2, packing="paper", seed=4, num_epochs=2)
    games = _stream(long_games_dir, seed=4, epochs=2)
    assert sum(len(g) > 1024 for g in games) > 10 and sum(len(g) < 300 for g in games) > 10
    expected = paper_blocks(games, 1024)
    got = _blocks(spec, len(expected) // 2 + 1)
    assert got == expected[: len(got)] and len(expected) - len(got) < spec.batch_size  # only the last partial batch
    assert all(b.startswith(";1.") and len(b) == 1024 for b in got)
    restarts = lone = 0
    for block, after in zip(got, got[1:]):
        if block.count(";") > 1:  # the game cut at the end starts the next block from its beginning
            assert after.startswith(_last_game(block))
            restarts += 1
        elif after == block:  # a fresh game longer than the block: the same block again, then a fresh game
            lone += 1
    assert restarts > 20 and lone > 5


def test_a_game_that_fits_the_block_exactly_starts_the_next_block_too(long_games_dir):
    games = _stream(long_games_dir, seed=0, epochs=1)
    whole = set(games)
    for seq_len in range(30, 400):  # the first row size at which a block ends exactly at a game's end
        expected = paper_blocks(games, seq_len + 1)
        exact = [k for k, b in enumerate(expected[:-1]) if b.count(";") > 1 and _last_game(b) in whole]
        if exact:
            break
    assert exact, "no block length in 31..400 ends a block at a game's end on this stream"
    got = _blocks(LoaderSpec(long_games_dir, seq_len=seq_len, batch_size=1, packing="paper", num_epochs=1),
                  len(expected) + 1)
    assert got == expected
    k = exact[0]
    assert got[k + 1].startswith(_last_game(got[k]))


def test_paper_packing_resumes_exactly_through_orbax(long_games_dir, tmp_path):
    spec = LoaderSpec(long_games_dir, seq_len=255, batch_size=3, packing="paper", seed=2)
    # 80 batches after a checkpoint at batch 5: past the end of the epoch (about 65 rows of 256 tokens an epoch)
    expected, got = batches_across_a_restore(spec, tmp_path / "ckpt", after=5, n=80)
    for e, g in zip(expected, got):
        for k in e:
            np.testing.assert_array_equal(e[k], g[k])


def test_paper_state_roundtrip_at_every_position_including_pending_restarts(long_games_dir):
    spec = LoaderSpec(long_games_dir, seq_len=127, batch_size=1, packing="paper", seed=3)
    it = iter(make_dataset(spec, 0, 1))
    pending = 0
    for step in range(60):
        state = it.get_state()
        pending += state["restart"]
        want = next(it)
        other = iter(make_dataset(spec, 0, 1))
        other.set_state(state)
        got = next(other)
        assert all((want[k] == got[k]).all() for k in want), step
    assert 0 < pending < 60  # both kinds of state were restored


def test_unknown_packing_is_refused_naming_the_choices(long_games_dir):
    with pytest.raises(ValueError, match="packing must be one of concat, paper, pad, got 'paperr'"):
        LoaderSpec(long_games_dir, packing="paperr")

"""The build-wide id set agrees with a Python set, through collisions and growth."""
import random

import numpy as np
from data_fixtures.pgn import LICHESS_ID_CHARS

from data_pipeline.dedup import IdSet, pack_ids


def test_idset_matches_python_set_across_batches_and_growth():
    rng = random.Random(0)
    pool = ["".join(rng.choice(LICHESS_ID_CHARS) for _ in range(8)).encode() for _ in range(5000)]
    ids, ref = IdSet(capacity_log2=4), set()  # tiny table: many collisions and several doublings
    for _ in range(40):
        batch = [rng.choice(pool) for _ in range(rng.randint(0, 400))]
        expected = [b in ref for b in batch]
        assert ids.add(pack_ids(batch)).tolist() == expected
        ref.update(batch)
        assert len(ids) == len(ref)
    assert ids.add(pack_ids(pool)).tolist() == [b in ref for b in pool]
    assert len(ids) == len(set(pool))


def test_pack_ids_is_injective():
    a, b = pack_ids([b"abcdefgh", b"abcdefgi", b"Abcdefgh"]), pack_ids([b"abcdefgh"])
    assert len(set(a.tolist())) == 3 and a[0] == b[0] and a.dtype == np.uint64

"""A compact set of Lichess game ids for build-wide deduplication.

A month of Lichess holds about 100M games; a Python set of their ids would take ~8 GB in the main process.
Ids are 8 ASCII characters, so each packs into one uint64; this open-addressing table (linear probing,
Fibonacci hashing, load <= 1/2) stores them in 16 bytes per id and inserts a whole chunk of ids with NumPy.
"""
from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = np.uint64(0)  # no packed id is 0: ids are printable ASCII


def pack_ids(ids: list[bytes]) -> np.ndarray:
    """8-byte ids -> uint64 keys (big-endian, so distinct ids give distinct keys)."""
    if not ids:
        return np.zeros(0, np.uint64)
    return np.frombuffer(b"".join(ids), dtype=">u8").astype(np.uint64)


class IdSet:
    def __init__(self, capacity_log2: int = 16) -> None:
        self._bits = capacity_log2
        self._table = np.zeros(1 << capacity_log2, np.uint64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * _GOLDEN) >> np.uint64(64 - self._bits)).astype(np.int64)

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Insert keys; returns, per key, whether it was already in the set before this call."""
        uniq, inverse = np.unique(keys.astype(np.uint64), return_inverse=True)
        while 2 * (self._size + uniq.size) > self._table.size:
            self._grow()
        return self._insert(uniq)[inverse]

    def _grow(self) -> None:
        old = self._table[self._table != _EMPTY]
        self._bits += 1
        self._table = np.zeros(1 << self._bits, np.uint64)
        self._size = 0
        self._insert(old)

    def _insert(self, keys: np.ndarray) -> np.ndarray:
        """keys are distinct. Probe all of them in lock-step; where several claim one empty slot, the first wins
        and the others probe on."""
        present = np.zeros(keys.size, bool)
        pending = np.arange(keys.size)
        slot = self._slots(keys)
        mask = self._table.size - 1
        while pending.size:
            at = self._table[slot[pending]]
            hit = at == keys[pending]
            present[pending[hit]] = True
            empty = at == _EMPTY
            claim = pending[empty]
            _, first = np.unique(slot[claim], return_index=True)
            winners = claim[first]
            self._table[slot[winners]] = keys[winners]
            self._size += winners.size
            done = hit.copy()
            done[np.flatnonzero(empty)[first]] = True
            pending = pending[~done]
            moved = pending[self._table[slot[pending]] != keys[pending]]  # losers and occupied slots probe on
            slot[moved] = (slot[moved] + 1) & mask
        return present

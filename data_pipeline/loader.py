"""Training batches from shards: a Grain pipeline over the games a rating rule selects.

    GameBlocks (a MapDataset over the selected games: a fresh seeded permutation each epoch, this process's
    share of it, in blocks of games read with one ArrayRecord call) -> prefetch threads
    -> pack into rows of seq_len + 1 tokens -> batch -> loss_mask times the tokenizer's `trains_on`
    [-> multiprocessing prefetch]

Every game's tokens start with the tokenizer's game start (`;` in char32); records hold uint8 or uint16 ids, as the
manifest's token_dtype says, and rows are int32 either way. A row is L + 1 tokens (L = seq_len): inputs are its
first L, targets its last L.
- "concat": the games joined and cut into consecutive rows; row k covers stream tokens [k*L, k*L + L], so every
  token is a target once, and rows start mid-game.
- "paper": the paper's blocks (chess_research/data/zstd_process.py): every row starts at a game start; games are
  appended until the row is full, the last one cut there; that game starts the next row again from its beginning,
  unless it alone filled its row after such a restart. With L = 1023 these are the paper's 1024-character blocks.
- "pad": never splits a game: whole games fill a row, the rest is padding (id 0) with loss_mask 0; a game longer
  than a row keeps its first L + 1 tokens.
In every packing the loss_mask is then multiplied by the manifest tokenizer's `trains_on(targets)` weights where it
has them: the board tokenizers' position tokens are inputs only (data_pipeline.board_tokenizer).
The iterator state is {parent state before the current block of games, game, offset} (and, for "paper", whether
the game under the cursor is a restart), so restoring it gives exactly the batches the saved run would have seen:

    it = iter(make_dataset(spec))
    mngr.save(step, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(it), ...))
    it = iter(make_dataset(spec))   # in the resumed run
    mngr.restore(step, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(it), ...))

(`it.get_state()` / `it.set_state(state)` are the same thing without Orbax.)
"""
from __future__ import annotations

import dataclasses
import sys
import threading
from typing import Any

import grain
import numpy as np

from data_pipeline import shards
from data_pipeline.tokenizer import Tokenizer, get_tokenizer

GAMES_PER_READ = 256  # games fetched per ArrayRecord call: batched reads cost a fraction of single ones
PAD_ID = 0
PACKINGS = ("concat", "paper", "pad")


@dataclasses.dataclass(frozen=True)
class LoaderSpec:
    data_dir: str
    split: str = "train"
    rule: str = "max"  # "max": max(WhiteElo, BlackElo) <= cutoff (None: all); "band": both ratings in [lo, hi]
    cutoff: int | None = None
    band: tuple[int, int] | None = None
    seq_len: int = 1024
    batch_size: int = 8  # global; each process yields batch_size // process_count rows
    packing: str = "concat"  # one of PACKINGS: "concat" (consecutive cuts), "paper" (blocks at game starts), "pad"
    seed: int = 0
    num_epochs: int | None = None  # None: repeat forever, reshuffled each epoch
    worker_count: int = 0  # >0: Grain multiprocessing prefetch (output then depends on the worker count)

    def __post_init__(self) -> None:
        if self.split not in shards.SPLITS:
            raise ValueError(f"split must be one of {shards.SPLITS}, got {self.split!r}")
        if self.rule not in ("max", "band"):
            raise ValueError(f"rule must be 'max' or 'band', got {self.rule!r}")
        if self.rule == "band" and (self.band is None or len(self.band) != 2 or self.band[0] > self.band[1]):
            raise ValueError(f"rule 'band' needs band=(lo, hi) with lo <= hi, got {self.band!r}")
        if self.packing not in PACKINGS:
            raise ValueError(f"packing must be one of {', '.join(PACKINGS)}, got {self.packing!r}")
        if self.seq_len < 1 or self.batch_size < 1:
            raise ValueError(f"seq_len and batch_size must be positive, got {self.seq_len}, {self.batch_size}")


def select_games(spec: LoaderSpec) -> dict[str, np.ndarray]:
    """The index rows (shard, record, n_tokens) of the games the split and rating rule select, in shard order."""
    manifest = shards.read_manifest(spec.data_dir)
    index = shards.load_index(spec.data_dir, list(range(manifest["shards"])))
    white, black = index["white_elo"], index["black_elo"]
    sel = index["split"] == shards.SPLITS.index(spec.split)
    if spec.rule == "max" and spec.cutoff is not None:
        sel &= np.maximum(white, black) <= spec.cutoff
    elif spec.rule == "band":
        lo, hi = spec.band
        sel &= (white >= lo) & (white <= hi) & (black >= lo) & (black <= hi)
    return {k: index[k][sel] for k in ("shard", "record", "n_tokens")}


class GameSource:
    """Random-access source of the selected games' token arrays (in the manifest's token dtype); readers open
    lazily in each process."""

    def __init__(self, data_dir: str, shard_ids: np.ndarray, record_ids: np.ndarray) -> None:
        self._data_dir = str(data_dir)
        self._dtype = shards.token_dtype(shards.read_manifest(data_dir))
        self._shard = shard_ids.astype(np.int32)
        self._record = record_ids.astype(np.int64)
        self._readers: dict[int, Any] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._shard.size)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_readers": {}, "_lock": None}  # Grain workers reopen the readers

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def _reader(self, shard: int) -> Any:
        """One reader per shard, shared by the prefetch threads (ArrayRecord readers are thread-safe)."""
        with self._lock:
            reader = self._readers.get(shard)
            if reader is None:
                from array_record.python import array_record_module

                reader = array_record_module.ArrayRecordReader(
                    str(shards.record_path(self._data_dir, shard)), "readahead_buffer_size:0")
                self._readers[shard] = reader
            return reader

    def __getitem__(self, i: int) -> np.ndarray:
        return self.read_many([i])[0]

    def read_many(self, indices: list[int]) -> list[np.ndarray]:
        """The token arrays of the games at these positions, in order: one batched ArrayRecord read per shard."""
        idx = np.asarray(indices, dtype=np.int64)
        out: list[np.ndarray | None] = [None] * len(indices)
        shard_of = self._shard[idx]
        for shard in np.unique(shard_of):
            pos = np.flatnonzero(shard_of == shard)
            records = self._reader(int(shard)).read(self._record[idx[pos]].tolist())
            for p, rec in zip(pos.tolist(), records):
                out[p] = shards.decode_record(rec, self._dtype)[1]
        return out


class GameBlocks(grain.MapDataset):
    """This process's games in blocks of GAMES_PER_READ: element k is block k of the epoch-ordered stream.

    Epoch e is a permutation of all selected games seeded by (seed, e); process p takes every P-th game of it,
    the same count on every process (the remainder, different each epoch, is left out). Blocks never cross an
    epoch. One element per block keeps Grain's per-element cost off the per-game path and lets each block be a
    single batched ArrayRecord read.
    """

    def __init__(self, source: GameSource, seed: int, process_index: int, process_count: int,
                 num_epochs: int | None) -> None:
        super().__init__()
        self._source, self._seed = source, seed
        self._pi, self._pc = process_index, process_count
        self._per_process = len(source) // process_count
        self._blocks_per_epoch = -(-self._per_process // GAMES_PER_READ)
        self._num_epochs = num_epochs
        self._orders: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_orders": {}, "_lock": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def __len__(self) -> int:
        return sys.maxsize if self._num_epochs is None else self._num_epochs * self._blocks_per_epoch

    def __str__(self) -> str:
        return f"GameBlocks(games={len(self._source)}, process={self._pi}/{self._pc}, block={GAMES_PER_READ})"

    def _order(self, epoch: int) -> np.ndarray:
        """The games (positions in the source) this process reads in `epoch`, in order."""
        with self._lock:
            order = self._orders.get(epoch)
            if order is None:
                perm = np.random.default_rng([self._seed, epoch]).permutation(len(self._source))
                # A compact copy of this process's share, so the full permutation is freed.
                share = perm[self._pi: self._per_process * self._pc: self._pc]
                order = share.astype(np.int32 if perm.size < 2**31 else np.int64)
                self._orders = {e: o for e, o in self._orders.items() if e >= epoch - 1}  # prefetch may lag
                self._orders[epoch] = order
            return order

    def __getitem__(self, index: int | slice) -> list[np.ndarray] | grain.MapDataset:
        if isinstance(index, slice):
            return self.slice(index)
        epoch, block = divmod(index, self._blocks_per_epoch)
        positions = self._order(epoch)[block * GAMES_PER_READ: (block + 1) * GAMES_PER_READ]
        return self._source.read_many(positions.tolist())


class _PackIterator(grain.DatasetIterator):
    """Rows of seq_len + 1 tokens from a stream of game blocks; its state is a position in that stream."""

    def __init__(self, parent: grain.DatasetIterator, seq_len: int, packing: str) -> None:
        super().__init__(parent)
        self._L = seq_len
        self._pad = packing == "pad"
        self._block_state = parent.get_state()
        self._block: list[np.ndarray] | None = None
        self._game = 0
        self._offset = 0

    def _current(self) -> np.ndarray:
        """The game under the cursor (loading blocks as needed); StopIteration at the end of the data."""
        while self._block is None or self._game >= len(self._block):
            if self._block is not None:
                self._block_state = self._parent.get_state()
            self._block = next(self._parent)
            self._game = 0
            self._offset = 0
        return self._block[self._game]

    def _advance_game(self) -> None:
        self._game += 1
        self._offset = 0

    def __next__(self) -> dict[str, np.ndarray]:
        row = np.full(self._L + 1, PAD_ID, dtype=np.int32)
        mask = np.zeros(self._L, dtype=np.float32)
        targets = self._fill_whole_games(row) if self._pad else self._fill_stream(row)
        mask[:targets] = 1.0
        return {"inputs": row[:-1], "targets": row[1:], "loss_mask": mask}

    def _fill_stream(self, row: np.ndarray) -> int:
        """Packing "concat": the next L + 1 tokens of the game stream, cutting games anywhere; the row's last token stays
        under the cursor, as the next row's first input. Returns the targets that count (all L)."""
        L, filled = self._L, 0
        while filled < L:
            game = self._current()
            take = min(game.size - self._offset, L - filled)
            row[filled:filled + take] = game[self._offset:self._offset + take]
            filled += take
            self._offset += take
            if self._offset == game.size:
                self._advance_game()
        row[L] = self._current()[self._offset]
        return L

    def _fill_whole_games(self, row: np.ndarray) -> int:
        """Packing "pad": whole games while they fit (a game longer than the row keeps its first L + 1 tokens), the rest
        padding. Returns the targets that count: every real token after the first."""
        L, filled = self._L, 0
        while filled < L + 1:
            try:
                game = self._current()
            except StopIteration:
                if filled:  # the data ended: this last row is only partly filled
                    break
                raise
            n = min(game.size, L + 1)
            if filled and filled + n > L + 1:
                break
            row[filled:filled + n] = game[:n]
            filled += n
            self._advance_game()
        return filled - 1

    def get_state(self) -> dict[str, Any]:
        return {"parent": self._block_state, "game": self._game, "offset": self._offset}

    def set_state(self, state: dict[str, Any]) -> None:
        self._parent.set_state(state["parent"])
        self._block_state = state["parent"]
        self._block = next(self._parent) if state["game"] or state["offset"] else None
        if self._block is None:
            self._game = 0
        else:
            self._game = state["game"]
        self._offset = state["offset"]


class _PaperBlockIterator(_PackIterator):
    """Packing "paper": StreamingBlockPGNDataset.read_game_block of chess_research/data/zstd_process.py (lines 204-229),
    with block_size = L + 1, and train.py get_batch (line 124): inputs block[:-1], targets block[1:].

    The paper keeps the last game appended to a block in `game` and prepends it to the next block (lines 209-214),
    whether it was cut or fit exactly; a restarted game that alone fills its block leaves `game` None (the inner
    loop never runs), so the block after it starts with a fresh game. Here that game stays under the cursor, and
    `restart` says that the next block starts with it.
    """

    def __init__(self, parent: grain.DatasetIterator, seq_len: int) -> None:
        super().__init__(parent, seq_len, "paper")
        self._restart = False

    def __next__(self) -> dict[str, np.ndarray]:
        block = np.empty(self._L + 1, dtype=np.int32)
        filled = 0
        if self._restart:  # the game the last block ended in starts this one
            filled = self._append_game(block, 0)
            self._advance_game()
            self._restart = False
        while filled < block.size:
            filled = self._append_game(block, filled)
            if filled < block.size:
                self._advance_game()
            else:  # the game that filled the block starts the next one
                self._restart = True
        return {"inputs": block[:-1], "targets": block[1:], "loss_mask": np.ones(self._L, dtype=np.float32)}

    def _append_game(self, block: np.ndarray, filled: int) -> int:
        """Copy the game under the cursor into block[filled:], cut at the block's end; returns the new fill."""
        game = self._current()
        take = min(game.size, block.size - filled)
        block[filled:filled + take] = game[:take]
        return filled + take

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "restart": self._restart}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self._restart = bool(state["restart"])


class _PackDataset(grain.IterDataset):
    def __init__(self, parent: grain.IterDataset, seq_len: int, packing: str) -> None:
        super().__init__(parent)
        self._L = seq_len
        self._packing = packing

    def __iter__(self) -> _PackIterator:
        if self._packing == "paper":
            return _PaperBlockIterator(self._parent.__iter__(), self._L)
        return _PackIterator(self._parent.__iter__(), self._L, self._packing)

    def __str__(self) -> str:
        return f"PackGames(seq_len={self._L}, packing={self._packing})"


class _WeighTargets:
    """loss_mask x the tokenizer's `trains_on(targets)` (a picklable Grain map over batches)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tok = tokenizer

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        weights = self._tok.trains_on(batch["targets"])
        return batch if weights is None else {**batch, "loss_mask": batch["loss_mask"] * weights}


def make_dataset(spec: LoaderSpec, process_index: int | None = None,
                 process_count: int | None = None) -> grain.IterDataset:
    """Batches for this process: dicts of `inputs`/`targets` int32 [B, seq_len] and `loss_mask` float32
    [B, seq_len], B = spec.batch_size // process_count (defaults: jax.process_index()/process_count()).
    Processes read disjoint games: each epoch's permutation dealt round-robin. loss_mask is 0 at padding and at
    targets the tokenizer does not train on (`trains_on`)."""
    if process_index is None or process_count is None:
        import jax

        process_index, process_count = jax.process_index(), jax.process_count()
    if spec.batch_size % process_count:
        raise ValueError(f"batch_size {spec.batch_size} is not divisible by process_count {process_count}")
    games = select_games(spec)
    per_process = games["shard"].size // process_count
    if per_process == 0:
        raise ValueError(f"{spec.data_dir}: no {spec.split} games for rule={spec.rule} cutoff={spec.cutoff} "
                         f"band={spec.band} on {process_count} processes; see `transcend data stats {spec.data_dir}`")
    source = GameSource(spec.data_dir, games["shard"], games["record"])
    ds = GameBlocks(source, spec.seed, process_index, process_count, spec.num_epochs)
    read = grain.ReadOptions(num_threads=2, prefetch_buffer_size=4)
    it = _PackDataset(ds.to_iter_dataset(read), spec.seq_len, spec.packing)
    it = it.batch(spec.batch_size // process_count, drop_remainder=True)
    it = it.map(_WeighTargets(get_tokenizer(shards.read_manifest(spec.data_dir).get("tokenizer", "char32"))))
    if spec.worker_count > 0:
        from absl import flags

        if not flags.FLAGS.is_parsed():  # Grain's worker code reads absl flags; callers here use argparse
            flags.FLAGS.mark_as_parsed()
        it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=spec.worker_count))
    return it
